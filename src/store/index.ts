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
import { Slab } from '../slab.js'
import { CLOCK_KEY, CLOCK_PATH, MSG_PREFIX, NOTHING, OUTBOX_PREFIX, byOrder, cleanKey, dec, enc, inSeqKey, inSeqPath, json, msgIdKey, msgIdPath, msgPath, outboxKey, outboxPath, requestKey, requestPath, seqKey, seqPath, blockedKey } from './keys.js'
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
   * The last `limit` entries under a prefix, oldest first, read from the end of the database (LevelDB's
   * reverse iterator): a conversation's, a room's or the calls' history reads the records it returns, not
   * every one before them. Without it, every entry under the prefix is read and the last ones kept.
   */
  lastEntries?: LastEntries
}

/** The last `limit` entries under a key prefix, in key order (oldest first); keys as paths. */
export type LastEntries = (prefix: string, limit: number) => Promise<Array<{ key: string, value: Uint8Array }>>

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
    super(datastore, options.lastEntries)
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

  /** A message's record, and its id index entry (the key of the record). */
  private putMessage (batch: PathBatch, m: StoredMessage): void {
    const path = msgPath(m)
    batch.put(path, this.value(encodeMessage(m, this.slab)))
    batch.put(msgIdPath(m.peer, m.id), this.value(this.slab.start(3 * path.length).utf8(path).end()))
  }

  // ---- blocking (the conversation goes with it)

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
      const batch = this.pathBatch()
      const peers = new Set(messages.map(m => m.peer))
      try {
        await this.loadCounters(peers)
        for (const m of messages) {
          m.seq = this.nextSeq(m.peer)
          m.order = this.nextOrder()
          this.putMessage(batch, m)
          batch.put(outboxPath(m), NOTHING)
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
    const batch = this.pathBatch()
    for (const m of messages) {
      if (m.direction !== 'out' || m.state === 'delivered') continue
      batch.delete(outboxPath(m))
      updated.push({ ...m, state: 'delivered' })
    }
    if (updated.length > 0) await batch.commit()
    return updated
  }

  /** The last `limit` messages with a peer, oldest first. */
  async history (peer: string, limit = 50): Promise<StoredMessage[]> {
    // the keys sort as the conversation does (by order; records older than order by their timestamp,
    // before every order): the last keys are the last messages, whatever the conversation's length
    const last = (await this.lastEntries(`${MSG_PREFIX}${peer}/`, limit)).map(({ key, value }) => decodeMessage(key, value))
    last.sort(byOrder)
    // what of ours waits in the outbox: looked up for these messages alone, not the whole outbox
    await Promise.all(last.map(async (m) => {
      if (m.direction === 'out') m.state = await this.datastore.has(outboxKey(m)) ? 'pending' : 'delivered'
    }))
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
}
