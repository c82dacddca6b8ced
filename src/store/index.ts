/**
 * Persistence for contacts, conversations and the outbox, behind one interface over any
 * interface-datastore Datastore: LevelDB in Node, IndexedDB in the browser, memory in tests.
 * libp2p shares the same datastore (peer store, DHT records) under its own prefixes.
 *
 * Keys
 *   /megachat/contact/<peerId>                      Contact (JSON)
 *   /megachat/msg/<peerId>/<order:16>-<id>          MessageRecord (protobuf, pb/record.proto; JSON StoredMessage
 *                                                   before that, still read), in conversation order
 *   /megachat/msgid/<peerId>/<id>                   -> the msg key (dedupe and lookup by id)
 *   /megachat/outbox/<peerId>/<order:16>-<id>       an unacknowledged message (empty; earlier: -> its msg key), whose
 *                                                   msg key has the same last part; an outgoing message is
 *                                                   delivered once its outbox entry is gone
 *   /megachat/seq/<peerId>                          the last sequence number given to a message to that peer
 *   /megachat/inseq/<peerId>                        the highest sequence number stored from that peer
 *   /megachat/clock                                 the last order number given to any message
 *   /megachat/room/<roomId>                          RoomRecord (JSON, holds the room secret)
 *   /megachat/roommsg/<roomId>/<timestamp:16>-<id>   StoredRoomMessage (JSON, with the sealed bytes)
 *   /megachat/roomid/<roomId>/<id>                   -> the roommsg key (replays are recognised forever)
 *   /megachat/call/<peerId>/<timestamp:16>-<id>      CallRecord (JSON): calls and missed calls, by start time
 *   /megachat/request/<peerId>                      MessageRequest (JSON): a non-contact who wrote to us
 *   /megachat/blocked/<peerId>                      Blocked (JSON)
 *   /megachat/file/<fileId>                         FileRecord (JSON): a file transfer either way, its state and
 *                                                   the verified bytes so far (stored about once a second while
 *                                                   fetching; the partial file is checked again on resume)
 *   /megachat/filehash/<fileId>                     the file's chunk hashes (32 bytes each, raw): the sender's,
 *                                                   and the receiver's once checked against the offer's manifest
 * Related writes go in one batch, so a crash never leaves a message without its index or outbox entry.
 *
 * Order: a conversation is shown in `order`, a number this device gives each message as it is sent or
 * stored on arrival: max(now in µs, last + 1), so it never goes backwards, not even across a restart or a
 * clock step (the last one is stored with every batch). A sender numbers its messages to each peer (`seq`)
 * and sends them oldest first on one stream, so arrival order is send order. Messages stored before
 * `order` existed are keyed and sorted by their timestamp (ms), which sorts before every µs order.
 *
 * Duplicates: a message whose seq is above the highest stored from its author cannot be stored yet, so
 * only the others (a resend after a lost ack, or a message without seq) are looked up by id.
 */
import { Key } from 'interface-datastore'
import { CorruptDataError } from '../errors.js'
import { Slab } from '../slab.js'
import { MessageRecord } from './pb/record.js'
import type { Batch, Datastore } from 'interface-datastore'

export interface Contact {
  peerId: string
  name: string
  addedAt: number
  /** last time a connection to the contact was open (ms), if ever */
  lastSeen?: number
}

/** Someone who is not a contact wrote to us: their messages wait for the user to accept (add) or block them. */
export interface MessageRequest {
  peerId: string
  /** when the first and the last of their messages arrived (ms) */
  firstAt: number
  lastAt: number
  /** messages and text (UTF-16 code units) held so far */
  messages: number
  chars: number
}

export interface Blocked {
  peerId: string
  blockedAt: number
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
  /** the author's number for it in this conversation (1, 2, …) */
  seq?: number
  /** this device's position of it in the conversation (see the header) */
  order?: number
  /** a file offered with the message: the transfer's id (chat.files.get) */
  file?: string
  /** the offer as it travels (base64 of FileOfferPb), kept so that the outbox can send it again */
  offer?: string
}

/** A file transfer as stored (src/files/index.ts); `FileTransfer` is what the UI sees of it. */
export interface FileRecord {
  /** 32 hex characters */
  id: string
  /** a contact's peer ID, or a room's id */
  conversation: string
  room: boolean
  /** who offered it */
  from: string
  direction: Direction
  name: string
  size: number
  type: string
  chunkSize: number
  /** hex of the offer's manifest */
  manifest: string
  /** rooms: base64 of the per-file key */
  key?: string
  thumbnail?: string
  state: string
  bytes: number
  path?: string
  error?: string
  createdAt: number
  /** the message that carried the offer */
  messageId?: string
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
  /** a file offered with the message: the transfer's id (chat.files.get) */
  file?: string
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

/** The first byte of a message record written as JSON (earlier versions); a MessageRecord never starts with it. */
const JSON_START = 0x7b
const NOTHING = new Uint8Array(0)
const MSG_PREFIX = '/megachat/msg/'
const OUTBOX_PREFIX = '/megachat/outbox/'

/**
 * A direct message's record (its peer and id are in its key): a MessageRecord (pb/record.proto), the bytes
 * protons writes, written by hand into `slab` (see src/slab.ts).
 */
function encodeMessage (m: StoredMessage, slab: Slab): Uint8Array {
  slab.start(64 + 3 * m.text.length + (m.file?.length ?? 0) + (m.offer?.length ?? 0))
  if (m.direction === 'in') slab.varint(0x08).varint(1)
  if (m.text.length > 0) slab.utf8Field(0x12, m.text)
  if (m.timestamp !== 0) slab.varint(0x18).varint(m.timestamp)
  if (m.receivedAt != null) slab.varint(0x20).varint(m.receivedAt)
  if (m.seq != null) slab.varint(0x28).varint(m.seq)
  if (m.order != null) slab.varint(0x30).varint(m.order)
  if (m.file != null) slab.utf8Field(0x3a, m.file)
  if (m.offer != null) slab.utf8Field(0x42, m.offer)
  return slab.end()
}

/**
 * A direct message from its key (`/megachat/msg/<peerId>/<order:16>-<id>`) and record: a MessageRecord, or
 * the JSON StoredMessage of earlier versions. An outgoing one is 'pending' (as written; history() and
 * getMessage() look at the outbox).
 */
function decodeMessage (key: string, bytes: Uint8Array): StoredMessage {
  if (bytes[0] === JSON_START) return parse<StoredMessage>(bytes, 'message')
  const slash = key.lastIndexOf('/')
  const dash = key.lastIndexOf('-')
  if (!key.startsWith(MSG_PREFIX) || slash <= MSG_PREFIX.length || dash < slash) throw new CorruptDataError('stored message key is corrupted')
  let r: MessageRecord
  try {
    r = MessageRecord.decode(bytes)
  } catch {
    throw new CorruptDataError('stored message is corrupted')
  }
  return {
    id: key.slice(dash + 1),
    peer: key.slice(MSG_PREFIX.length, slash),
    direction: r.incoming ? 'in' : 'out',
    text: dec.decode(r.text),
    timestamp: r.timestamp,
    ...(r.incoming ? {} : { state: 'pending' as const }),
    ...(r.receivedAt != null ? { receivedAt: r.receivedAt } : {}),
    ...(r.seq != null ? { seq: r.seq } : {}),
    ...(r.order != null ? { order: r.order } : {}),
    ...(r.file != null ? { file: r.file } : {}),
    ...(r.offer != null ? { offer: r.offer } : {})
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

/** A message's place in its conversation: its order, or (stored before there was one) its timestamp in µs. */
const orderOf = (m: StoredMessage): number => m.order ?? m.timestamp * 1000
/** Oldest first by order; ties (none from one device) by id. */
function byOrder (a: StoredMessage, b: StoredMessage): number {
  return orderOf(a) - orderOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

const pad = (n: number): string => Math.max(0, Math.floor(n)).toString().padStart(16, '0')
/** A key from parts that are clean already (peer IDs, hex ids, digits): Key's own clean-up is skipped. */
const cleanKey = (path: string): Key => new Key(path, false)
const contactKey = (peer: string): Key => cleanKey(`/megachat/contact/${peer}`)
const msgKey = (m: StoredMessage): Key => cleanKey(`/megachat/msg/${m.peer}/${pad(m.order ?? m.timestamp)}-${m.id}`)
const msgIdKey = (peer: string, id: string): Key => cleanKey(`/megachat/msgid/${peer}/${id}`)
const outboxKey = (m: StoredMessage): Key => cleanKey(`/megachat/outbox/${m.peer}/${pad(m.order ?? m.timestamp)}-${m.id}`)
const seqKey = (peer: string): Key => cleanKey(`/megachat/seq/${peer}`)
const inSeqKey = (peer: string): Key => cleanKey(`/megachat/inseq/${peer}`)
const CLOCK_KEY = cleanKey('/megachat/clock')
const requestKey = (peer: string): Key => cleanKey(`/megachat/request/${peer}`)
const blockedKey = (peer: string): Key => cleanKey(`/megachat/blocked/${peer}`)
const callKey = (c: CallRecord): Key => cleanKey(`/megachat/call/${c.peer}/${pad(c.timestamp)}-${c.id}`)
const roomKey = (roomId: string): Key => cleanKey(`/megachat/room/${roomId}`)
const roomMsgKey = (roomId: string, m: RoomItem): Key => cleanKey(`/megachat/roommsg/${roomId}/${pad(m.timestamp)}-${m.id}`)
const roomMsgIdKey = (roomId: string, id: string): Key => cleanKey(`/megachat/roomid/${roomId}/${id}`)
const fileKey = (id: string): Key => cleanKey(`/megachat/file/${id}`)
const fileHashKey = (id: string): Key => cleanKey(`/megachat/filehash/${id}`)

export interface ChatStoreOptions {
  /**
   * The datastore copies the values it is given as it writes them (LevelDB does): then message records
   * are views of shared buffers (src/slab.ts). Else each is copied out first: IndexedDB would store a
   * view's whole buffer, and a MemoryDatastore would keep it alive.
   */
  copiesValues?: boolean
}

export class ChatStore {
  /** adds under way, by key: "add if absent" must hold when the same message arrives twice at once */
  private readonly adding = new Map<string, Promise<boolean>>()
  /** where message records and index entries are encoded */
  private readonly slab = new Slab()
  private readonly copiesValues: boolean

  constructor (readonly datastore: Datastore, options: ChatStoreOptions = {}) {
    this.copiesValues = options.copiesValues === true
  }

  /** A value encoded in the slab, as the datastore may take it. */
  private value (view: Uint8Array): Uint8Array {
    return this.copiesValues ? view : view.slice()
  }

  /** A message's record, and its id index entry (the key of the record). */
  private putMessage (batch: Batch, m: StoredMessage): Key {
    const key = msgKey(m)
    const path = key.toString()
    batch.put(key, this.value(encodeMessage(m, this.slab)))
    batch.put(msgIdKey(m.peer, m.id), this.value(this.slab.start(3 * path.length).utf8(path).end()))
    return key
  }

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
    return await this.list<Contact>('/megachat/contact/', 'contact')
  }

  /** Every JSON record under a prefix. */
  private async list<T> (prefix: string, what: string): Promise<T[]> {
    const out: T[] = []
    for await (const { value } of this.datastore.query({ prefix })) out.push(parse<T>(value, what))
    return out
  }

  // ---- message requests and blocked peers

  async listRequests (): Promise<MessageRequest[]> {
    return await this.list<MessageRequest>('/megachat/request/', 'message request')
  }

  async deleteRequest (peer: string): Promise<void> {
    await this.datastore.delete(requestKey(peer))
  }

  async listBlocked (): Promise<Blocked[]> {
    return await this.list<Blocked>('/megachat/blocked/', 'blocked peer')
  }

  /**
   * Blocks a peer in one batch: the blocked record, and the conversation forgotten (messages, what waits
   * in the outbox for them, their message request). Their contact, if any, is left to the caller.
   */
  async block (b: Blocked): Promise<void> {
    await this.inTurn(async () => {
      const batch = this.datastore.batch()
      batch.put(blockedKey(b.peerId), json(b))
      batch.delete(requestKey(b.peerId))
      for (const prefix of [`/megachat/msg/${b.peerId}/`, `/megachat/msgid/${b.peerId}/`, `/megachat/outbox/${b.peerId}/`]) {
        for await (const key of this.datastore.queryKeys({ prefix })) batch.delete(key)
      }
      await batch.commit()
    })
  }

  async unblock (peer: string): Promise<void> {
    await this.datastore.delete(blockedKey(peer))
  }

  // ---- messages

  /** the last order given, once read from the store */
  private clock?: number
  /** the last seq given per peer, once read from the store */
  private readonly seqs = new Map<string, number>()
  /** the highest seq stored from each peer, once read from the store */
  private readonly inSeqs = new Map<string, number>()
  /** writes of messages in flight, so that orders and seqs are taken in turn */
  private writing: Promise<unknown> = Promise.resolve()

  /** Runs `fn` after the message writes before it (orders and seqs are handed out in write order). */
  private async inTurn<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn)
    this.writing = run.catch(() => {})
    return await run
  }

  /** A stored counter (0 when there is none yet). */
  private async counter (key: Key): Promise<number> {
    try {
      const n = Number(dec.decode(await this.datastore.get(key)))
      return Number.isSafeInteger(n) ? n : 0
    } catch (err: any) {
      if (err.name !== 'NotFoundError') throw err
      return 0
    }
  }

  /** Reads the counters a batch needs that are not in memory yet. */
  private async loadCounters (peers: Iterable<string>): Promise<void> {
    this.clock ??= await this.counter(CLOCK_KEY)
    for (const peer of peers) if (!this.seqs.has(peer)) this.seqs.set(peer, await this.counter(seqKey(peer)))
  }

  /** The next order (loadCounters first). */
  private nextOrder (): number {
    this.clock = Math.max(Date.now() * 1000, (this.clock ?? 0) + 1)
    return this.clock
  }

  /** The next seq to a peer (loadCounters first). */
  private nextSeq (peer: string): number {
    const seq = (this.seqs.get(peer) ?? 0) + 1
    this.seqs.set(peer, seq)
    return seq
  }

  /**
   * Stores outgoing messages with their outbox entries in one batch, giving each its seq (per peer) and
   * order; the messages are updated in place. Counters are read again from the store if the batch fails.
   */
  async addOutgoing (...messages: StoredMessage[]): Promise<void> {
    await this.inTurn(async () => {
      const batch = this.datastore.batch()
      const peers = new Set(messages.map(m => m.peer))
      try {
        await this.loadCounters(peers)
        for (const m of messages) {
          m.seq = this.nextSeq(m.peer)
          m.order = this.nextOrder()
          this.putMessage(batch, m)
          batch.put(outboxKey(m), NOTHING)
        }
        for (const peer of peers) batch.put(seqKey(peer), enc.encode(String(this.seqs.get(peer))))
        batch.put(CLOCK_KEY, enc.encode(String(this.clock)))
        await batch.commit()
      } catch (err) {
        this.seqs.clear()
        this.clock = undefined
        throw err
      }
    })
  }

  /**
   * Stores incoming messages from one peer, in the order given, leaving out any whose id is stored
   * already. Returns the new ones (with their order set). With `request`, the author's message request is
   * written in the same batch (when any message is new).
   */
  async addIncoming (peer: string, messages: StoredMessage[], request?: MessageRequest): Promise<StoredMessage[]> {
    return await this.inTurn(async () => {
      let high = this.inSeqs.get(peer) ?? await this.counter(inSeqKey(peer))
      const known = await Promise.all(messages.map(async m => (m.seq == null || m.seq <= high) && await this.datastore.has(msgIdKey(peer, m.id))))
      const fresh: StoredMessage[] = []
      const seen = new Set<string>()
      for (const [i, m] of messages.entries()) {
        if (known[i] || seen.has(m.id) || m.peer !== peer) continue
        seen.add(m.id)
        fresh.push(m)
      }
      if (fresh.length === 0) return fresh
      const batch = this.datastore.batch()
      try {
        await this.loadCounters([])
        for (const m of fresh) {
          m.order = this.nextOrder()
          if (m.seq != null && m.seq > high) high = m.seq
          this.putMessage(batch, m)
        }
        batch.put(inSeqKey(peer), enc.encode(String(high)))
        batch.put(CLOCK_KEY, enc.encode(String(this.clock)))
        if (request != null) batch.put(requestKey(peer), json(request))
        await batch.commit()
        this.inSeqs.set(peer, high)
      } catch (err) {
        this.clock = undefined
        this.inSeqs.delete(peer)
        throw err
      }
      return fresh
    })
  }

  async getMessage (peer: string, id: string): Promise<StoredMessage | undefined> {
    try {
      const stored = cleanKey(dec.decode(await this.datastore.get(msgIdKey(peer, id))))
      const m = decodeMessage(stored.toString(), await this.datastore.get(stored))
      if (m.direction === 'out') m.state = await this.datastore.has(outboxKey(m)) ? 'pending' : 'delivered'
      return m
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  /**
   * Marks outgoing messages (as sent, from the outbox) delivered: takes them out of the outbox, in one
   * batch. Returns the updated messages.
   */
  async markDelivered (messages: StoredMessage[]): Promise<StoredMessage[]> {
    const updated: StoredMessage[] = []
    const batch = this.datastore.batch()
    for (const m of messages) {
      if (m.direction !== 'out' || m.state === 'delivered') continue
      batch.delete(outboxKey(m))
      updated.push({ ...m, state: 'delivered' })
    }
    if (updated.length > 0) await batch.commit()
    return updated
  }

  /** The last `limit` messages with a peer, oldest first. */
  async history (peer: string, limit = 50): Promise<StoredMessage[]> {
    const all: StoredMessage[] = []
    for await (const { key, value } of this.datastore.query({ prefix: `${MSG_PREFIX}${peer}/` })) {
      all.push(decodeMessage(key.toString(), value))
    }
    all.sort(byOrder)
    const last = all.slice(Math.max(0, all.length - limit))
    const pending = new Set<string>()
    for await (const key of this.datastore.queryKeys({ prefix: `/megachat/outbox/${peer}/` })) pending.add(key.toString())
    for (const m of last) if (m.direction === 'out') m.state = pending.has(outboxKey(m).toString()) ? 'pending' : 'delivered'
    return last
  }

  /** Unacknowledged messages to a peer, oldest first: the first `limit` of them (of those after `after`). */
  async outbox (peer: string, limit = Infinity, after?: StoredMessage): Promise<StoredMessage[]> {
    // an outbox key ends in the message's zero-padded order, so key order is send order
    const from = after != null ? outboxKey(after).toString() : ''
    const entries: Array<{ key: string, value: Uint8Array }> = []
    for await (const { key, value } of this.datastore.query({ prefix: `${OUTBOX_PREFIX}${peer}/` })) {
      const k = key.toString()
      if (k > from) entries.push({ key: k, value })
    }
    entries.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    const out: StoredMessage[] = []
    for (const { key, value } of entries.slice(0, limit)) {
      // the message's key: the outbox key's last part under its peer's messages (an earlier version wrote it as the value)
      const stored = value.byteLength > 0 ? dec.decode(value) : MSG_PREFIX + key.slice(OUTBOX_PREFIX.length)
      try {
        out.push(decodeMessage(stored, await this.datastore.get(cleanKey(stored))))
      } catch (err: any) {
        if (err.name !== 'NotFoundError') throw err
      }
    }
    return out.sort(byOrder)
  }

  /** How many messages to a peer wait in the outbox (keys only). */
  async outboxCount (peer: string): Promise<number> {
    let n = 0
    for await (const _ of this.datastore.queryKeys({ prefix: `/megachat/outbox/${peer}/` })) n++
    return n
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
    return await this.list<RoomRecord>('/megachat/room/', 'room')
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

  // ---- files

  /** Stores a transfer (with its chunk hashes, when given, in the same batch). */
  async putFile (record: FileRecord, hashes?: Uint8Array): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(record.id)) throw new CorruptDataError('bad file id')
    const batch = this.datastore.batch()
    batch.put(fileKey(record.id), json(record))
    if (hashes != null) batch.put(fileHashKey(record.id), hashes)
    await batch.commit()
  }

  async listFiles (): Promise<FileRecord[]> {
    return await this.list<FileRecord>('/megachat/file/', 'file')
  }

  async fileHashes (id: string): Promise<Uint8Array | undefined> {
    try {
      return await this.datastore.get(fileHashKey(id))
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
