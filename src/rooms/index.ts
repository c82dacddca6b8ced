/**
 * Encrypted group rooms over gossipsub.
 *
 * A room is a name and a 32-byte secret, shared by invite link. Everything public is derived from
 * the secret (src/crypto/room.ts): the gossipsub topic, the DHT key under which members announce
 * themselves, the room id bound into every ciphertext. Members find each other through the DHT
 * (provider records under the derived key), connect, and the gossipsub mesh forms. Every message is
 * sealed (signed by its author inside XChaCha20-Poly1305) and checked by a topic validator before it
 * is accepted or forwarded; what fails is rejected (and scored down by gossipsub), never shown.
 * Messages are stored with their sealed bytes, so members can serve history to whoever joins, comes
 * back or restarts (./sync.ts: everything a member lacks of the others' newest SYNC_MAX_MESSAGES), and
 * every message id is remembered, so a replay is never shown twice. How members find each other is
 * in ./discovery.ts, what comes into a room (validation, rate limit, sync from members) in ./intake.ts.
 */
import { JitteredInterval } from '../timer.js'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromString, toString } from 'uint8arrays'
import { decodeInvite, encodeInvite } from '../crypto/invite.js'
import { createRoomSecret, deriveRoomKeys, sealRoomMessage } from '../crypto/room.js'
import { DuplicateRoomError, InvalidInputError, UnknownRoomError } from '../errors.js'
import { LOCAL_NAME, LOCAL_NAME_RULE } from '../constants.js'
import type { ChatLibp2p } from '../node/types.js'
import type { ChatStore, RoomRecord, StoredRoomMessage } from '../store/index.js'
import { RoomDiscovery } from './discovery.js'
import { RoomIntake, toStored } from './intake.js'
import type { JoinedRoom, RoomDropStats, RoomMessageIn } from './intake.js'
import type { RoomSyncSource } from './sync.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export { ROOM_SYNC_PROTOCOL, SYNC_MAX_MESSAGES, roomSync } from './sync.js'
export type { RoomSync, RoomSyncInit } from './sync.js'
export { ANNOUNCE_INTERVAL_MS, EARLY_DISCOVERY_MS } from './discovery.js'
export { RATE_LIMIT, RATE_WINDOW_MS } from './intake.js'
export type { RoomMessageEvent, RoomDropStats } from './intake.js'

const log = logger('megachat:rooms')

/** How often members ask each other, besides on meeting, whether one has messages the other lacks. */
const RESYNC_INTERVAL_MS = 2 * 60_000
export interface RoomInfo {
  name: string
  /** hex of the public room id */
  roomId: string
  invite: string
  joinedAt: number
  /** members seen online in the room now, including yourself */
  online: number
}

export interface RoomMembersEvent {
  roomId: string
  name: string
  /** members online now, including yourself */
  online: number
}

export interface RoomsInit {
  libp2p: ChatLibp2p
  store: ChatStore
  privateKey: PrivateKey
  /** a room message was accepted (live or synced) */
  onMessage(event: RoomMessageIn): void
  /** the number of members online in a joined room changed (someone subscribed, left or disconnected) */
  onMembers?(event: RoomMembersEvent): void
  signal: AbortSignal
  /** connects to a member the way the chat reaches contacts (relay first, WebRTC in the background) */
  reach(peer: PeerId, addrs?: Multiaddr[]): Promise<unknown>
}

export class Rooms {
  readonly stats: RoomDropStats
  /** the topics gossipsub accepts subscriptions for: exactly the joined rooms' */
  readonly allowedTopics: Set<string>
  private readonly init: RoomsInit
  private readonly byId = new Map<string, JoinedRoom>()
  private readonly byTopic = new Map<string, JoinedRoom>()
  private readonly intake: RoomIntake
  private timer?: JitteredInterval
  /** the online count last reported per room, so that each change is said once */
  private readonly reportedOnline = new Map<string, number>()
  private membersCheck?: ReturnType<typeof setTimeout>
  private readonly discovery: RoomDiscovery

  constructor (init: RoomsInit, allowedTopics: Set<string>) {
    this.init = init
    this.allowedTopics = allowedTopics
    this.intake = new RoomIntake({
      libp2p: init.libp2p,
      store: init.store,
      onMessage: init.onMessage,
      isJoined: (room) => this.byId.get(room.record.roomId) === room,
      sourceOf: (room) => this.sourceOf(room),
      signal: init.signal
    })
    this.stats = this.intake.stats
    this.discovery = new RoomDiscovery({
      libp2p: init.libp2p,
      reach: init.reach,
      online: (roomId) => { const room = this.byId.get(roomId); return room != null ? this.online(room) : 1 },
      signal: init.signal
    })
  }

  private get pubsub (): ChatLibp2p['services']['pubsub'] {
    return this.init.libp2p.services.pubsub
  }

  private get self (): PeerId {
    return this.init.libp2p.peerId
  }

  /** For the sync service: the joined room with this id. */
  syncSource (roomIdHex: string): RoomSyncSource | undefined {
    const room = this.byId.get(roomIdHex)
    return room != null ? this.sourceOf(room) : undefined
  }

  private sourceOf (room: JoinedRoom): RoomSyncSource {
    const { store } = this.init
    const roomId = room.record.roomId
    return {
      keys: room.keys,
      items: async (limit, since, until) => await store.roomItems(roomId, limit, since, until),
      has: async (id) => await store.hasRoomMessage(roomId, id),
      sealed: async (item) => {
        const m = await store.getRoomMessage(roomId, item)
        return m != null ? fromString(m.sealed, 'base64') : undefined
      }
    }
  }

  /** Loads joined rooms and subscribes to them. Call before libp2p starts. */
  async load (): Promise<void> {
    for (const record of await this.init.store.listRooms()) this.attach(record)
  }

  /** Call after libp2p started. */
  start (): void {
    this.pubsub.addEventListener('message', (evt) => { void this.intake.onGossip(this.byTopic.get(evt.detail.topic), evt.detail) })
    this.pubsub.addEventListener('subscription-change', (evt) => {
      for (const sub of evt.detail.subscriptions) {
        const room = this.byTopic.get(sub.topic)
        if (room == null) continue
        if (sub.subscribe) void this.intake.syncFrom(evt.detail.peerId, room)
        this.checkMembers()
      }
    })
    this.init.libp2p.addEventListener('peer:disconnect', (evt) => {
      this.intake.forgetPeer(evt.detail)
      this.checkMembers()
    })
    for (const room of this.byId.values()) this.enter(room)
    this.timer = new JitteredInterval(() => { this.tick() }, RESYNC_INTERVAL_MS)
  }

  stop (): void {
    this.timer?.stop()
    this.discovery.stop()
    clearTimeout(this.membersCheck)
  }

  /**
   * Reports the rooms whose online count changed, once for a burst of changes. Looked at after the
   * current task: gossipsub forgets a disconnected peer's subscriptions in its own listener, which may
   * run after ours.
   */
  private checkMembers (): void {
    if (this.membersCheck != null || this.byId.size === 0) return
    this.membersCheck = setTimeout(() => {
      this.membersCheck = undefined
      if (this.init.signal.aborted) return
      for (const room of this.byId.values()) {
        const { roomId, name } = room.record
        const online = this.online(room)
        // a room starts with yourself alone in it
        const before = this.reportedOnline.get(roomId) ?? 1
        if (before === online) continue
        this.reportedOnline.set(roomId, online)
        if (online === 1) this.discovery.alone(roomId)
        this.init.onMembers?.({ roomId, name, online })
      }
    }, 0)
  }

  private online (room: JoinedRoom): number {
    return this.init.libp2p.status === 'started' ? this.pubsub.getSubscribers(room.keys.topic).length + 1 : 1
  }

  /** Persists when we were last in each room. */
  async saveActivity (): Promise<void> {
    const now = Date.now()
    for (const room of this.byId.values()) {
      room.record.lastActive = now
      await this.init.store.putRoom(room.record)
    }
  }

  // ---- verbs

  async create (name: string): Promise<RoomInfo> {
    const record = await this.add(name, createRoomSecret(), this.self.toString(), Date.now())
    return this.info(record)
  }

  async join (invite: string, localName?: string): Promise<RoomInfo> {
    const parsed = decodeInvite(invite)
    const roomIdHex = deriveRoomKeys(parsed.secret).roomIdHex
    const existing = this.byId.get(roomIdHex)
    if (existing != null) return this.info(existing.record)
    const record = await this.add(localName ?? parsed.name, parsed.secret, parsed.creator, 0)
    const room = this.byId.get(record.roomId)
    if (room != null && parsed.creator != null && parsed.creator !== this.self.toString()) {
      // the creator is the most likely member to be online: try them first
      void this.init.reach(peerIdFromString(parsed.creator)).catch(() => {})
    }
    return this.info(record)
  }

  async leave (ref: string): Promise<RoomInfo> {
    const room = this.find(ref)
    const info = this.info(room.record)
    this.discovery.leave(room.record.roomId)
    this.pubsub.unsubscribe(room.keys.topic)
    this.pubsub.topicValidators.delete(room.keys.topic)
    this.allowedTopics.delete(room.keys.topic)
    this.byId.delete(room.record.roomId)
    this.byTopic.delete(room.keys.topic)
    this.reportedOnline.delete(room.record.roomId)
    this.intake.forgetRoom(room.record.roomId)
    await this.init.store.deleteRoom(room.record.roomId)
    return info
  }

  list (): RoomInfo[] {
    return [...this.byId.values()].map(r => this.info(r.record)).sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Seals, stores and publishes a message (with a file offer, when given); resolves with it once it is on disk. */
  async say (ref: string, text: string, file?: Uint8Array): Promise<StoredRoomMessage> {
    const room = this.find(ref)
    if (text.trim().length === 0 && file == null) throw new InvalidInputError('empty message')
    const sealed = await sealRoomMessage(room.keys, this.init.privateKey, { text, ...(file != null ? { file } : {}) })
    const stored = toStored(room, sealed.message, sealed.bytes)
    await this.init.store.addRoomMessage(stored)
    try {
      await this.pubsub.publish(room.keys.topic, sealed.bytes)
    } catch (err: any) {
      // stored already: members get it through sync when they next ask
      log('publish to %s failed: %s', room.record.name, err.message)
    }
    return stored
  }

  /** Peer IDs online in the room now (subscribed to its topic), yourself first. */
  members (ref: string): string[] {
    const room = this.find(ref)
    return [this.self.toString(), ...this.pubsub.getSubscribers(room.keys.topic).map(p => p.toString())]
  }

  async history (ref: string, limit = 50): Promise<StoredRoomMessage[]> {
    return await this.init.store.roomHistory(this.find(ref).record.roomId, limit)
  }

  /** A joined room by local name (case-insensitive) or room id. */
  find (ref: string): JoinedRoom {
    const byId = this.byId.get(ref)
    if (byId != null) return byId
    const lower = ref.toLowerCase()
    for (const room of this.byId.values()) if (room.record.name.toLowerCase() === lower) return room
    throw new UnknownRoomError(`no room named ${ref}; /rooms lists yours`)
  }

  // ---- internals

  private async add (name: string, secret: Uint8Array, creator: string | undefined, lastActive: number): Promise<RoomRecord> {
    if (!LOCAL_NAME.test(name)) throw new InvalidInputError(`a room name is ${LOCAL_NAME_RULE}; give a local name: /join <invite> <name>`)
    for (const room of this.byId.values()) {
      if (room.record.name.toLowerCase() === name.toLowerCase()) throw new DuplicateRoomError(`you already have a room named ${name}; /join <invite> <other name>`)
    }
    const keys = deriveRoomKeys(secret)
    const record: RoomRecord = {
      roomId: keys.roomIdHex,
      name,
      secret: toString(secret, 'base64'),
      ...(creator != null ? { creator } : {}),
      joinedAt: Date.now(),
      lastActive
    }
    await this.init.store.putRoom(record)
    const room = this.attach(record)
    if (this.init.libp2p.status === 'started') this.enter(room)
    return record
  }

  private attach (record: RoomRecord): JoinedRoom {
    const keys = deriveRoomKeys(fromString(record.secret, 'base64'))
    const room: JoinedRoom = { record, keys, rate: new Map() }
    this.byId.set(record.roomId, room)
    this.byTopic.set(keys.topic, room)
    this.allowedTopics.add(keys.topic)
    return room
  }

  /** Subscribes, and starts announcing and looking for members. */
  private enter (room: JoinedRoom): void {
    this.subscribe(room)
    this.discovery.enter(room.record.roomId, room.keys.dhtCid, room.record.name)
  }

  private subscribe (room: JoinedRoom): void {
    this.pubsub.topicValidators.set(room.keys.topic, async (_peer, msg) => await this.intake.validate(room, msg))
    this.pubsub.subscribe(room.keys.topic)
    // members we are already connected to announced their topics before we joined: ask them now
    for (const peer of this.pubsub.getSubscribers(room.keys.topic)) void this.intake.syncFrom(peer, room)
  }

  /** Saves activity, and asks one member of each room again for anything gossip did not bring. */
  private tick (): void {
    for (const room of this.byId.values()) {
      const peers = this.pubsub.getSubscribers(room.keys.topic)
      if (peers.length > 0) void this.intake.syncFrom(peers[Math.floor(Math.random() * peers.length)], room, true)
    }
    void this.saveActivity().catch(() => {})
  }

  private info (record: RoomRecord): RoomInfo {
    const room = this.byId.get(record.roomId)
    const online = room != null ? this.online(room) : 1
    return {
      name: record.name,
      roomId: record.roomId,
      invite: encodeInvite({ name: record.name, secret: fromString(record.secret, 'base64'), ...(record.creator != null ? { creator: record.creator } : {}) }),
      joinedAt: record.joinedAt,
      online
    }
  }


}
