/**
 * MegaChat's one public API, used by the terminal client, the web app, bots and tests.
 *
 * @example
 * ```ts
import { createChat } from 'megachat'
 *
 * const chat = await createChat({ dataDir: '/home/me/.megachat', bootstrap: ['/ip4/…/tcp/4001/p2p/12D3…'] })
 * chat.addEventListener('message', (evt) => console.log(evt.detail.from, evt.detail.text))
 * await chat.addContact('12D3KooW…', 'bob')
 * await chat.send('bob', 'hello')   // resolves once stored in the outbox; 'delivered' fires on the ack
 * ```
 */
import { logger } from '@libp2p/logger'
import { JitteredInterval } from './timer.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { TypedEventEmitter } from 'main-event'
import { toString as toHex } from 'uint8arrays/to-string'
import { FIND_TIMEOUT_MS, MAX_PROBE_DELAY_MS, MAX_TEXT_BYTES, RETRY_INTERVAL_MS } from './constants.js'
import { Calls, callSignalling } from './calls/index.js'
import { safetyCode } from './crypto/safety-code.js'
import { directMessages } from './direct/index.js'
import { DuplicateContactError, InvalidInputError, InvalidPeerIdError, MessageTooLongError, PeerNotFoundError, UnknownContactError } from './errors.js'
import { BootstrapWatch } from './node/bootstrap-watch.js'
import { createNode } from './node/node.js'
import { openPlatform } from './platform.js'
import { Rooms, roomSync } from './rooms/index.js'
import type { RoomInfo, RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
import type { StoredRoomMessage } from './store/index.js'
import { ChatStore } from './store/index.js'
import type { DirectMessage } from './direct/index.js'
import type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
import type { ChatLibp2p, NodeOptions } from './node/node.js'
import type { Platform, PlatformInit } from './platform.js'
import type { CallRecord, Contact, StoredMessage } from './store/index.js'
import type { CallInfo, MediaFactory, MediaOptions } from './calls/index.js'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import type { AbortOptions, Connection, PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'

export * from './errors.js'
export type { Contact, StoredMessage, DeliveryState, Direction, StoredRoomMessage } from './store/index.js'
export type { RoomInfo, RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
export type { CallRecord, CallOutcome } from './store/index.js'
export type { CallInfo, CallState, MediaEvents, MediaFactory, MediaOptions, MediaSession, IceCandidate } from './calls/index.js'
export type { ChatLibp2p } from './node/node.js'
export type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
export { MAX_TEXT_BYTES } from './constants.js'

const log = logger('megachat')

/** The network settings (listen, bootstrap, iceServers, webrtc, lan, dhtServer) are those of NodeOptions. */
export interface ChatInit extends PlatformInit, Pick<NodeOptions, 'listen' | 'bootstrap' | 'iceServers' | 'webrtc' | 'lan' | 'dhtServer' | 'lateServices'> {
  /** overrides the data directory's store (tests use a MemoryDatastore) */
  datastore?: Datastore
  /** overrides the data directory's identity */
  privateKey?: PrivateKey
  /** an identity and store opened already (openPlatform), used instead of `dataDir`; stop() closes it */
  platform?: Platform
  /** how long to look for an unreachable contact per attempt (ms) */
  findTimeout?: number
  /** how often waiting messages are retried and offline contacts probed (ms) */
  retryInterval?: number
  /** false: createChat returns before starting, so listeners can be added first; then call start() */
  start?: boolean
  /** the media of calls (the web app's RTCPeerConnection); without it calls can be shown and declined only */
  callMedia?: MediaFactory
  /** how long a call rings before it is missed (ms) */
  ringTimeout?: number
}

export interface ContactInfo extends Contact {
  online: boolean
  /** read it out to each other: equal codes mean no impostor */
  safetyCode: string
}

export interface IncomingMessage extends StoredMessage {
  direction: 'in'
  /** the contact's name, when the author is a contact */
  name?: string
}

export interface PresenceChange {
  peerId: string
  name: string
  online: boolean
  lastSeen?: number
}

export interface Unreachable {
  peerId: string
  /** messages still waiting for this contact */
  pending: number
  reason: string
}

export interface ChatEvents {
  /** a message arrived (each id once) */
  message: CustomEvent<IncomingMessage>
  /** a message was stored in the outbox */
  sent: CustomEvent<StoredMessage>
  /** the recipient acknowledged a message */
  delivered: CustomEvent<StoredMessage>
  /** a contact came online or went offline */
  presence: CustomEvent<PresenceChange>
  /** waiting messages could not be delivered this time; they stay queued and are retried */
  unreachable: CustomEvent<Unreachable>
  /** a room message from another member was accepted (each id once) */
  'room:message': CustomEvent<RoomMessageEvent & { name?: string }>
  /** the number of members online in a joined room changed */
  'room:members': CustomEvent<RoomMembersEvent>
  /** a call started, rang, was answered, connected or ended (state 'incoming': someone calls) */
  call: CustomEvent<CallInfo>
  /** a call ended and is stored in the history */
  'call:ended': CustomEvent<CallRecord>
  /** a bootstrap node connected, was lost, or could not be reached (and when it is tried next) */
  bootstrap: CustomEvent<BootstrapNodeStatus>
}

const NAME_RE = /^[\p{L}\p{N}_.-]{1,32}$/u

export class Chat extends TypedEventEmitter<ChatEvents> {
  readonly peerId: PeerId
  readonly libp2p: ChatLibp2p
  readonly store: ChatStore
  readonly rooms: Rooms
  /** calls: accept, decline, hang up by call id; see also call() */
  readonly calls: Calls
  private readonly init: ChatInit
  private readonly closePlatform: () => Promise<void>
  private readonly contactCache = new Map<string, Contact>()
  private readonly flushing = new Map<string, Promise<void>>()
  private readonly flushAgain = new Set<string>()
  /** peers whose outbox was empty after the last delivery: a new message to them goes out without reading the outbox */
  private readonly drained = new Set<string>()
  /** ids acknowledged lately, so that a message sent twice (retry racing a send) is reported delivered once */
  private readonly acked = new Set<string>()
  private readonly shutdown = new AbortController()
  /** quick retries after a failed delivery: peer -> the next delay (ms), doubling up to the retry interval */
  private readonly backoff = new Map<string, number>()
  /** peers whose unreachability was reported since their last send or delivery (said once, not every retry) */
  private readonly reported = new Set<string>()
  /** when each offline contact is probed next, with a growing delay */
  private readonly probes = new Map<string, { next: number, delay: number }>()
  private timer?: JitteredInterval
  private readonly bootstrapWatch: BootstrapWatch

  /** use createChat() */
  constructor (libp2p: ChatLibp2p, store: ChatStore, init: ChatInit & { privateKey: PrivateKey }, allowedTopics: Set<string>, closePlatform: () => Promise<void>) {
    super()
    this.libp2p = libp2p
    this.peerId = libp2p.peerId
    this.store = store
    this.init = init
    this.closePlatform = closePlatform
    this.rooms = new Rooms({
      libp2p,
      store,
      privateKey: init.privateKey,
      signal: this.shutdown.signal,
      reach: async (peer, addrs) => await this.reach(peer, undefined, addrs),
      onMessage: (m) => {
        const name = this.contactCache.get(m.from)?.name
        this.safeDispatchEvent('room:message', { detail: name != null ? { ...m, name } : m })
      },
      onMembers: (m) => { this.safeDispatchEvent('room:members', { detail: m }) }
    }, allowedTopics)
    this.bootstrapWatch = new BootstrapWatch(libp2p, init.bootstrap ?? [])
    this.bootstrapWatch.addEventListener('change', (evt) => { this.safeDispatchEvent('bootstrap', { detail: evt.detail }) })
    this.calls = new Calls({
      self: this.peerId,
      store,
      signalling: () => libp2p.services.calls,
      reach: async (peer, signal) => await this.reach(peer, signal),
      connections: (peer) => this.libp2p.getConnections(peer),
      signal: this.shutdown.signal,
      onChange: (call) => { this.safeDispatchEvent('call', { detail: call }) },
      onEnded: (record) => { this.safeDispatchEvent('call:ended', { detail: record }) },
      media: init.callMedia,
      ringTimeout: init.ringTimeout
    })
  }

  /** Starts the node (createChat does, unless told `start: false`). */
  async start (): Promise<void> {
    if (this.libp2p.status !== 'stopped' || this.shutdown.signal.aborted) return
    for (const c of await this.store.listContacts()) this.contactCache.set(c.peerId, c)
    this.libp2p.addEventListener('peer:connect', (evt) => { this.onPresence(evt.detail, true) })
    this.libp2p.addEventListener('peer:disconnect', (evt) => { this.onPresence(evt.detail, false) })
    await this.rooms.load()
    await this.libp2p.start()
    this.bootstrapWatch.start()
    this.rooms.start()
    this.timer = new JitteredInterval(() => { this.tick() }, this.init.retryInterval ?? RETRY_INTERVAL_MS)
    this.tick()
  }

  /** Each configured bootstrap node: connected, or why not and when it is tried next. */
  bootstrapStatus (): BootstrapNodeStatus[] {
    return this.bootstrapWatch.status()
  }

  /** Multiaddrs others can dial, each ending in /p2p/<our id>. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  /** The safety code shared with a peer: both sides compute the same one. */
  safetyCode (peer: string): string {
    return safetyCode(this.peerId, parsePeerId(peer))
  }

  // ---- contacts

  async addContact (peer: string, name?: string): Promise<ContactInfo> {
    const id = parsePeerId(peer)
    if (id.equals(this.peerId)) throw new InvalidInputError('that is your own peer ID')
    const key = id.toString()
    const chosen = name ?? `peer-${key.slice(-6)}`
    if (!NAME_RE.test(chosen)) throw new InvalidInputError('a contact name is 1-32 letters, digits, "_", "." or "-"')
    if (this.contactCache.has(key)) throw new DuplicateContactError(`already a contact: ${this.contactCache.get(key)?.name}`)
    const taken = this.byName(chosen)
    if (taken != null) throw new DuplicateContactError(`the name ${chosen} is taken by another contact`)
    const contact: Contact = { peerId: key, name: chosen, addedAt: Date.now() }
    await this.store.putContact(contact)
    this.contactCache.set(key, contact)
    void this.reachQuietly(id)
    return this.info(contact)
  }

  async removeContact (ref: string): Promise<Contact> {
    const contact = this.contactFor(ref)
    if (contact == null) throw new UnknownContactError(`no contact ${ref}`)
    await this.store.deleteContact(contact.peerId)
    this.contactCache.delete(contact.peerId)
    return contact
  }

  async contacts (): Promise<ContactInfo[]> {
    return [...this.contactCache.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(c => this.info(c))
  }

  /** A contact by name (case-insensitive) or peer ID. */
  contactFor (ref: string): Contact | undefined {
    return this.contactCache.get(ref) ?? this.byName(ref)
  }

  /** The peer behind a contact name or a peer ID (contact or not). */
  resolve (ref: string): PeerId {
    const contact = this.contactFor(ref)
    if (contact != null) return peerIdFromString(contact.peerId)
    if (/^(12D3Koo|Qm|16Uiu2)/.test(ref)) return parsePeerId(ref)
    throw new UnknownContactError(`no contact named ${ref}`)
  }

  // ---- messages

  /**
   * Stores a message in the outbox (so it survives a crash) and starts delivering it.
   * Resolves with the stored message; 'delivered' fires when the recipient acknowledges it.
   */
  async send (to: string, text: string): Promise<StoredMessage> {
    const peer = this.resolve(to)
    if (peer.equals(this.peerId)) throw new InvalidInputError('cannot message yourself')
    if (text.trim().length === 0) throw new InvalidInputError('empty message')
    const bytes = new TextEncoder().encode(text).byteLength
    if (bytes > MAX_TEXT_BYTES) throw new MessageTooLongError(`message is ${bytes} bytes; the limit is ${MAX_TEXT_BYTES}`)
    const message: StoredMessage = {
      id: toHex(crypto.getRandomValues(new Uint8Array(16)), 'base16'),
      peer: peer.toString(),
      direction: 'out',
      text,
      timestamp: Date.now(),
      state: 'pending'
    }
    await this.store.addOutgoing(message)
    this.reported.delete(message.peer)
    this.backoff.delete(message.peer)
    this.safeDispatchEvent('sent', { detail: message })
    if (this.drained.has(message.peer) && !this.flushing.has(message.peer)) void this.flush(message.peer, [message])
    else void this.flush(message.peer)
    return message
  }

  async history (ref: string, limit = 50): Promise<StoredMessage[]> {
    return await this.store.history(this.resolve(ref).toString(), limit)
  }

  // ---- rooms

  /** Makes a room with a fresh secret; share `invite` with the people who should be in it. */
  async createRoom (name: string): Promise<RoomInfo> {
    return await this.rooms.create(name)
  }

  /** Joins a room from an invite link, under the invite's name or `localName`. */
  async joinRoom (invite: string, localName?: string): Promise<RoomInfo> {
    return await this.rooms.join(invite, localName)
  }

  async leaveRoom (ref: string): Promise<RoomInfo> {
    return await this.rooms.leave(ref)
  }

  listRooms (): RoomInfo[] {
    return this.rooms.list()
  }

  /** Sends a message to a room; resolves once it is stored and published. */
  async say (room: string, text: string): Promise<StoredRoomMessage> {
    return await this.rooms.say(room, text)
  }

  /** Members online in a room now (you first). */
  members (room: string): string[] {
    return this.rooms.members(room)
  }

  async roomHistory (room: string, limit = 50): Promise<StoredRoomMessage[]> {
    return await this.rooms.history(room, limit)
  }

  // ---- calls

  /**
   * Calls a contact (or a peer ID): video unless `video: false`. Resolves once the call rings out;
   * follow it with the 'call' event. Needs `callMedia` (the web app).
   */
  async call (ref: string, options: Partial<MediaOptions> = {}): Promise<CallInfo> {
    return await this.calls.start(this.resolve(ref), options)
  }

  /**
   * Gets ready to call a contact: opens the call's signalling stream ahead, over a connection that is
   * open already (the web app does this when their conversation is opened). See Calls.prepare.
   */
  prepareCall (ref: string): void {
    this.calls.prepare(this.resolve(ref))
  }

  /** The last `limit` calls with a contact, oldest first. */
  async callHistory (ref: string, limit = 50): Promise<CallRecord[]> {
    return await this.store.calls(this.resolve(ref).toString(), limit)
  }

  /** Is there an open connection to this peer? */
  isOnline (peer: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peer)).length > 0
  }

  /**
   * Gets a connection to a peer: known addresses first, then a DHT lookup (which also finds relay
   * addresses). Bounded by `findTimeout`. WebRTC addresses are left for a background upgrade, so a
   * message never waits on ICE: it goes over TCP, WebSocket or the relay at once, and a relayed
   * connection is then upgraded to a direct WebRTC one when the peer offers it. `addrs` (say, from a
   * DHT provider record) are tried in place of the peer store's. The one dial policy for every feature.
   */
  async reach (peer: PeerId, signal?: AbortSignal, addrs?: Multiaddr[]): Promise<Connection> {
    const open = this.openConnection(peer)
    if (open != null) return open
    const timeout = AbortSignal.timeout(this.init.findTimeout ?? FIND_TIMEOUT_MS)
    const options = { signal: AbortSignal.any([timeout, this.shutdown.signal, ...(signal != null ? [signal] : [])]) }
    const known = (addrs != null && addrs.length > 0) ? addrs : await this.libp2p.peerStore.get(peer).then(p => p.addresses.map(a => a.multiaddr), () => [])
    if (known.length > 0) {
      try {
        return await this.dialPreferringDirect(peer, known, options)
      } catch (err: any) {
        // both sides dialled at once and ours was the one closed: theirs is the connection
        const theirs = this.openConnection(peer)
        if (theirs != null) return theirs
        if (options.signal.aborted) throw new PeerNotFoundError(`${peer} was not found in time`)
        log('dial %p from known addresses failed: %s; looking it up', peer, err.name)
      }
    }
    try {
      const info = await this.libp2p.peerRouting.findPeer(peer, options)
      return await this.dialPreferringDirect(peer, info.multiaddrs, options)
    } catch (err: any) {
      throw new PeerNotFoundError(`${peer} is not reachable now (${options.signal.aborted ? 'not found in time' : err.name})`)
    }
  }

  /** An open connection to the peer: a direct one if there is one, else an unlimited one. */
  private openConnection (peer: PeerId): Connection | undefined {
    const open = this.libp2p.getConnections(peer)
    return open.find(c => c.direct) ?? open.find(c => c.limits == null) ?? open[0]
  }

  private async dialPreferringDirect (peer: PeerId, addrs: Multiaddr[], options: AbortOptions): Promise<Connection> {
    const own = addrs.map(a => a.getComponents().some(c => c.name === 'p2p' && c.value === peer.toString()) ? a : a.encapsulate(`/p2p/${peer}`))
    const webrtc = own.filter(a => WebRTC.matches(a))
    const other = own.filter(a => !WebRTC.matches(a))
    if (other.length === 0 && webrtc.length === 0) throw new PeerNotFoundError('no addresses')
    const connection = await this.libp2p.dial(other.length > 0 ? other : webrtc, options)
    if (connection.limits != null && webrtc.length > 0 && other.length > 0) {
      this.libp2p.dial(webrtc, { force: true, signal: AbortSignal.any([AbortSignal.timeout(30_000), this.shutdown.signal]) })
        .then(() => { log('upgraded %p to a direct WebRTC connection', peer) })
        .catch((err: any) => { log('no direct WebRTC connection to %p: %s', peer, err.name) })
    }
    return connection
  }

  /**
   * Delivers what waits in the outbox for a peer (or just `only`, when the outbox is known to hold
   * nothing else). One run per peer at a time; a run asked for meanwhile follows it.
   */
  flush (peer: string, only?: StoredMessage[]): Promise<void> {
    const running = this.flushing.get(peer)
    if (running != null) {
      this.flushAgain.add(peer)
      return running
    }
    const run = this.deliver(peer, only).finally(() => {
      this.flushing.delete(peer)
      if (this.flushAgain.delete(peer) && !this.shutdown.signal.aborted) void this.flush(peer)
    })
    this.flushing.set(peer, run)
    return run
  }

  private async deliver (peer: string, only?: StoredMessage[]): Promise<void> {
    const pending = only ?? await this.store.outbox(peer)
    if (pending.length === 0) {
      this.drained.add(peer)
      return
    }
    const byId = new Map(pending.map(m => [m.id, m]))
    const id = peerIdFromString(peer)
    try {
      // the stream goes on the connection reach() chose: a dial by peer ID here could try every
      // address the peer store knows, WebRTC first, and keep the message waiting on ICE
      const connection = await this.reach(id)
      await this.libp2p.services.dm.send(id, pending.map(toWire), {
        connection,
        signal: AbortSignal.any([AbortSignal.timeout(60_000), this.shutdown.signal]),
        onAck: async (msgId) => {
          if (this.acked.has(msgId)) return
          const delivered = await this.store.markDelivered(peer, msgId, byId.get(msgId))
          if (delivered == null) return
          this.acked.add(msgId)
          if (this.acked.size > 10_000) this.acked.delete(this.acked.values().next().value as string)
          this.safeDispatchEvent('delivered', { detail: delivered })
        }
      })
      this.reported.delete(peer)
      this.drained.add(peer)
      this.backoff.delete(peer)
    } catch (err: any) {
      this.drained.delete(peer)
      if (this.shutdown.signal.aborted) return
      const left = (await this.store.outbox(peer)).length
      log('delivery to %s failed (%d waiting): %s', peer, left, err.message)
      // a peer that has only just come online may not be in the DHT yet: try again soon, then less often
      const delay = this.backoff.get(peer) ?? 1000
      if (left > 0 && delay < (this.init.retryInterval ?? RETRY_INTERVAL_MS)) {
        this.backoff.set(peer, delay * 2)
        setTimeout(() => { if (!this.shutdown.signal.aborted) void this.flush(peer) }, delay).unref?.()
      }
      if (left > 0 && !this.reported.has(peer)) {
        this.reported.add(peer)
        this.safeDispatchEvent('unreachable', { detail: { peerId: peer, pending: left, reason: err.message } })
      }
    }
  }

  /** Called by the DM protocol before it acknowledges: the message is on disk when this resolves. */
  async receive (from: PeerId, m: DirectMessage): Promise<void> {
    const message: IncomingMessage = {
      id: m.id,
      peer: from.toString(),
      direction: 'in',
      text: m.text,
      timestamp: m.timestamp,
      receivedAt: Date.now()
    }
    if (!await this.store.addIncoming(message)) return // a duplicate: acknowledged again, shown once
    const name = this.contactCache.get(message.peer)?.name
    this.safeDispatchEvent('message', { detail: name != null ? { ...message, name } : message })
  }

  private onPresence (peer: PeerId, online: boolean): void {
    const contact = this.contactCache.get(peer.toString())
    if (contact == null) return
    const now = Date.now()
    contact.lastSeen = now
    this.probes.delete(contact.peerId)
    this.store.putContact(contact).catch(err => { log.error('could not store last-seen: %e', err) })
    this.safeDispatchEvent('presence', { detail: { peerId: contact.peerId, name: contact.name, online, lastSeen: now } })
    if (online) void this.flush(contact.peerId)
  }

  /**
   * Retries waiting messages every round, and probes offline contacts (so that presence is known)
   * with a delay that doubles per failed probe up to MAX_PROBE_DELAY_MS.
   */
  private tick (): void {
    void (async () => {
      const waiting = await this.store.outboxPeers()
      for (const peer of waiting) void this.flush(peer)
      const interval = this.init.retryInterval ?? RETRY_INTERVAL_MS
      for (const c of this.contactCache.values()) {
        if (this.shutdown.signal.aborted) return
        if (this.isOnline(c.peerId) || this.flushing.has(c.peerId) || waiting.includes(c.peerId)) continue
        const probe = this.probes.get(c.peerId) ?? { next: 0, delay: interval }
        if (Date.now() < probe.next) continue
        await this.reachQuietly(peerIdFromString(c.peerId))
        if (!this.isOnline(c.peerId)) {
          this.probes.set(c.peerId, { next: Date.now() + probe.delay, delay: Math.min(probe.delay * 2, MAX_PROBE_DELAY_MS) })
        }
      }
    })().catch(err => { log.error('retry round failed: %e', err) })
  }

  private async reachQuietly (peer: PeerId): Promise<void> {
    await this.reach(peer).catch(err => { log('contact %p not reachable: %s', peer, err.message) })
  }

  private byName (name: string): Contact | undefined {
    const lower = name.toLowerCase()
    for (const c of this.contactCache.values()) if (c.name.toLowerCase() === lower) return c
    return undefined
  }

  private info (c: Contact): ContactInfo {
    return { ...c, online: this.isOnline(c.peerId), safetyCode: this.safetyCode(c.peerId) }
  }

  /** Stops the node; everything acknowledged or queued is already on disk. */
  async stop (): Promise<void> {
    if (this.shutdown.signal.aborted) return
    this.shutdown.abort()
    this.timer?.stop()
    this.bootstrapWatch.stop()
    this.rooms.stop()
    await this.calls.stop()
    await Promise.allSettled([...this.flushing.values()])
    await this.rooms.saveActivity().catch((err: any) => { log.error('could not save room activity: %e', err) })
    await this.libp2p.stop()
    await this.closePlatform()
  }
}

function toWire (m: StoredMessage): DirectMessage {
  return { id: m.id, timestamp: m.timestamp, text: m.text }
}

/** Parses a peer ID typed by a person; a typo gets one clear line. */
export function parsePeerId (text: string): PeerId {
  let id: PeerId
  try {
    id = peerIdFromString(text.trim())
  } catch {
    throw new InvalidPeerIdError(`not a valid peer ID: ${text.length > 60 ? text.slice(0, 60) + '…' : text}`)
  }
  if (id.type !== 'Ed25519') throw new InvalidPeerIdError('only Ed25519 peer IDs (12D3KooW…) can be contacts')
  return id
}

export async function createChat (init: ChatInit = {}): Promise<Chat> {
  const platform: Platform = init.platform ?? ((init.privateKey != null && init.datastore != null)
    ? { privateKey: init.privateKey, datastore: init.datastore, close: async () => {} }
    : await openPlatform(init))
  const privateKey = init.privateKey ?? platform.privateKey
  const datastore = init.datastore ?? platform.datastore
  const store = new ChatStore(datastore)
  let chat: Chat | undefined
  let libp2p: ChatLibp2p
  const allowedTopics = new Set<string>()
  try {
    const { listen, bootstrap, iceServers, webrtc, lan, dhtServer, lateServices } = init
    libp2p = await createNode({
      lateServices,
      privateKey,
      datastore,
      listen,
      bootstrap,
      iceServers,
      webrtc,
      lan,
      dhtServer,
      allowedTopics,
      services: {
        roomSync: roomSync({ lookup: (roomId) => chat?.rooms.syncSource(roomId) }),
        calls: callSignalling({
          onSignal: (from, signal, channel) => {
            if (chat != null) chat.calls.onSignal(from, signal, channel)
            else channel.abort(new Error('not started'))
          },
          onEnd: (channel) => { chat?.calls.onEnd(channel) }
        }),
        dm: directMessages({
          receive: async (from, m) => {
            if (chat == null) throw new Error('not started')
            await chat.receive(from, m)
          }
        })
      }
    })
    // a new identity is stored before the node runs under it (platform.browser.ts writes it meanwhile)
    await platform.saved
  } catch (err) {
    await platform.close()
    throw err
  }
  chat = new Chat(libp2p, store, { ...init, privateKey }, allowedTopics, platform.close)
  if (init.start === false) return chat
  try {
    await chat.start()
  } catch (err) {
    await chat.stop().catch(() => {})
    throw err
  }
  return chat
}
