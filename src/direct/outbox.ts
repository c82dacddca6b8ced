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
import { toString as toHex } from 'uint8arrays/to-string'
import { RETRY_INTERVAL_MS } from '../constants.js'
import { AckTimeoutError } from './index.js'
import type { DirectMessage, DirectMessages } from './index.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore, StoredMessage } from '../store/index.js'
import type { Connection } from '@libp2p/interface'

const log = logger('megachat:outbox')

/** Most messages one delivery run reads from the store; a longer outbox is sent in further runs. */
export const OUTBOX_PAGE = 4096
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
  const bytes = pool.subarray(used, used + 16)
  used += 16
  return toHex(bytes, 'base16')
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
  dm: () => DirectMessages
  reach: Reach
  protocol: string
  signal: AbortSignal
  retryInterval?: number
  onDelivered(message: StoredMessage): void
  onUnreachable(u: Unreachable): void
}

interface PendingWrite {
  message: StoredMessage
  resolve(): void
  reject(err: Error): void
}

export class Outbox {
  private readonly init: OutboxInit
  /** peer -> its delivery run under way */
  private readonly runs = new Map<string, Promise<void>>()
  /**
   * peer -> the messages stored for it and not yet taken by a run, while they are known to be all there
   * is (after a run that read the whole outbox): then a send needs no store read. Dropped when a run fails
   * or it would grow past OUTBOX_PAGE; the store has everything.
   */
  private readonly queues = new Map<string, StoredMessage[]>()
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
  private writes: PendingWrite[] = []

  constructor (init: OutboxInit) {
    this.init = init
  }

  /** Stores a message (with those sent in the same tick, in one batch), then starts its delivery. */
  async send (peer: string, text: string): Promise<StoredMessage> {
    const message: StoredMessage = {
      id: randomId(),
      peer,
      direction: 'out',
      text,
      timestamp: Date.now(),
      state: 'pending'
    }
    await new Promise<void>((resolve, reject) => {
      this.writes.push({ message, resolve, reject })
      if (this.writes.length === 1) queueMicrotask(() => { void this.commitWrites() })
    })
    this.reported.delete(peer)
    this.backoff.delete(peer)
    const queue = this.queues.get(peer)
    if (queue != null && queue.length < OUTBOX_PAGE) queue.push(message)
    else this.queues.delete(peer)
    if (this.reading.has(peer)) this.missed.add(peer)
    // a run under way takes it from the queue; without one it reads the store
    if (this.runs.has(peer) && !this.queues.has(peer)) this.again.add(peer)
    else void this.flush(peer)
    return message
  }

  private async commitWrites (): Promise<void> {
    const writes = this.writes
    this.writes = []
    try {
      await this.init.store.addOutgoing(...writes.map(w => w.message))
      for (const w of writes) w.resolve()
    } catch (err: any) {
      for (const w of writes) w.reject(err)
    }
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
      const queued = (this.queues.get(peer)?.length ?? 0) > 0
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

  private async deliver (peer: string): Promise<void> {
    let first = this.queues.get(peer)?.splice(0)
    if (first == null) {
      this.reading.add(peer)
      try {
        first = await this.init.store.outbox(peer, OUTBOX_PAGE)
      } finally {
        this.reading.delete(peer)
      }
      // the whole outbox was read, and nothing was sent meanwhile that the read may have missed: from now
      // on sends queue up in memory. Else the next run reads the store again.
      if (first.length < OUTBOX_PAGE && !this.missed.delete(peer)) this.queues.set(peer, [])
      else this.again.add(peer)
    }
    if (first.length === 0) return
    /** sent on this run and not yet acknowledged, in order */
    const inFlight = new Map<string, StoredMessage>()
    const take = (ms: StoredMessage[]): DirectMessage[] => ms.map(m => {
      inFlight.set(m.id, m)
      return { id: m.id, timestamp: m.timestamp, text: m.text, seq: m.seq }
    })
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
        more: () => take(this.queues.get(peer)?.splice(0) ?? []),
        onAck: async (ids) => {
          const acked = ids.flatMap(i => {
            const m = inFlight.get(i)
            inFlight.delete(i)
            return m != null ? [m] : []
          })
          const delivered = await this.init.store.markDelivered(acked)
          for (const m of delivered) this.init.onDelivered(m)
        }
      })
      this.reported.delete(peer)
      this.backoff.delete(peer)
    } catch (err: any) {
      // what was in flight is still in the store's outbox: the next run reads it from there
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
