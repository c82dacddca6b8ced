/**
 * Persistence for contacts, conversations and the outbox, behind one interface over any
 * interface-datastore Datastore: LevelDB in Node, IndexedDB in the browser, memory in tests.
 * libp2p shares the same datastore (peer store, DHT records) under its own prefixes.
 *
 * Keys
 *   /megachat/contact/<peerId>                      Contact (JSON)
 *   /megachat/msg/<peerId>/<timestamp:16>-<id>      StoredMessage (JSON), ordered by time
 *   /megachat/msgid/<peerId>/<id>                   -> the msg key (dedupe and lookup by id)
 *   /megachat/outbox/<peerId>/<timestamp:16>-<id>   -> the msg key of an unacknowledged message
 *   /megachat/room/<roomId>                          RoomRecord (JSON, holds the room secret)
 *   /megachat/roommsg/<roomId>/<timestamp:16>-<id>   StoredRoomMessage (JSON, with the sealed bytes)
 *   /megachat/roomid/<roomId>/<id>                   -> the roommsg key (replays are recognised forever)
 *   /megachat/call/<peerId>/<timestamp:16>-<id>      CallRecord (JSON): calls and missed calls, by start time
 * Related writes go in one batch, so a crash never leaves a message without its index or outbox entry.
 */
import { Key } from 'interface-datastore'
import { CorruptDataError } from '../errors.js'
import type { Datastore } from 'interface-datastore'

export interface Contact {
  peerId: string
  name: string
  addedAt: number
  /** last time a connection to the contact was open (ms), if ever */
  lastSeen?: number
}

export type Direction = 'in' | 'out'
export type DeliveryState = 'pending' | 'delivered'

export interface StoredMessage {
  /** 32 hex characters: the random 128-bit id */
  id: string
  /** the other side of the conversation */
  peer: string
  direction: Direction
  text: string
  /** author's clock (ms) */
  timestamp: number
  /** for 'out': pending until the recipient acknowledged it */
  state?: DeliveryState
  /** for 'in': our clock when it arrived */
  receivedAt?: number
}

export interface RoomRecord {
  /** hex of the public room id */
  roomId: string
  /** local display name, unique among this user's rooms */
  name: string
  /** base64 of the 32-byte room secret */
  secret: string
  /** peer ID of whoever created the invite, if it said */
  creator?: string
  joinedAt: number
  /** last time this node was known to be in the room (ms); 0 until it has been there */
  lastActive: number
}

/** Where a room message sits in the room's order: what room sync compares, read from the keys alone. */
export interface RoomItem {
  /** author's clock (ms), as in the key */
  timestamp: number
  /** 32 hex characters */
  id: string
}

export interface StoredRoomMessage {
  /** 32 hex characters */
  id: string
  roomId: string
  author: string
  timestamp: number
  text: string
  receivedAt: number
  /** base64 of the sealed bytes as published, so they can be served to other members */
  sealed: string
}

/** How a call ended, as both sides record it. */
export type CallOutcome =
  /** talked: answered, then hung up by either side */
  'answered' |
  /** not answered in time, or the caller gave up first: a missed call for the callee */
  'missed' |
  'declined' |
  /** the callee was in another call */
  'busy' |
  /** answered, but no media path could be made or it was lost */
  'failed'

export interface CallRecord {
  /** 32 hex characters: the call id chosen by the caller */
  id: string
  peer: string
  direction: Direction
  video: boolean
  /** when it started ringing (our clock, ms) */
  timestamp: number
  /** when media started to flow, if it did */
  connectedAt?: number
  endedAt: number
  outcome: CallOutcome
  /** more about how it ended, in one line, when there is more to say */
  reason?: string
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))

function parse<T> (bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T
  } catch {
    throw new CorruptDataError(`stored ${what} is corrupted`)
  }
}

/** Orders by (timestamp, id): the order of the message keys, and of room sync's items. */
export function byTime (a: { timestamp: number, id: string }, b: { timestamp: number, id: string }): number {
  return a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** The last `limit` by (timestamp, id), oldest first. Not every datastore returns keys in order. */
function lastByTime<T extends { timestamp: number, id: string }> (all: T[], limit: number): T[] {
  all.sort(byTime)
  return all.slice(Math.max(0, all.length - limit))
}

/** `<timestamp:16>-<id>`, the last part of a message key, back to its item. */
function parseItem (name: string): RoomItem | undefined {
  const match = /^(\d{16,})-([0-9a-f]{32})$/.exec(name)
  return match == null ? undefined : { timestamp: Number(match[1]), id: match[2] }
}

const pad = (n: number): string => Math.max(0, Math.floor(n)).toString().padStart(16, '0')
const contactKey = (peer: string): Key => new Key(`/megachat/contact/${peer}`)
const msgKey = (m: StoredMessage): Key => new Key(`/megachat/msg/${m.peer}/${pad(m.timestamp)}-${m.id}`)
const msgIdKey = (peer: string, id: string): Key => new Key(`/megachat/msgid/${peer}/${id}`)
const outboxKey = (m: StoredMessage): Key => new Key(`/megachat/outbox/${m.peer}/${pad(m.timestamp)}-${m.id}`)
const callKey = (c: CallRecord): Key => new Key(`/megachat/call/${c.peer}/${pad(c.timestamp)}-${c.id}`)
const roomKey = (roomId: string): Key => new Key(`/megachat/room/${roomId}`)
const roomMsgKey = (roomId: string, m: RoomItem): Key => new Key(`/megachat/roommsg/${roomId}/${pad(m.timestamp)}-${m.id}`)
const roomMsgIdKey = (roomId: string, id: string): Key => new Key(`/megachat/roomid/${roomId}/${id}`)

export class ChatStore {
  /** adds under way, by key: "add if absent" must hold when the same message arrives twice at once */
  private readonly adding = new Map<string, Promise<boolean>>()

  constructor (readonly datastore: Datastore) {}

  /** Runs `add` unless an add for the same key is under way, in which case this one is a duplicate. */
  private async addOnce (key: string, add: () => Promise<boolean>): Promise<boolean> {
    const running = this.adding.get(key)
    if (running != null) {
      await running.catch(() => {})
      return false
    }
    const run = add().finally(() => { this.adding.delete(key) })
    this.adding.set(key, run)
    return await run
  }

  // ---- contacts

  async putContact (contact: Contact): Promise<void> {
    await this.datastore.put(contactKey(contact.peerId), json(contact))
  }

  async getContact (peer: string): Promise<Contact | undefined> {
    try {
      return parse<Contact>(await this.datastore.get(contactKey(peer)), 'contact')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  async deleteContact (peer: string): Promise<void> {
    await this.datastore.delete(contactKey(peer))
  }

  async listContacts (): Promise<Contact[]> {
    const out: Contact[] = []
    for await (const { value } of this.datastore.query({ prefix: '/megachat/contact/' })) {
      out.push(parse<Contact>(value, 'contact'))
    }
    return out
  }

  // ---- messages

  /** Stores an outgoing message and its outbox entry in one batch. */
  async addOutgoing (m: StoredMessage): Promise<void> {
    const batch = this.datastore.batch()
    const key = msgKey(m)
    batch.put(key, json(m))
    batch.put(msgIdKey(m.peer, m.id), enc.encode(key.toString()))
    batch.put(outboxKey(m), enc.encode(key.toString()))
    await batch.commit()
  }

  /**
   * Stores an incoming message unless one with the same id from the same peer is already stored.
   * Returns false for a duplicate.
   */
  async addIncoming (m: StoredMessage): Promise<boolean> {
    return await this.addOnce(msgIdKey(m.peer, m.id).toString(), async () => await this.putIncoming(m))
  }

  private async putIncoming (m: StoredMessage): Promise<boolean> {
    if (await this.datastore.has(msgIdKey(m.peer, m.id))) return false
    const batch = this.datastore.batch()
    const key = msgKey(m)
    batch.put(key, json(m))
    batch.put(msgIdKey(m.peer, m.id), enc.encode(key.toString()))
    await batch.commit()
    return true
  }

  async getMessage (peer: string, id: string): Promise<StoredMessage | undefined> {
    try {
      const key = new Key(dec.decode(await this.datastore.get(msgIdKey(peer, id))))
      return parse<StoredMessage>(await this.datastore.get(key), 'message')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  /**
   * Marks an outgoing message delivered and takes it out of the outbox. Returns the updated message,
   * or undefined if it is unknown or already delivered. `known` (the message as sent) saves the reads.
   */
  async markDelivered (peer: string, id: string, known?: StoredMessage): Promise<StoredMessage | undefined> {
    const m = known ?? await this.getMessage(peer, id)
    if (m == null || m.direction !== 'out' || m.state === 'delivered') return undefined
    const updated: StoredMessage = { ...m, state: 'delivered' }
    const batch = this.datastore.batch()
    batch.put(msgKey(m), json(updated))
    batch.delete(outboxKey(m))
    await batch.commit()
    return updated
  }

  /** The last `limit` messages with a peer, oldest first. */
  async history (peer: string, limit = 50): Promise<StoredMessage[]> {
    return await this.lastUnder<StoredMessage>(`/megachat/msg/${peer}/`, 'message', limit)
  }

  /** Unacknowledged messages to a peer, oldest first. */
  async outbox (peer: string): Promise<StoredMessage[]> {
    const out: StoredMessage[] = []
    for await (const { value } of this.datastore.query({ prefix: `/megachat/outbox/${peer}/` })) {
      try {
        out.push(parse<StoredMessage>(await this.datastore.get(new Key(dec.decode(value))), 'message'))
      } catch (err: any) {
        if (err.name !== 'NotFoundError') throw err
      }
    }
    return lastByTime(out, out.length)
  }

  /** Peers that have unacknowledged messages waiting. */
  async outboxPeers (): Promise<string[]> {
    const peers = new Set<string>()
    for await (const key of this.datastore.queryKeys({ prefix: '/megachat/outbox/' })) {
      peers.add(key.toString().split('/')[3])
    }
    return [...peers]
  }

  // ---- rooms

  async putRoom (room: RoomRecord): Promise<void> {
    await this.datastore.put(roomKey(room.roomId), json(room))
  }

  async listRooms (): Promise<RoomRecord[]> {
    const out: RoomRecord[] = []
    for await (const { value } of this.datastore.query({ prefix: '/megachat/room/' })) {
      out.push(parse<RoomRecord>(value, 'room'))
    }
    return out
  }

  /** Forgets a room and its messages. */
  async deleteRoom (roomId: string): Promise<void> {
    const batch = this.datastore.batch()
    batch.delete(roomKey(roomId))
    for (const prefix of [`/megachat/roommsg/${roomId}/`, `/megachat/roomid/${roomId}/`]) {
      for await (const key of this.datastore.queryKeys({ prefix })) batch.delete(key)
    }
    await batch.commit()
  }

  async hasRoomMessage (roomId: string, id: string): Promise<boolean> {
    return await this.datastore.has(roomMsgIdKey(roomId, id))
  }

  /** Stores a room message unless its id is known already; false for a duplicate or replay. */
  async addRoomMessage (m: StoredRoomMessage): Promise<boolean> {
    return await this.addOnce(roomMsgIdKey(m.roomId, m.id).toString(), async () => await this.putRoomMessage(m))
  }

  private async putRoomMessage (m: StoredRoomMessage): Promise<boolean> {
    if (await this.hasRoomMessage(m.roomId, m.id)) return false
    const batch = this.datastore.batch()
    const key = roomMsgKey(m.roomId, m)
    batch.put(key, json(m))
    batch.put(roomMsgIdKey(m.roomId, m.id), enc.encode(key.toString()))
    await batch.commit()
    return true
  }

  /** The last `limit` messages of a room with a timestamp at or after `since`, oldest first. */
  async roomHistory (roomId: string, limit = 50, since = 0): Promise<StoredRoomMessage[]> {
    return await this.lastUnder<StoredRoomMessage>(`/megachat/roommsg/${roomId}/`, 'room message', limit, since)
  }

  /**
   * The newest `limit` messages of a room with a timestamp in [since, until], as items, oldest first.
   * Reads keys only, and holds at most twice `limit` items while it reads.
   */
  async roomItems (roomId: string, limit: number, since = 0, until = Infinity): Promise<RoomItem[]> {
    let items: RoomItem[] = []
    for await (const key of this.datastore.queryKeys({ prefix: `/megachat/roommsg/${roomId}/` })) {
      const item = parseItem(key.baseNamespace())
      if (item == null) throw new CorruptDataError('stored room message key is corrupted')
      if (item.timestamp < since || item.timestamp > until) continue
      items.push(item)
      if (items.length >= 2 * limit) items = lastByTime(items, limit)
    }
    return lastByTime(items, limit)
  }

  /** A room message by its item, if stored. */
  async getRoomMessage (roomId: string, item: RoomItem): Promise<StoredRoomMessage | undefined> {
    try {
      return parse<StoredRoomMessage>(await this.datastore.get(roomMsgKey(roomId, item)), 'room message')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  // ---- calls

  /** Stores how a call went (a second record for the same call replaces the first). */
  async addCall (c: CallRecord): Promise<void> {
    await this.datastore.put(callKey(c), json(c))
  }

  /** The last `limit` calls with a peer, oldest first. */
  async calls (peer: string, limit = 50): Promise<CallRecord[]> {
    return await this.lastUnder<CallRecord>(`/megachat/call/${peer}/`, 'call', limit)
  }

  /** The last `limit` records under a key prefix with a timestamp at or after `since`, oldest first. */
  private async lastUnder<T extends { timestamp: number, id: string }> (prefix: string, what: string, limit: number, since = 0): Promise<T[]> {
    const all: T[] = []
    for await (const { value } of this.datastore.query({ prefix })) {
      const record = parse<T>(value, what)
      if (record.timestamp >= since) all.push(record)
    }
    return lastByTime(all, limit)
  }
}
