/**
 * The signalling streams calls travel on (signalling.ts carries the frames): which connection a stream
 * is opened on, streams opened ahead of a call, and one more try when a connection closes under one.
 * The call state machine (index.ts) asks for a stream and sends on it; it does not choose connections.
 *
 * Direct first: a stream is opened on the peer's direct connections (WebRTC, TCP...) at once, and
 * DIRECT_FIRST_MS later on the relayed ones too unless one is open by then; the first that opens is
 * kept. Over a relay every frame of the set-up takes a detour through the relay node, and streams opened
 * on every connection at once cost both sides and the relay CPU while the call is set up. The relayed
 * ones still join: a libp2p WebRTC connection can look open while its data channels never do, and a call
 * must not wait for that to time out when the relayed connection beside it works.
 *
 * A stream can be opened ahead (prepare(), when the user opens the contact's conversation or points at a
 * call button): that saves a round trip of multistream-select plus a data channel when the call comes.
 * It is kept for `preparedTimeout` and then closed.
 */
import { logger } from '@libp2p/logger'
import { CALL_PREPARED_MS } from '../constants.js'
import type { CallSignalling, Signal, SignalChannel } from './signalling.js'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

const log = logger('megachat:calls')

/** How long a frame may take to go out. */
export const SEND_TIMEOUT_MS = 10_000
/** How long a direct connection has to open the signalling stream before relayed ones are tried too (ms) */
const DIRECT_FIRST_MS = 250
/** Errors of a connection or stream that closed under us: a fresh stream, on another connection, may work. */
const CLOSED_UNDER_US = new Set(['ConnectionClosedError', 'ConnectionClosingError', 'MuxerClosedError', 'StreamResetError', 'StreamStateError', 'StreamAbortedError'])

export interface SignalChannelsInit {
  signalling(): CallSignalling
  /** the one dial policy (Chat.reach) */
  reach(peer: PeerId, signal?: AbortSignal): Promise<Connection>
  /** the peer's open connections */
  connections(peer: PeerId): Connection[]
  /** aborted when the chat stops */
  signal: AbortSignal
  /** how long a prepared stream is kept (ms) */
  preparedTimeout?: number
}

/** A signalling stream opened ahead of a call to one peer. */
interface Prepared {
  /** the stream once it is open */
  channel?: SignalChannel
  opening: Promise<SignalChannel | undefined>
  timer: ReturnType<typeof setTimeout>
}

export class SignalChannels {
  /** ms; tests shorten it */
  preparedTimeout: number
  private readonly init: SignalChannelsInit
  /** streams opened ahead of a call, by peer */
  private readonly prepared = new Map<string, Prepared>()

  constructor (init: SignalChannelsInit) {
    this.init = init
    this.preparedTimeout = init.preparedTimeout ?? CALL_PREPARED_MS
  }

  /**
   * Opens a stream to `peer` ahead of a call. Only over a connection that is open already (it never
   * dials), and at most one per peer; one prepared already is kept for another `preparedTimeout`.
   * Failures are quiet: the call opens its own stream then.
   */
  prepare (peer: PeerId): void {
    if (this.init.signal.aborted) return
    const key = peer.toString()
    const expire = (): ReturnType<typeof setTimeout> => setTimeout(() => { this.forget(key)?.close() }, this.preparedTimeout)
    const ready = this.prepared.get(key)
    if (ready != null && (ready.channel == null || ready.channel.open)) {
      clearTimeout(ready.timer)
      ready.timer = expire()
      return
    }
    if (ready != null) this.forget(key)?.close()
    if (!this.init.connections(peer).some(c => c.status === 'open')) return
    const entry: Prepared = { opening: Promise.resolve(undefined), timer: expire() }
    entry.opening = this.open(peer).then((channel) => {
      if (this.prepared.get(key) === entry) entry.channel = channel
      else channel.close() // given up meanwhile
      return channel
    }, (err: Error) => {
      log('could not prepare a call to %p: %s', peer, err.message)
      if (this.prepared.get(key) === entry) this.forget(key)
      return undefined
    })
    this.prepared.set(key, entry)
  }

  /** Whether a stream prepared for a call to `peer` is open. */
  isPrepared (peer: PeerId): boolean {
    return this.prepared.get(peer.toString())?.channel?.open === true
  }

  /**
   * A stream for a new call: the prepared one when it is open, else a fresh one. Connections between two
   * peers are often still settling (relayed ones replaced, a WebRTC one added) when a call starts just
   * after they met: a stream that fails on a connection closed under it is opened once more.
   */
  async take (peer: PeerId): Promise<SignalChannel> {
    const key = peer.toString()
    const ready = this.prepared.get(key)
    if (ready != null) {
      const channel = ready.channel ?? await ready.opening
      if (this.prepared.get(key) === ready) this.forget(key)
      if (channel?.open === true) return channel
    }
    try {
      return await this.open(peer)
    } catch (err: any) {
      if (!closedUnderUs(err) || this.init.signal.aborted) throw err
      log('opening a call to %p failed (%s): once more', peer, err.message)
      return await this.open(peer)
    }
  }

  /** A fresh stream to the peer, over the connection reach() gives or another one (direct first). */
  async open (peer: PeerId): Promise<SignalChannel> {
    const preferred = await this.init.reach(peer)
    const connections = [preferred, ...this.init.connections(peer).filter(c => c !== preferred && c.status === 'open')]
    const direct = connections.filter(c => c.direct && c.status === 'open')
    const now = direct.length > 0 ? direct : connections
    const later = connections.filter(c => !now.includes(c))
    const signalling = this.init.signalling()
    const controller = new AbortController()
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(SEND_TIMEOUT_MS)])
    const attempts = [
      ...now.map(async c => await signalling.open(c, { signal })),
      ...later.map(async c => {
        // no timer left behind when a direct stream opened first
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, DIRECT_FIRST_MS)
          signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
        })
        return await signalling.open(c, { signal })
      })
    ]
    try {
      const first = await Promise.any(attempts)
      for (const attempt of attempts) {
        attempt.then(channel => { if (channel !== first) channel.abort(new Error('another stream opened first')) }, () => {})
      }
      return first
    } catch (err: any) {
      throw err instanceof AggregateError ? err.errors[0] : err
    } finally {
      controller.abort()
    }
  }

  /** Sends one frame, within SEND_TIMEOUT_MS unless the caller gives a signal. */
  async send (channel: SignalChannel, signal: Signal, options: AbortOptions = {}): Promise<void> {
    await channel.send(signal, { signal: options.signal ?? AbortSignal.timeout(SEND_TIMEOUT_MS) })
  }

  /** A last word on a stream that belongs to no call (busy, a crossed call), then it is closed. */
  async lastWord (channel: SignalChannel, signal: Signal): Promise<void> {
    try {
      await this.send(channel, signal)
    } catch (err: any) {
      log('could not answer %p: %s', channel.remotePeer, err.message)
    }
    channel.close()
  }

  /** The other side ended a stream: if it was a prepared one, it is forgotten. */
  ended (channel: SignalChannel): void {
    const key = channel.remotePeer.toString()
    if (this.prepared.get(key)?.channel === channel) this.forget(key)
  }

  /** Closes every prepared stream (the chat is stopping, or a call began). */
  closePrepared (): void {
    for (const key of [...this.prepared.keys()]) this.forget(key)?.close()
  }

  /** Forgets the stream prepared for `key`'s peer and hands it back (open or not) to be used or closed. */
  private forget (key: string): SignalChannel | undefined {
    const entry = this.prepared.get(key)
    if (entry == null) return undefined
    clearTimeout(entry.timer)
    this.prepared.delete(key)
    return entry.channel
  }
}

function closedUnderUs (err: any): boolean {
  return CLOSED_UNDER_US.has(err?.name) || (Array.isArray(err?.errors) && err.errors.some(closedUnderUs))
}
