/**
 * The outbox: every direct message is written to disk before `send()` resolves, then delivered, in order,
 * and retried until the recipient acknowledges it (after restarts of either side too).
 *
 * - Writes are grouped: messages sent in the same tick go to the store in one batch.
 * - One delivery run per peer at a time. A run reads the peer's outbox (oldest first), opens a stream
 *   through the dial policy and keeps writing: messages sent while it runs join it (`more`), so a burst
 *   flows through one stream with a window of messages in flight.
 * - Acks are stored in one batch per ack frame, then reported ('delivered').
 * - A run that fails is retried soon (1 s, doubling up to the retry interval); the peer is reported
 *   unreachable once until a send or a delivery. A stream that stalled marks its connection suspect so
 *   the next run goes another way.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromString as fromBase64 } from 'uint8arrays/from-string'
import { toString as toBase64 } from 'uint8arrays/to-string'
import { RETRY_INTERVAL_MS } from '../constants.js'
import { toHex } from '../hex.js'
import { AckTimeoutError } from './index.js'
import type { DirectMessage, DirectMessages } from './index.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore, StoredMessage } from '../store/index.js'
import type { Connection } from '@libp2p/interface'

const log = logger('megachat:outbox')

/** Most messages read from the store at once; a run reads the next page while it sends this one. */
export const OUTBOX_PAGE = 4096
/**
 * Most text (UTF-16 code units) kept in memory for one peer's messages waiting to be sent; beyond it they
 * are read from the store page by page. 32 Mi characters (64 MiB): a burst of 30,000 messages of 1 kB stays
 * in memory, and a contact offline for long costs no more than that.
 */
export const QUEUE_MAX_CHARS = 32 * 1024 * 1024
/** Most messages stored in one write: a burst's first messages go out while the rest are written. */
const WRITE_BATCH = 1024
/** The first retry after a failed run; it doubles up to the retry interval. */
const FIRST_RETRY_MS = 1000
/** How long one delivery run may go on (it is retried after). */
const RUN_TIMEOUT_MS = 5 * 60_000

/** Random bytes for message ids, drawn from the CSPRNG a page at a time (one call per id is slow in a burst). */
let pool = new Uint8Array(0)
let used = 0
function randomId (): string {
  if (used + 16 > pool.byteLength) {
    pool = crypto.getRandomValues(new Uint8Array(4096))
    used = 0
  }
  used += 16
  return toHex(pool, used - 16, used)
}

export interface Unreachable {
  peerId: string
  /** messages still waiting for this contact */
  pending: number
  /**
   * 'not-found': nobody knew an address for them (offline, or not yet announced);
   * 'not-dialable': found, but no address answered; 'failed': connected, but delivery failed
   */
  why: 'not-found' | 'not-dialable' | 'failed'
  reason: string
}

export interface OutboxInit {
  store: ChatStore
  dm: () => Pick<DirectMessages, 'send' | 'release'>
  reach: Reach
  protocol: string
  signal: AbortSignal
  retryInterval?: number
  /** a message without a file is stored (before its send() resolves) */
  onSent?(message: StoredMessage): void
  onDelivered(message: StoredMessage): void
  onUnreachable(u: Unreachable): void
}

interface Queue {
  messages: StoredMessage[]
  /** characters of text in `messages` */
  chars: number
  /**
   * the order of the last message the read that set the queue up saw. The read sees every message stored
   * before it (orders are given in turn), so one at or below this came with its page, whenever its send()
   * goes on, and is not queued again.
   */
  floor: number
}

/** Messages sent in one tick, stored in one write; `done` settles once they are stored. */
interface WriteBatch {
  messages: StoredMessage[]
  done: Promise<void>
  resolve(): void
  reject(err: Error): void
}

function writeBatch (): WriteBatch {
  const { promise, resolve, reject } = Promise.withResolvers<void>()
  // a failed write is reported through each send's promise
  promise.catch(() => {})
  return { messages: [], done: promise, resolve, reject }
}

export class Outbox {
  private readonly init: OutboxInit
  /** peer -> its delivery run under way */
  private readonly runs = new Map<string, Promise<void>>()
  /**
   * peer -> the messages stored for it and not yet taken by a run, while they are known to be all there
   * is (after a run that read the whole outbox): then a send needs no store read. Dropped when a run fails
   * or it would hold more than QUEUE_MAX_CHARS of text (a contact offline for long); the store has everything.
   */
  private readonly queues = new Map<string, Queue>()
  /** peers whose outbox a run is reading now, and those sent a message meanwhile (the read may miss it) */
  private readonly reading = new Set<string>()
  private readonly missed = new Set<string>()
  /** the connection each peer's kept stream was opened on */
  private readonly carriers = new Map<string, Connection>()
  /** peers to run again once their current run ends */
  private readonly again = new Set<string>()
  /** peer -> the delay before the next retry (ms) */
  private readonly backoff = new Map<string, number>()
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>()
  /** peers whose unreachability was reported since their last send or delivery */
  private readonly reported = new Set<string>()
  /** batches waiting to be stored, oldest first; the last one takes what is sent now */
  private writes: WriteBatch[] = []
  /** commitWrites() is under way: it takes what is sent meanwhile too */
  private committing = false

  constructor (init: OutboxInit) {
    this.init = init
  }

  /**
   * Stores a message (with those sent in the same tick, in one write), then starts its delivery; one
   * without a file is reported sent (onSent) before the promise resolves. A burst costs one promise per
   * message here: the messages of a write share one and are taken in turn once it is stored.
   */
  send (peer: string, text: string, file?: { id: string, offer: Uint8Array }): Promise<StoredMessage> {
    const message: StoredMessage = {
      id: randomId(),
      peer,
      direction: 'out',
      text,
      timestamp: Date.now(),
      state: 'pending',
      ...(file != null ? { file: file.id, offer: toBase64(file.offer, 'base64') } : {})
    }
    let batch = this.writes.at(-1)
    if (batch == null || batch.messages.length >= WRITE_BATCH) {
      batch = writeBatch()
      this.writes.push(batch)
    }
    batch.messages.push(message)
    if (!this.committing) {
      this.committing = true
      queueMicrotask(() => { void this.commitWrites() })
    }
    return batch.done.then(() => message)
  }

  /**
   * Writes what was sent, WRITE_BATCH messages at a time, so that the first of a burst go out while the
   * rest are written; each stored message is queued for its run (or starts one) and reported sent.
   */
  private async commitWrites (): Promise<void> {
    let batch: WriteBatch | undefined
    // taken off the list first: what is sent while it is written goes to a batch of its own
    while ((batch = this.writes.shift()) != null) {
      try {
        await this.init.store.addOutgoing(...batch.messages)
      } catch (err: any) {
        batch.reject(err)
        continue
      }
      for (const message of batch.messages) {
        this.stored(message)
        if (message.file == null) this.init.onSent?.(message)
      }
      batch.resolve()
    }
    // in the same tick as the last look at `writes`: a send after it schedules a new commit
    this.committing = false
  }

  /** A message is stored: it joins the queue of the run under way, or starts a run. */
  private stored (message: StoredMessage): void {
    const peer = message.peer
    this.reported.delete(peer)
    this.backoff.delete(peer)
    const queue = this.queues.get(peer)
    if (queue != null && queue.chars + message.text.length > QUEUE_MAX_CHARS) {
      this.queues.delete(peer)
    } else if (queue != null && (message.order ?? Infinity) > queue.floor) {
      queue.messages.push(message)
      queue.chars += message.text.length
    }
    if (this.reading.has(peer)) this.missed.add(peer)
    // a run under way takes it from the queue (or, without one, runs again after); else a run starts
    if (!this.runs.has(peer)) void this.flush(peer)
    else if (!this.queues.has(peer)) this.again.add(peer)
  }

  /** Delivers what waits for a peer; a call while a run goes on runs again after it. */
  async flush (peer: string): Promise<void> {
    if (this.init.signal.aborted) return
    const running = this.runs.get(peer)
    if (running != null) {
      this.again.add(peer)
      await running
      return
    }
    clearTimeout(this.retries.get(peer))
    this.retries.delete(peer)
    const run = this.deliver(peer).finally(() => {
      this.runs.delete(peer)
      // a message may have joined after the run took its last ones
      const queued = (this.queues.get(peer)?.messages.length ?? 0) > 0
      if ((this.again.delete(peer) || queued) && !this.init.signal.aborted) void this.flush(peer)
    })
    this.runs.set(peer, run)
    await run
  }

  /** Delivers what the store's outbox holds for a peer (the periodic retry: it trusts no queue in memory). */
  async retry (peer: string): Promise<void> {
    if (!this.runs.has(peer)) this.queues.delete(peer)
    await this.flush(peer)
  }

  /** Is a delivery run under way for the peer? */
  busy (peer: string): boolean {
    return this.runs.has(peer)
  }

  /** Waits for the runs under way. */
  async settled (): Promise<void> {
    for (const t of this.retries.values()) clearTimeout(t)
    await Promise.allSettled(this.runs.values())
  }

  /** Everything queued for the peer (undefined when it has no queue), which is then empty. */
  private takeQueued (peer: string): StoredMessage[] | undefined {
    const queue = this.queues.get(peer)
    if (queue == null) return undefined
    queue.chars = 0
    return queue.messages.splice(0)
  }

  /**
   * Reads a page of the peer's outbox from the store (after `after`). When it was the whole rest of the
   * outbox and nothing was sent meanwhile that the read may have missed, sends queue up in memory from now
   * on; else the store is read again for more.
   */
  private async readPage (peer: string, after?: StoredMessage): Promise<StoredMessage[]> {
    this.reading.add(peer)
    let page: StoredMessage[]
    try {
      page = await this.init.store.outbox(peer, OUTBOX_PAGE, after)
    } finally {
      this.reading.delete(peer)
    }
    if (page.length < OUTBOX_PAGE && !this.missed.delete(peer)) {
      this.queues.set(peer, { messages: [], chars: 0, floor: (page.at(-1) ?? after)?.order ?? -Infinity })
    }
    return page
  }

  private async deliver (peer: string): Promise<void> {
    const first = this.takeQueued(peer) ?? await this.readPage(peer)
    if (first.length === 0) return
    /**
     * sent on this run, oldest first, from `head` on not yet acknowledged: acks come in the order sent, so
     * each takes the next ones
     */
    let inFlight: StoredMessage[] = []
    let head = 0
    /** the page after the last message taken, being read from the store while the run sends (when there is no queue) */
    let next: Promise<StoredMessage[]> | undefined
    const take = (ms: StoredMessage[]): DirectMessage[] => {
      // no queue (too much was sent for one, or a send the read may have missed): read on in the store.
      // (A send that finds no queue while a run goes on asks for another run after it.)
      if (ms.length > 0 && !this.queues.has(peer)) {
        next = this.readPage(peer, ms[ms.length - 1])
        next.catch(() => {}) // a run that fails meanwhile leaves it; else more() gets the error
      }
      return ms.map(m => {
        inFlight.push(m)
        return { id: m.id, timestamp: m.timestamp, text: m.text, seq: m.seq, ...(m.offer != null ? { file: fromBase64(m.offer, 'base64') } : {}) }
      })
    }
    /** what to send after what was taken: the queue, or (too much was sent for one) the store's next page */
    const more = async (): Promise<DirectMessage[]> => {
      if (next != null) {
        const page = next
        next = undefined
        return take(await page)
      }
      return take(this.takeQueued(peer) ?? [])
    }
    const id = peerIdFromString(peer)
    // the kept stream went over the relay, and a direct connection has come up since (a WebRTC upgrade):
    // move over to it
    const carrier = this.carriers.get(peer)
    if (carrier != null && (carrier.status !== 'open' || (carrier.limits != null && this.init.reach.openConnection(id)?.limits == null))) {
      this.carriers.delete(peer)
      this.init.dm().release(id)
    }
    let connection: Connection | undefined
    const signal = AbortSignal.any([AbortSignal.timeout(RUN_TIMEOUT_MS), this.init.signal])
    try {
      await this.init.dm().send(id, take(first), {
        signal,
        open: async (options) => {
          const opened = await this.init.reach.openStream(id, this.init.protocol, options)
          connection = opened.connection
          this.carriers.set(peer, opened.connection)
          return opened.stream
        },
        more,
        onAck: async (ids) => {
          const acked = inFlight.slice(head, head + ids.length)
          if (acked.length !== ids.length || acked.some((m, i) => m.id !== ids[i])) throw new Error('acks do not follow the messages sent')
          head += ids.length
          if (head >= OUTBOX_PAGE && 2 * head >= inFlight.length) {
            inFlight = inFlight.slice(head)
            head = 0
          }
          const delivered = await this.init.store.markDelivered(acked)
          for (const m of delivered) this.init.onDelivered(m)
        }
      })
      this.reported.delete(peer)
      this.backoff.delete(peer)
    } catch (err: any) {
      // what was in flight is still in the store's outbox: the next run reads it from there (after a page
      // still being read, which would set the queue up again without it)
      await next?.catch(() => {})
      this.queues.delete(peer)
      if (this.init.signal.aborted) return
      if (err.name === AckTimeoutError.name && connection != null) this.init.reach.suspect(connection)
      const left = await this.init.store.outboxCount(peer).catch(() => 0)
      log('delivery to %s failed: %s', peer, err.message)
      if (left === 0) return
      // a peer that has only just come online may not be in the DHT yet: try again soon, then less often
      const interval = this.init.retryInterval ?? RETRY_INTERVAL_MS
      const delay = this.backoff.get(peer) ?? FIRST_RETRY_MS
      if (delay < interval) {
        this.backoff.set(peer, delay * 2)
        const timer = setTimeout(() => { void this.flush(peer) }, delay)
        timer.unref?.()
        this.retries.set(peer, timer)
      }
      if (!this.reported.has(peer)) {
        this.reported.add(peer)
        const why = err.name === 'PeerNotFoundError' ? 'not-found' : err.name === 'PeerUnreachableError' ? 'not-dialable' : 'failed'
        this.init.onUnreachable({ peerId: peer, pending: left, why, reason: err.message })
      }
    }
  }
}
