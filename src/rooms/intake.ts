/**
 * What comes into a joined room: live messages, each checked by gossipsub's topic validator before it is
 * accepted or forwarded (what fails is rejected, a replay or an author over the rate limit ignored), and
 * history asked of members through room sync (./sync.ts). Each accepted message is stored once and
 * handed on once, whichever way it came first.
 */
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import { openRoomMessageDetailed } from '../crypto/room.js'
import { decodeOffer, fileIdHex } from '../files/offer.js'
import { UnknownRoomError } from '../errors.js'
import { Validation } from '../node/adapters/gossipsub.js'
import type { RoomKeys, RoomMessage } from '../crypto/room.js'
import type { ChatLibp2p } from '../node/types.js'
import type { ChatStore, RoomRecord, StoredRoomMessage } from '../store/index.js'
import type { RoomSyncSource } from './sync.js'
import type { Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

const log = logger('megachat:rooms')

/** Messages one author may have accepted per RATE_WINDOW_MS in one room; more are dropped. */
export const RATE_LIMIT = 30
export const RATE_WINDOW_MS = 10_000
/** Exchanges with one member in a row while it has more to send (each at most SYNC_MAX_BYTES). */
const MAX_SYNC_EXCHANGES = 64

export interface RoomMessageEvent {
  room: string
  roomId: string
  id: string
  from: string
  text: string
  timestamp: number
  /** true when it came through history sync rather than live */
  synced: boolean
  /** the transfer id of a file offered with the message (as in the room's history), for `chat.files` */
  file?: string
}

/** A room message as the room hands it to the chat: with a file's offer (FileOfferPb bytes, checked). */
export interface RoomMessageIn extends RoomMessageEvent {
  offer?: Uint8Array
}

export interface RoomDropStats {
  /** did not decrypt or decode, bad author or signature, or too large */
  invalid: number
  /** ids already seen: replays and duplicates */
  replayed: number
  /** over an author's rate limit */
  rateLimited: number
}

/** A room as joined: its record, the keys derived from its secret, its authors' recent messages. */
export interface JoinedRoom {
  record: RoomRecord
  keys: RoomKeys
  /** author -> timestamps of accepted messages in the current window */
  rate: Map<string, number[]>
}

export interface RoomIntakeInit {
  libp2p: ChatLibp2p
  store: ChatStore
  /** a room message was accepted (live or synced) */
  onMessage(event: RoomMessageIn): void
  /** whether `room` is still joined (as this very object) */
  isJoined(room: JoinedRoom): boolean
  /** what room sync serves of, and compares with, `room` */
  sourceOf(room: JoinedRoom): RoomSyncSource
  signal: AbortSignal
}

export class RoomIntake {
  readonly stats: RoomDropStats = { invalid: 0, replayed: 0, rateLimited: 0 }
  /** `${peer}/${roomId}` pairs synced with since the peer connected (or we entered the room) */
  private readonly synced = new Set<string>()
  /** `${peer}/${roomId}` pairs being synced now, with the room as joined then */
  private readonly syncing = new Map<string, JoinedRoom>()
  /** ids of messages that came through history sync lately, whose live copies may still be in flight */
  private readonly syncedIds = new Set<string>()
  /** messages opened by the validator, handed to the message listener */
  private readonly opened = new WeakMap<Message, RoomMessage>()

  constructor (private readonly init: RoomIntakeInit) {}

  private get self (): PeerId {
    return this.init.libp2p.peerId
  }

  /** The peer went: it is synced with again when it comes back. */
  forgetPeer (peer: PeerId): void {
    const prefix = `${peer.toString()}/`
    for (const key of this.synced) if (key.startsWith(prefix)) this.synced.delete(key)
  }

  /** The room was left: joined again, it starts from nothing, and every member is asked for its history again. */
  forgetRoom (roomId: string): void {
    const suffix = `/${roomId}`
    for (const key of this.synced) if (key.endsWith(suffix)) this.synced.delete(key)
  }

  /** Runs for every gossip message on a room topic before it is accepted or forwarded. */
  async validate (room: JoinedRoom, msg: Message): Promise<TopicValidatorResult> {
    const result = await openRoomMessageDetailed(room.keys, msg.data)
    if (!result.ok) {
      this.stats.invalid++
      return Validation.Reject
    }
    const m = result.message
    if (await this.init.store.hasRoomMessage(room.record.roomId, m.idHex)) {
      // got through history sync moments ago: pass the live copy on to our mesh peers (shown once
      // all the same); anything else already stored is a replay, dropped
      if (this.syncedIds.has(m.idHex)) return Validation.Accept
      this.stats.replayed++
      return Validation.Ignore
    }
    if (!this.allow(room, m.author.toString())) {
      this.stats.rateLimited++
      return Validation.Ignore
    }
    this.opened.set(msg, m)
    return Validation.Accept
  }

  private allow (room: JoinedRoom, author: string): boolean {
    const now = Date.now()
    const recent = (room.rate.get(author) ?? []).filter(t => now - t < RATE_WINDOW_MS)
    if (recent.length >= RATE_LIMIT) return false
    recent.push(now)
    room.rate.set(author, recent)
    return true
  }

  /** A gossip message the validator accepted on `room`'s topic (undefined: not a joined room's). */
  async onGossip (room: JoinedRoom | undefined, msg: Message): Promise<void> {
    const m = this.opened.get(msg)
    if (room == null || m == null) return
    await this.accept(room, m, msg.data, false)
  }

  private async accept (room: JoinedRoom, m: RoomMessage, sealed: Uint8Array, synced: boolean): Promise<void> {
    // the live copy of a message that history sync brought first: forwarded by the validator, shown once
    if (!synced && this.syncedIds.delete(m.idHex)) return
    const added = await this.init.store.addRoomMessage(toStored(room, m, sealed))
    if (!added) {
      // synced history overlaps what we have; only a live duplicate is a replay
      if (!synced) this.stats.replayed++
      return
    }
    if (synced) {
      this.syncedIds.add(m.idHex)
      if (this.syncedIds.size > 4096) this.syncedIds.delete(this.syncedIds.values().next().value as string)
    }
    // our own message served back to us by sync: kept (we had lost it), never announced
    if (m.author.equals(this.self)) return
    this.init.onMessage({
      room: room.record.name,
      roomId: room.record.roomId,
      id: m.idHex,
      from: m.author.toString(),
      text: m.text,
      timestamp: m.timestamp,
      synced,
      ...(m.file != null ? { file: fileIdHex(decodeOffer(m.file).id), offer: m.file } : {})
    })
  }

  /**
   * Asks one member for the messages we lack, once per connection unless `again`: exchanges follow one
   * another while the member has more to send.
   */
  async syncFrom (peer: PeerId, room: JoinedRoom, again = false): Promise<void> {
    const key = `${peer.toString()}/${room.record.roomId}`
    if (this.syncing.get(key) === room || (this.synced.has(key) && !again) || peer.equals(this.self)) return
    this.syncing.set(key, room)
    const joined = (): boolean => this.init.isJoined(room)
    let accepted = 0
    try {
      for (let exchange = 0; exchange < MAX_SYNC_EXCHANGES; exchange++) {
        const result = await this.init.libp2p.services.roomSync.request(peer, this.init.sourceOf(room), {
          signal: this.init.signal,
          onMessage: async (sealed, item) => {
            if (!joined()) throw new UnknownRoomError('left the room')
            const opened = await openRoomMessageDetailed(room.keys, sealed)
            // the item it came as must be the message's own, or it was not what we asked for
            if (!opened.ok || opened.message.timestamp !== item.timestamp || opened.message.idHex !== item.id) {
              this.stats.invalid++
              return
            }
            await this.accept(room, opened.message, sealed, true)
            accepted++
          }
        })
        if (!result.more || result.received === 0) break
      }
      if (joined()) this.synced.add(key)
      log('synced %d messages of %s from %p', accepted, room.record.name, peer)
    } catch (err: any) {
      log('sync of %s from %p failed after %d messages: %s', room.record.name, peer, accepted, err.message)
    } finally {
      if (this.syncing.get(key) === room) this.syncing.delete(key)
    }
  }
}

/** A room message as the store keeps it. */
export function toStored (room: JoinedRoom, m: RoomMessage, sealed: Uint8Array): StoredRoomMessage {
  return {
    id: m.idHex,
    roomId: room.record.roomId,
    author: m.author.toString(),
    timestamp: m.timestamp,
    text: m.text,
    receivedAt: Date.now(),
    sealed: toString(sealed, 'base64'),
    ...(m.file != null ? { file: fileIdHex(decodeOffer(m.file).id) } : {})
  }
}
