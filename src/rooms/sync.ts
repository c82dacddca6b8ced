/**
 * Room history sync: `/megachat/room-sync/2.0.0`.
 *
 * A member that joins, comes back or restarts asks each member it meets for the messages it lacks. The
 * request carries an HMAC that proves knowledge of the room secret and is bound to both peer IDs of the
 * (Noise-authenticated) connection; a peer that cannot prove membership gets the same empty summary as
 * one asking for a room the responder does not have, so nothing is learnt either way.
 *
 * Nothing is sent twice that the asker holds: the responder summarises its newest SYNC_MAX_MESSAGES
 * messages as ranges of SYNC_RANGE_ITEMS items (an item is a message's timestamp and id, the order the
 * store keeps), each with a count and a fingerprint; the asker compares them with its own items in the
 * same bounds, asks for whole ranges it has nothing of and for the item lists of the others that
 * differ, then for the messages it lacks. Two members in step exchange one summary (about 2 kB) and a
 * want. Messages come newest first, exactly as they were published: the asker opens and verifies each
 * itself, so a responder cannot forge or alter history, only withhold it.
 *
 * Bounds, both ways: every frame has a size cap; the asker refuses (and counts) a summary that breaks
 * the rules, an item list that does not match its range, any message it did not ask for and more than
 * SYNC_MAX_BYTES of messages in one exchange; the responder stops at SYNC_MAX_BYTES and says there is
 * more, and the asker asks again. Each exchange has one timeout; each connection at most four streams.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { sha256 } from '@noble/hashes/sha2.js'
import { equals } from 'uint8arrays/equals'
import { fromString as fromHex } from 'uint8arrays/from-string'
import { toString as toHex } from 'uint8arrays/to-string'
import { roomSyncAuth, MAX_ROOM_MESSAGE_BYTES, ROOM_MESSAGE_ID_BYTES } from '../crypto/room.js'
import { ProtocolViolationError } from '../errors.js'
import { boundedPbStream } from '../node/frames.js'
import { byTime } from '../store/index.js'
import { SyncFrame, SyncItems, SyncRequest, SyncSummary, SyncWant } from './pb/room.js'
import type { RoomKeys } from '../crypto/room.js'
import type { RoomItem } from '../store/index.js'
import type { SyncRange } from './pb/room.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export const ROOM_SYNC_PROTOCOL = '/megachat/room-sync/2.0.0'
/** The newest this many messages of a room are what one member offers another: the cap on history sync. */
export const SYNC_MAX_MESSAGES = 10_000
/** Items per range of a summary. */
export const SYNC_RANGE_ITEMS = 250
/** Bytes of sealed messages one exchange carries at most; the rest comes in the next. */
export const SYNC_MAX_BYTES = 4 * 1024 * 1024
/** One exchange, start to end. */
export const SYNC_TIMEOUT_MS = 30_000
const MAX_RANGES = Math.ceil(SYNC_MAX_MESSAGES / SYNC_RANGE_ITEMS)
const ITEM_BYTES = 8 + ROOM_MESSAGE_ID_BYTES
const FINGERPRINT_BYTES = 16
/** items per want frame */
const WANT_ITEMS = SYNC_RANGE_ITEMS
/** want frames after the first: enough to ask for every item of every range */
const MAX_ITEM_WANTS = Math.ceil(SYNC_MAX_MESSAGES / WANT_ITEMS)
/** the asker's frames: a request or a want (each item costs its bytes and two of framing) */
const MAX_ASK_FRAME_BYTES = 2 * MAX_RANGES * 4 + WANT_ITEMS * (ITEM_BYTES + 2) + 16
/** the responder's frames: the largest is a message with its item (a summary is about 2 kB, an item list 6.5 kB) */
const MAX_ANSWER_FRAME_BYTES = MAX_ROOM_MESSAGE_BYTES + ITEM_BYTES + 16

/** what an answer that breaks the rules throws (ours, for a frame that does not decode too; a frame or prefix over its cap) */
const REFUSALS = new Set([ProtocolViolationError.name, 'InvalidDataLengthError', 'InvalidDataLengthLengthError'])

// ---- items and fingerprints (pure)

/** An item on the wire: the timestamp as uint64 big-endian, then the id. */
export function encodeItem (item: RoomItem): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(ITEM_BYTES)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(item.timestamp))
  bytes.set(fromHex(item.id, 'base16'), 8)
  return bytes
}

/** An item from the wire, or undefined if it is not one. */
export function decodeItem (bytes: Uint8Array): RoomItem | undefined {
  if (bytes.byteLength !== ITEM_BYTES) return undefined
  const timestamp = new DataView(bytes.buffer, bytes.byteOffset, ITEM_BYTES).getBigUint64(0)
  if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  return { timestamp: Number(timestamp), id: toHex(bytes.subarray(8), 'base16') }
}

/** The fingerprint of items in order: the first 16 bytes of SHA-256 over their encodings. */
export function fingerprint (items: RoomItem[]): Uint8Array<ArrayBuffer> {
  const hash = sha256.create()
  for (const item of items) hash.update(encodeItem(item))
  return hash.digest().slice(0, FINGERPRINT_BYTES)
}

/** Splits items (oldest first) into a summary's ranges. */
export function summarize (items: RoomItem[]): { first?: RoomItem, ranges: Array<{ last: RoomItem, items: RoomItem[] }> } {
  const ranges: Array<{ last: RoomItem, items: RoomItem[] }> = []
  for (let i = 0; i < items.length; i += SYNC_RANGE_ITEMS) {
    const slice = items.slice(i, i + SYNC_RANGE_ITEMS)
    ranges.push({ last: slice[slice.length - 1], items: slice })
  }
  return { first: items[0], ranges }
}

/** A summary's ranges as bounds: range i holds the items after bounds[i] (or from `first`) up to bounds[i + 1]. */
interface Bounds {
  first: RoomItem
  lasts: RoomItem[]
}

/** Which range an item falls in, or -1. */
function rangeOf (bounds: Bounds, item: RoomItem): number {
  if (byTime(item, bounds.first) < 0) return -1
  let lo = 0
  let hi = bounds.lasts.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (byTime(item, bounds.lasts[mid]) <= 0) hi = mid
    else lo = mid + 1
  }
  return lo < bounds.lasts.length ? lo : -1
}

/** Checks a summary from the wire; throws ProtocolViolationError if it breaks the rules. */
function readSummary (summary: SyncSummary): { bounds?: Bounds, ranges: SyncRange[] } {
  if (summary.ranges.length === 0) return { ranges: [] }
  const first = decodeItem(summary.first)
  if (first == null || summary.ranges.length > MAX_RANGES) throw new ProtocolViolationError('malformed sync summary')
  const lasts: RoomItem[] = []
  let total = 0
  let previous = first
  for (const [i, range] of summary.ranges.entries()) {
    const last = decodeItem(range.last)
    total += range.count
    if (
      last == null || range.count < 1 || range.count > SYNC_RANGE_ITEMS || range.fingerprint.byteLength !== FINGERPRINT_BYTES ||
      (i === 0 ? byTime(last, previous) < 0 : byTime(last, previous) <= 0)
    ) {
      throw new ProtocolViolationError('malformed sync summary')
    }
    lasts.push(last)
    previous = last
  }
  if (total > SYNC_MAX_MESSAGES) throw new ProtocolViolationError('sync summary over the cap')
  return { bounds: { first, lasts }, ranges: summary.ranges }
}

// ---- the service

export interface RoomSyncSource {
  keys: RoomKeys
  /** the newest `limit` messages held with a timestamp in [since, until], as items, oldest first */
  items(limit: number, since?: number, until?: number): Promise<RoomItem[]>
  /** whether a message with this id is held, whatever its timestamp */
  has(id: string): Promise<boolean>
  /** the sealed bytes of a held message */
  sealed(item: RoomItem): Promise<Uint8Array | undefined>
}

/** The joined room with this public id (hex), if any: what the responder answers from. */
export type RoomSyncLookup = (roomIdHex: string) => RoomSyncSource | undefined

export interface RoomSyncInit {
  /** messages offered per room (SYNC_MAX_MESSAGES; tests lower it) */
  maxMessages?: number
}

export interface RoomSyncComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface RoomSyncStats {
  /** summaries sent to members */
  served: number
  /** requests for an unknown room or with a wrong proof of membership, and streams that came when nothing listened */
  denied: number
  /** streams we answered that failed: bad frames, timeouts, resets */
  failed: number
  /** exchanges we asked for that ended as they should */
  completed: number
  /** messages taken from answers to our requests */
  received: number
  /** answers refused: a summary or item list that breaks the rules, a message not asked for, over SYNC_MAX_BYTES */
  refused: number
}

export interface RoomSyncRequestOptions extends AbortOptions {
  /** takes each message as it comes (unverified: open it and check it is `item`); awaited, so a slow taker slows the stream */
  onMessage(sealed: Uint8Array, item: RoomItem): Promise<void>
}

export interface RoomSyncResult {
  /** messages received */
  received: number
  /** the responder stopped at SYNC_MAX_BYTES: ask again for the rest */
  more: boolean
}

export interface RoomSync {
  readonly stats: Readonly<RoomSyncStats>
  /** One exchange with `peer` about the room `local` holds: what we lack goes to `onMessage`. */
  request(peer: PeerId, local: RoomSyncSource, options: RoomSyncRequestOptions): Promise<RoomSyncResult>
  /**
   * Registers the protocol handler, answering from the rooms `lookup` finds (for rooms made after the
   * node, before it starts: inbound streams meet only rooms that exist). Once only.
   */
  listen(lookup: RoomSyncLookup): Promise<void>
}

class DefaultRoomSync implements RoomSync, Startable {
  readonly stats: RoomSyncStats = { served: 0, denied: 0, failed: 0, completed: 0, received: 0, refused: 0 }
  private readonly components: RoomSyncComponents
  private readonly log: Logger
  private readonly maxMessages: number
  private lookup?: RoomSyncLookup

  readonly [Symbol.toStringTag] = 'megachat/room-sync'
  readonly [serviceCapabilities] = ['@megachat/room-sync']

  constructor (components: RoomSyncComponents, init: RoomSyncInit) {
    this.components = components
    this.log = components.logger.forComponent('megachat:room-sync')
    this.maxMessages = Math.min(init.maxMessages ?? SYNC_MAX_MESSAGES, SYNC_MAX_MESSAGES)
    this.handle = this.handle.bind(this)
  }

  /** the protocol is registered by listen() */
  async start (): Promise<void> {}

  async listen (lookup: RoomSyncLookup): Promise<void> {
    if (this.lookup != null) throw new Error('already listening')
    this.lookup = lookup
    await this.components.registrar.handle(ROOM_SYNC_PROTOCOL, this.handle, {
      maxInboundStreams: 4,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    if (this.lookup != null) await this.components.registrar.unhandle(ROOM_SYNC_PROTOCOL)
    this.lookup = undefined
  }

  /** The responder: summary, item lists, messages. */
  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const lookup = this.lookup
    if (lookup == null) {
      this.stats.denied++
      stream.abort(new Error('not listening'))
      return
    }
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const pb = boundedPbStream(stream, MAX_ASK_FRAME_BYTES)
    try {
      const req = await pb.read(SyncRequest, { signal })
      const source = lookup(toHex(req.roomId, 'base16'))
      let items: RoomItem[] = []
      if (source != null && equals(req.auth, roomSyncAuth(source.keys, connection.remotePeer, this.components.peerId))) {
        items = await source.items(this.maxMessages)
        this.stats.served++
      } else {
        this.stats.denied++
      }
      const { first, ranges } = summarize(items)
      await pb.write({
        first: first != null ? encodeItem(first) : new Uint8Array(0),
        ranges: ranges.map(r => ({ last: encodeItem(r.last), count: r.items.length, fingerprint: fingerprint(r.items) }))
      }, SyncSummary, { signal })

      const want = await pb.read(SyncWant, { signal, limits: { whole: MAX_RANGES, list: MAX_RANGES, items: 0 } })
      if ([...want.whole, ...want.list].some(i => i >= ranges.length)) throw new ProtocolViolationError('want of a range not offered')
      const send = new Set<number>()
      for (const r of want.whole) for (let i = r * SYNC_RANGE_ITEMS; i < r * SYNC_RANGE_ITEMS + ranges[r].items.length; i++) send.add(i)
      if (!want.done) {
        for (const r of new Set(want.list)) await pb.write({ items: ranges[r].items.map(encodeItem) }, SyncItems, { signal })
        const index = new Map(items.map((item, i) => [`${item.timestamp}-${item.id}`, i]))
        for (let frames = 0; ; frames++) {
          if (frames >= MAX_ITEM_WANTS + 1) throw new ProtocolViolationError('too many sync wants')
          const next = await pb.read(SyncWant, { signal, limits: { whole: 0, list: 0, items: WANT_ITEMS } })
          for (const bytes of next.items) {
            const item = decodeItem(bytes)
            const i = item != null ? index.get(`${item.timestamp}-${item.id}`) : undefined
            if (i != null) send.add(i)
          }
          if (next.done) break
        }
      }

      let bytes = 0
      let more = false
      for (const i of [...send].sort((a, b) => b - a)) {
        const sealed = await source?.sealed(items[i])
        if (sealed == null) continue
        if (bytes + sealed.byteLength > SYNC_MAX_BYTES) {
          more = true
          break
        }
        bytes += sealed.byteLength
        await pb.write({ message: sealed as Uint8Array<ArrayBuffer>, item: encodeItem(items[i]) }, SyncFrame, { signal })
      }
      await pb.write({ end: true, ...(more ? { more } : {}) }, SyncFrame, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      this.stats.failed++
      this.log('sync stream from %p failed: %s', connection.remotePeer, err.name)
      stream.abort(err)
    }
  }

  /** The asker: compares the summary with what `local` holds, asks for what it lacks, takes it. */
  async request (peer: PeerId, local: RoomSyncSource, options: RoomSyncRequestOptions): Promise<RoomSyncResult> {
    const signal = AbortSignal.any([AbortSignal.timeout(SYNC_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    const stream = await this.components.connectionManager.openStream(peer, ROOM_SYNC_PROTOCOL, { signal, runOnLimitedConnection: true })
    const pb = boundedPbStream(stream, MAX_ANSWER_FRAME_BYTES)
    try {
      await pb.write({
        roomId: local.keys.roomId as Uint8Array<ArrayBuffer>,
        auth: roomSyncAuth(local.keys, this.components.peerId, peer) as Uint8Array<ArrayBuffer>
      }, SyncRequest, { signal })
      const { bounds, ranges } = readSummary(await pb.read(SyncSummary, { signal, limits: { ranges: MAX_RANGES } }))
      const wanted = new Set<string>()
      /** per whole range: how many more of its messages may come */
      const whole = new Map<number, number>()
      if (bounds == null) {
        await pb.write({ whole: [], list: [], items: [], done: true }, SyncWant, { signal })
      } else {
        const mine = this.inRanges(bounds, await local.items(2 * SYNC_MAX_MESSAGES, bounds.first.timestamp, bounds.lasts[bounds.lasts.length - 1].timestamp))
        const list: number[] = []
        for (const [r, range] of ranges.entries()) {
          if (equals(fingerprint(mine[r]), range.fingerprint)) continue
          if (mine[r].length === 0) whole.set(r, range.count)
          else list.push(r)
        }
        await pb.write({ whole: [...whole.keys()], list, items: [], done: list.length === 0 }, SyncWant, { signal })
        if (list.length > 0) {
          const lacking: Uint8Array<ArrayBuffer>[] = []
          for (const r of list) {
            const listed = (await pb.read(SyncItems, { signal, limits: { items: ranges[r].count } })).items.map(decodeItem)
            if (listed.length !== ranges[r].count || listed.some(item => item == null || rangeOf(bounds, item) !== r) || !equals(fingerprint(listed as RoomItem[]), ranges[r].fingerprint)) {
              throw new ProtocolViolationError('item list does not match its range')
            }
            for (const item of listed as RoomItem[]) {
              if (await local.has(item.id)) continue
              wanted.add(`${item.timestamp}-${item.id}`)
              lacking.push(encodeItem(item))
            }
          }
          for (let i = 0; i === 0 || i < lacking.length; i += WANT_ITEMS) {
            await pb.write({ whole: [], list: [], items: lacking.slice(i, i + WANT_ITEMS), done: i + WANT_ITEMS >= lacking.length }, SyncWant, { signal })
          }
        }
      }

      let received = 0
      let bytes = 0
      while (true) {
        const frame = await pb.read(SyncFrame, { signal })
        if (frame.end === true) {
          await stream.close({ signal })
          this.stats.completed++
          return { received, more: frame.more === true }
        }
        const item = frame.item != null ? decodeItem(frame.item) : undefined
        if (frame.message == null || item == null) throw new ProtocolViolationError('malformed sync frame')
        bytes += frame.message.byteLength
        if (bytes > SYNC_MAX_BYTES) throw new ProtocolViolationError('sync answer over the byte cap')
        const key = `${item.timestamp}-${item.id}`
        const r = bounds != null ? rangeOf(bounds, item) : -1
        if (!wanted.delete(key)) {
          const left = whole.get(r)
          if (left == null || left < 1) throw new ProtocolViolationError('a message not asked for')
          whole.set(r, left - 1)
        }
        received++
        this.stats.received++
        await options.onMessage(frame.message, item)
      }
    } catch (err: any) {
      if (REFUSALS.has(err.name)) this.stats.refused++
      stream.abort(err)
      throw err
    }
  }

  /** Our items split by the summary's ranges (items outside them left out). */
  private inRanges (bounds: Bounds, items: RoomItem[]): RoomItem[][] {
    const out: RoomItem[][] = bounds.lasts.map(() => [])
    for (const item of items) {
      const r = rangeOf(bounds, item)
      if (r >= 0) out[r].push(item)
    }
    return out
  }

}

export function roomSync (init: RoomSyncInit = {}): (components: RoomSyncComponents) => RoomSync {
  return (components) => new DefaultRoomSync(components, init)
}
