/**
 * Persistence for contacts, conversations and the outbox, behind one interface over any
 * interface-datastore Datastore: LevelDB in Node, IndexedDB in the browser, memory in tests.
 * libp2p shares the same datastore (peer store, DHT records) under its own prefixes.
 *
 * Keys
 *   /megachat/contact/<peerId>                      Contact (JSON)
 *   /megachat/msg/<peerId>/<order:16>-<id>          MessageRecord (protobuf, pb/record.proto; JSON StoredMessage
 *                                                   before that, still read), in conversation order
 *   /megachat/msgid/<peerId>/<id>                   -> the msg key of a message received (dedupe and lookup by
 *                                                   id; earlier versions wrote it for messages sent too)
 *   /megachat/seq/<peerId>                          the last sequence number given to a message to that peer
 *   /megachat/acked/<peerId>                        `<seq> <place>`: every message to that peer numbered up to seq
 *                                                   is delivered, and the last of them sorts at place (the number
 *                                                   in its msg key); those waiting are the ones after it
 *   /megachat/outbox/<peerId>/<order:16>-<id>       an unacknowledged message without a seq (written by versions
 *                                                   before seq; empty or -> its msg key), whose msg key has the
 *                                                   same last part; delivered once its entry is gone
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
 *
 * The outbox is a mark, not an entry per message: a sender delivers its messages to a peer oldest first
 * on one stream, and the recipient acknowledges them in the order they came, so what is delivered is
 * always the first ones by seq, and one number per peer (`acked`) says which. Sending a message writes
 * its record alone, an ack one mark. (Outbox entries of the version before it are taken over into a mark
 * the first time a peer's mark is needed.)
 */
import { CorruptDataError } from '../errors.js'
import { Slab } from '../slab.js'
import { CLOCK_KEY, CLOCK_PATH, MSG_PREFIX, OUTBOX_PREFIX, ackedKey, ackedPath, byOrder, cleanKey, dec, enc, inSeqKey, inSeqPath, json, msgIdKey, msgIdPath, msgPath, outboxKey, outboxPath, pad, placeOf, requestKey, requestPath, SEQ_PREFIX, seqKey, seqPath, blockedKey } from './keys.js'
import { decodeMessage, encodeMessage } from './message-codec.js'
import { RecordStore } from './records.js'
import type { Blocked, MessageRequest, StoredMessage } from './types.js'
import type { Datastore, Key } from 'interface-datastore'

export type { Contact, MessageRequest, Blocked, Direction, DeliveryState, StoredMessage, FileRecord, RoomRecord, RoomItem, StoredRoomMessage, CallOutcome, CallRecord } from './types.js'
export { byTime } from './keys.js'

export interface ChatStoreOptions {
  /**
   * The datastore copies the values it is given as it writes them (LevelDB does): then message records
   * are views of shared buffers (src/slab.ts). Else each is copied out first: IndexedDB would store a
   * view's whole buffer, and a MemoryDatastore would keep it alive.
   */
  copiesValues?: boolean
  /**
   * A batch on the database behind the datastore that takes keys as paths (the strings Keys hold), such
   * as LevelDB's own: the direct messages' writes skip a Key per entry, which turns each path into bytes
   * and back (most of a burst's key cost). Writes the same entries as the datastore's batch would.
   */
  pathBatch?: () => PathBatch
  /**
   * Entries under a prefix read as a key range of the database (LevelDB's iterator): a conversation's, a
   * room's or the calls' history reads the last records from the end, the outbox the messages after the
   * last one delivered; each reads the records it returns, not every one under the prefix. Without it,
   * every entry under the prefix is read and the range kept.
   */
  readRange?: ReadRange
}

/** Which entries under a prefix to read: of those after the key `after` (all without it), the first `limit`, or the `last` `limit`. */
export interface Range { limit: number, after?: string, last?: boolean }

/** Entries under a key prefix in key order (oldest first), keys as paths. */
export type ReadRange = (prefix: string, range: Range) => Promise<Array<{ key: string, value: Uint8Array }>>

/** A batch of writes whose keys are clean paths (`/megachat/...`). */
export interface PathBatch {
  put(path: string, value: Uint8Array): void
  delete(path: string): void
  commit(): Promise<void>
}

/** The store: direct messages, their order and outbox, here; the other records in RecordStore (./records.ts). */
export class ChatStore extends RecordStore {
  /** where message records and index entries are encoded */
  private readonly slab = new Slab()
  private readonly copiesValues: boolean
  private readonly pathBatch: () => PathBatch

  constructor (datastore: Datastore, options: ChatStoreOptions = {}) {
    super(datastore, options.readRange)
    this.copiesValues = options.copiesValues === true
    this.pathBatch = options.pathBatch ?? (() => {
      const batch = datastore.batch()
      return {
        put: (path, value) => { batch.put(cleanKey(path), value) },
        delete: (path) => { batch.delete(cleanKey(path)) },
        commit: async () => { await batch.commit() }
      }
    })
  }

  /** A value encoded in the slab, as the datastore may take it. */
  private value (view: Uint8Array): Uint8Array {
    return this.copiesValues ? view : view.slice()
  }

  /** A message's record, and for one received its id index entry (the key of the record). */
  private putMessage (batch: PathBatch, m: StoredMessage): void {
    const path = msgPath(m)
    batch.put(path, this.value(encodeMessage(m, this.slab)))
    if (m.direction === 'in') batch.put(msgIdPath(m.peer, m.id), this.value(this.slab.start(3 * path.length).utf8(path).end()))
  }

  // ---- blocking (the conversation goes with it)

  /**
   * Blocks a peer in one batch: the blocked record, and the conversation forgotten (messages, what waits
   * in the outbox for them, their message request). Their contact, if any, is left to the caller.
   */
  async block (b: Blocked): Promise<void> {
    await this.inTurn(async () => {
      await this.loadCounters([b.peerId])
      const batch = this.datastore.batch()
      batch.put(blockedKey(b.peerId), json(b))
      batch.delete(requestKey(b.peerId))
      for (const prefix of [`${MSG_PREFIX}${b.peerId}/`, `/megachat/msgid/${b.peerId}/`, `${OUTBOX_PREFIX}${b.peerId}/`]) {
        for await (const key of this.datastore.queryKeys({ prefix })) batch.delete(key)
      }
      // nothing waits any more
      const acked = { seq: this.seqs.get(b.peerId) ?? 0, place: this.clock ?? 0 }
      batch.put(ackedKey(b.peerId), encodeAcked(acked))
      await batch.commit()
      this.acks.set(b.peerId, acked)
    })
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
  /** what each peer has acknowledged of ours, once read from the store */
  private readonly acks = new Map<string, Acked>()
  /** acks being stored, in turn (a mark written later is never overwritten by one computed before it) */
  private marking: Promise<unknown> = Promise.resolve()

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

  /** What a peer has acknowledged of ours (read once; taken over from an earlier version's outbox). */
  private async ackedOf (peer: string): Promise<Acked> {
    return this.acks.get(peer) ?? await this.inTurn(async () => await this.loadAcked(peer))
  }

  /** ackedOf, in turn with the message writes. */
  private async loadAcked (peer: string): Promise<Acked> {
    const known = this.acks.get(peer)
    if (known != null) return known
    let acked: Acked
    try {
      acked = decodeAcked(await this.datastore.get(ackedKey(peer)))
    } catch (err: any) {
      if (err.name !== 'NotFoundError') throw err
      acked = await this.adoptOutbox(peer)
    }
    this.acks.set(peer, acked)
    return acked
  }

  /**
   * The mark of a peer who has none: every message to them was delivered, except those with outbox
   * entries an earlier version wrote. Those with a seq are covered by the mark from now on (everything
   * before the first of them was delivered) and their entries go; those without stay entries.
   */
  private async adoptOutbox (peer: string): Promise<Acked> {
    await this.loadCounters([peer])
    let first: StoredMessage | undefined
    const batch = this.pathBatch()
    for (const { path, message } of await this.outboxEntries(peer, Infinity)) {
      if (message.seq == null) continue
      if (first?.seq == null || message.seq < first.seq) first = message
      batch.delete(path)
    }
    const acked = first?.seq != null
      ? { seq: first.seq - 1, place: placeOf(first) - 1 }
      : { seq: this.seqs.get(peer) ?? 0, place: this.clock ?? 0 }
    batch.put(ackedPath(peer), encodeAcked(acked))
    await batch.commit()
    return acked
  }

  /** The last seq given to a message to the peer (stored, or about to be). */
  private async lastSeq (peer: string): Promise<number> {
    return this.seqs.get(peer) ?? await this.counter(seqKey(peer))
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
      const batch = this.pathBatch()
      const peers = new Set(messages.map(m => m.peer))
      try {
        await this.loadCounters(peers)
        // a peer's mark is there before the first message after it (one taken over later would cover it)
        for (const peer of peers) await this.loadAcked(peer)
        for (const m of messages) {
          m.seq = this.nextSeq(m.peer)
          m.order = this.nextOrder()
          this.putMessage(batch, m)
        }
        for (const peer of peers) batch.put(seqPath(peer), enc.encode(String(this.seqs.get(peer))))
        batch.put(CLOCK_PATH, enc.encode(String(this.clock)))
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
      // only a message at or below the highest seq stored (or without one) may be stored already
      const known = new Set<string>()
      await Promise.all(messages.filter(m => m.seq == null || m.seq <= high).map(async m => {
        if (await this.datastore.has(msgIdKey(peer, m.id))) known.add(m.id)
      }))
      const fresh: StoredMessage[] = []
      const seen = new Set<string>()
      for (const m of messages) {
        if (known.has(m.id) || seen.has(m.id) || m.peer !== peer) continue
        seen.add(m.id)
        fresh.push(m)
      }
      if (fresh.length === 0) return fresh
      const batch = this.pathBatch()
      try {
        await this.loadCounters([])
        for (const m of fresh) {
          m.order = this.nextOrder()
          if (m.seq != null && m.seq > high) high = m.seq
          this.putMessage(batch, m)
        }
        batch.put(inSeqPath(peer), enc.encode(String(high)))
        batch.put(CLOCK_PATH, enc.encode(String(this.clock)))
        if (request != null) batch.put(requestPath(peer), json(request))
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

  /** A message by its id (one we sent is looked for among the conversation's keys: it has no id entry). */
  async getMessage (peer: string, id: string): Promise<StoredMessage | undefined> {
    let path: string | undefined
    try {
      path = dec.decode(await this.datastore.get(msgIdKey(peer, id)))
    } catch (err: any) {
      if (err.name !== 'NotFoundError') throw err
      for await (const key of this.datastore.queryKeys({ prefix: `${MSG_PREFIX}${peer}/` })) {
        if (key.toString().endsWith(`-${id}`)) {
          path = key.toString()
          break
        }
      }
    }
    if (path == null) return undefined
    try {
      const [m] = await this.withState(peer, [decodeMessage(path, await this.datastore.get(cleanKey(path)))])
      return m
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  /** Our messages' delivery state (as read from their records they are all 'pending'). */
  private async withState (peer: string, messages: StoredMessage[]): Promise<StoredMessage[]> {
    const ours = messages.filter(m => m.direction === 'out')
    const acked = ours.some(m => m.seq != null) ? await this.ackedOf(peer) : undefined
    await Promise.all(ours.map(async (m) => {
      const waiting = m.seq != null ? m.seq > (acked?.seq ?? 0) : await this.datastore.has(outboxKey(m))
      m.state = waiting ? 'pending' : 'delivered'
    }))
    return messages
  }

  /**
   * Marks outgoing messages (as sent, from the outbox) delivered, as their recipient acknowledged them:
   * moves each peer's mark past them, in one batch. Only the next ones in order move it (the sender
   * delivers in order; one after a gap is sent again after the one before it). Returns the messages
   * newly delivered.
   */
  async markDelivered (messages: StoredMessage[]): Promise<StoredMessage[]> {
    const run = this.marking.then(async () => {
      const updated: StoredMessage[] = []
      const marks = new Map<string, Acked>()
      const batch = this.pathBatch()
      const ours = messages.filter(m => m.direction === 'out' && m.state !== 'delivered')
      for (const m of ours.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
        if (m.seq == null) {
          batch.delete(outboxPath(m))
        } else {
          const acked = marks.get(m.peer) ?? await this.ackedOf(m.peer)
          if (m.seq !== acked.seq + 1) continue
          marks.set(m.peer, { seq: m.seq, place: placeOf(m) })
        }
        updated.push({ ...m, state: 'delivered' })
      }
      for (const [peer, acked] of marks) batch.put(ackedPath(peer), encodeAcked(acked))
      if (updated.length > 0) await batch.commit()
      for (const [peer, acked] of marks) this.acks.set(peer, acked)
      return updated.sort(byOrder)
    })
    this.marking = run.catch(() => {})
    return await run
  }

  /** The last `limit` messages with a peer, oldest first. */
  async history (peer: string, limit = 50): Promise<StoredMessage[]> {
    // the keys sort as the conversation does (by order; records older than order by their timestamp,
    // before every order): the last keys are the last messages, whatever the conversation's length
    const last = (await this.readRange(`${MSG_PREFIX}${peer}/`, { limit, last: true })).map(({ key, value }) => decodeMessage(key, value))
    return await this.withState(peer, last.sort(byOrder))
  }

  /** Unacknowledged messages to a peer, oldest first: the first `limit` of them (of those after `after`). */
  async outbox (peer: string, limit = Infinity, after?: StoredMessage): Promise<StoredMessage[]> {
    const acked = await this.ackedOf(peer)
    // how many with a seq wait: the read stops once it has them (what the peer sent after them is not read)
    const wanted = Math.min(limit, await this.lastSeq(peer) - acked.seq)
    const prefix = `${MSG_PREFIX}${peer}/`
    // the conversation after the last message delivered ('.' sorts after '-', before the digits)
    const past = `${prefix}${pad(acked.place)}.`
    const next = after != null ? msgPath(after) : ''
    let from = next > past ? next : past
    const out: StoredMessage[] = []
    while (out.length < wanted) {
      const want = wanted - out.length
      const page = await this.readRange(prefix, { after: from, limit: want })
      for (const { key, value } of page) {
        const m = decodeMessage(key, value)
        if (m.direction === 'out' && m.seq != null && m.seq > acked.seq) out.push(m)
      }
      if (page.length < want) break
      from = page[page.length - 1].key
    }
    // and those from before seq, which have outbox entries
    for (const { message } of await this.outboxEntries(peer, limit, after)) if (message.seq == null) out.push(message)
    return out.sort(byOrder).slice(0, limit)
  }

  /** The outbox entries of an earlier version for a peer (after `after`), with their messages, in order. */
  private async outboxEntries (peer: string, limit: number, after?: StoredMessage): Promise<Array<{ path: string, message: StoredMessage }>> {
    const out: Array<{ path: string, message: StoredMessage }> = []
    const entries = await this.readRange(`${OUTBOX_PREFIX}${peer}/`, { limit, ...(after != null ? { after: outboxPath(after) } : {}) })
    for (const { key, value } of entries) {
      // the message's key: the entry's last part under its peer's messages (an earlier version wrote it as the value)
      const stored = value.byteLength > 0 ? dec.decode(value) : MSG_PREFIX + key.slice(OUTBOX_PREFIX.length)
      try {
        out.push({ path: key, message: decodeMessage(stored, await this.datastore.get(cleanKey(stored))) })
      } catch (err: any) {
        if (err.name !== 'NotFoundError') throw err
      }
    }
    return out
  }

  /** How many messages to a peer wait to be delivered. */
  async outboxCount (peer: string): Promise<number> {
    const acked = await this.ackedOf(peer)
    const seq = await this.lastSeq(peer)
    let old = 0
    for await (const _ of this.datastore.queryKeys({ prefix: `${OUTBOX_PREFIX}${peer}/` })) old++
    return Math.max(0, seq - acked.seq) + old
  }

  /** Peers that have unacknowledged messages waiting. */
  async outboxPeers (): Promise<string[]> {
    const peers = new Set<string>()
    const seqs: Array<[string, number]> = []
    for await (const { key, value } of this.datastore.query({ prefix: SEQ_PREFIX })) {
      seqs.push([key.toString().slice(SEQ_PREFIX.length), Number(dec.decode(value))])
    }
    for (const [peer, stored] of seqs) {
      if (Math.max(stored, this.seqs.get(peer) ?? 0) > (await this.ackedOf(peer)).seq) peers.add(peer)
    }
    for await (const key of this.datastore.queryKeys({ prefix: OUTBOX_PREFIX })) {
      peers.add(key.toString().split('/')[3])
    }
    return [...peers]
  }
}

/** What a peer has acknowledged of ours: every message numbered up to `seq`; the last sorts at `place`. */
interface Acked { seq: number, place: number }

const encodeAcked = (a: Acked): Uint8Array => enc.encode(`${a.seq} ${a.place}`)

function decodeAcked (bytes: Uint8Array): Acked {
  const [seq, place] = dec.decode(bytes).split(' ').map(Number)
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(place)) throw new CorruptDataError('stored delivery mark is corrupted')
  return { seq, place }
}
