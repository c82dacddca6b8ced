/**
 * Direct messages: `/megachat/dm/2.0.0`.
 *
 * The sender keeps one stream open per contact and writes DmFrame{message} frames (length-prefixed
 * protobuf) without waiting for each one's ack: up to a window of DM_WINDOW messages (and DM_WINDOW_BYTES of
 * text) may be in flight. The receiver stores what has arrived in one batch (through `init.receive`) and only
 * then answers with one DmFrame{ack} that counts every message stored so far on the stream, so a message the
 * sender sees as delivered is on the recipient's disk, and a burst costs one store write and one ack per
 * batch rather than per message. Frames are handled in the order written, so arrival order is send order;
 * each message also carries the author's sequence number for the conversation.
 *
 * Noise gives the stream confidentiality, integrity and mutual authentication; the peer ID of the connection
 * is the author. Bad input from a peer (oversized frames or length prefixes, undecodable bytes, a field of
 * the wrong wire type, text that is not UTF-8, a timestamp before 2020 or over a day ahead, too many
 * streams) aborts that stream and is counted in `stats`; it never throws into the event loop. Messages
 * the receiver will not take now (`receive` takes fewer) are acknowledged up to there, and the stream ends. A receiver
 * reads no further while DM_MAX_UNSTORED messages wait to be stored, so a fast sender cannot swell its memory.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ services: { dm: directMessages({ receive: async (from, ms) => { ... } }) } })
 * await node.services.dm.send(peerId, [{ id, timestamp: Date.now(), text: 'hi', seq: 1 }], { onAck: ids => ... })
 * ```
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { DM_ACK_TIMEOUT_MS, DM_IDLE_TIMEOUT_MS, DM_MAX_INBOUND_STREAMS, DM_PROTOCOL, DM_WINDOW, DM_WINDOW_BYTES, MAX_DM_FRAME_BYTES, MAX_TEXT_BYTES } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { Slab } from '../slab.js'
import { boundedLpStream, writeFrames } from '../node/frames.js'
import { decodeFrame, encodeDirectMessage } from './codec.js'
import { readStream } from './inbound.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export { decodeDirectMessage, encodeDirectMessage } from './codec.js'

export interface DirectMessage {
  /** 32 hex characters (128 random bits) */
  id: string
  /** author's clock, ms */
  timestamp: number
  text: string
  /** the author's number for it in this conversation (1, 2, …), if it has one */
  seq?: number
  /** a file offer (FileOfferPb bytes, checked by decodeOffer on arrival); the text may then be empty */
  file?: Uint8Array
}

export interface DirectMessagesInit {
  protocol?: string
  maxTextBytes?: number
  maxInboundStreams?: number
  idleTimeout?: number
  /** an outbound stream unused this long is closed (default 20 s; keep it below the peer's idleTimeout) */
  streamIdleTimeout?: number
  /** how long a sender waits for the next ack before it gives the stream up (default DM_ACK_TIMEOUT_MS) */
  ackTimeout?: number
  /** messages in flight per stream (default DM_WINDOW) */
  window?: number
  /** what takes inbound messages: with it, start() registers the protocol handler (else listen() does) */
  receive?: Receive
}

/**
 * Stores messages that arrived, in order. The ack goes out only after this resolves, so it must not
 * resolve before they are written. Duplicates (same id from the same peer) must be accepted quietly.
 * It may take only the first few (resolving with how many it stored; nothing means all): the rest are
 * refused for now, the stream ends after the ack, and the sender keeps them to send again later.
 */
export type Receive = (from: PeerId, messages: DirectMessage[], connection: Connection) => Promise<number | undefined | void>

export interface DirectMessagesComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** What a peer sent that was dropped, and what was accepted. */
export interface DirectMessageStats {
  received: number
  /** frames (or length prefixes) over the size limit */
  oversized: number
  /** frames that did not decode strictly or had malformed fields */
  malformed: number
  /** messages that `receive` did not take (a blocked peer, a full message request) */
  refused: number
  /** streams that ended in an error other than the above (timeouts, resets) */
  failedStreams: number
}

export interface SendOptions extends AbortOptions {
  /** opens a stream when none is kept open for the peer (default: the connection manager, by peer ID) */
  open?(options: AbortOptions): Promise<Stream>
  /**
   * Called in order with the ids each ack covers. Sending goes on while it runs (it may write to disk);
   * send() resolves after the last call resolved, and rejects with its error if one throws.
   */
  onAck?(ids: string[]): void | Promise<void>
  /** Asked for messages to send after the given ones, whenever there is room in the window. */
  more?(): DirectMessage[] | Promise<DirectMessage[]>
}

export interface DirectMessages {
  readonly protocol: string
  readonly stats: Readonly<DirectMessageStats>
  /**
   * Sends messages, in order, on the peer's kept-open stream (or a new one), with up to a window of
   * them in flight, and waits for their acks. Resolves when all (and all that `more` gave) are
   * acknowledged; rejects on the first failure (acks already seen stay reported). A kept stream that
   * turns out to be dead is replaced once.
   */
  send(peer: PeerId, messages: DirectMessage[], options?: SendOptions): Promise<void>
  /** Closes the stream kept open for the peer, if any and idle: the next send opens a new one. */
  release(peer: PeerId): void
  /**
   * Registers the protocol handler, handing what arrives to `receive` (for a receiver made after the
   * node, before it starts: inbound streams meet only a receiver that exists).
   */
  listen(receive: Receive): Promise<void>
}

/** An outbound DM stream unused for this long is closed (well inside the receiver's idle timeout). */
const STREAM_IDLE_MS = 20_000

interface OutboundStream {
  peer: string
  stream: Stream
  lp: LengthPrefixedStream<Stream>
  /** messages written on the stream so far */
  written: number
  /** messages the receiver has acknowledged on it so far */
  acked: number
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The ack timed out: the stream (and maybe its connection) does not carry. */
export class AckTimeoutError extends Error {
  static override name = 'AckTimeoutError'
  override name = 'AckTimeoutError'
}

class DefaultDirectMessages implements DirectMessages, Startable {
  readonly protocol: string
  readonly stats: DirectMessageStats = { received: 0, oversized: 0, malformed: 0, refused: 0, failedStreams: 0 }
  private readonly components: DirectMessagesComponents
  private readonly init: DirectMessagesInit
  private readonly maxTextBytes: number
  private readonly log: Logger
  /** one kept-open outbound stream per peer */
  private readonly outbound = new Map<string, OutboundStream>()
  /** where outbound frames are encoded (the stream copies them as it encrypts) */
  private readonly slab = new Slab()

  readonly [Symbol.toStringTag] = 'megachat/direct-messages'
  readonly [serviceCapabilities] = ['@megachat/direct-messages']

  constructor (components: DirectMessagesComponents, init: DirectMessagesInit) {
    this.components = components
    this.init = init
    this.protocol = init.protocol ?? DM_PROTOCOL
    this.maxTextBytes = init.maxTextBytes ?? MAX_TEXT_BYTES
    this.log = components.logger.forComponent('megachat:dm')
    this.handle = this.handle.bind(this)
  }

  private receive?: Receive

  async start (): Promise<void> {
    if (this.init.receive != null) await this.listen(this.init.receive)
  }

  async listen (receive: Receive): Promise<void> {
    if (this.receive != null) throw new Error('already listening')
    this.receive = receive
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams ?? DM_MAX_INBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  release (peer: PeerId): void {
    const key = peer.toString()
    const entry = this.outbound.get(key)
    if (entry == null) return
    this.outbound.delete(key)
    clearTimeout(entry.timer)
    entry.stream.close().catch((err: any) => { entry.stream.abort(err) })
  }

  async stop (): Promise<void> {
    if (this.receive != null) await this.components.registrar.unhandle(this.protocol)
    this.receive = undefined
    for (const { stream, timer } of this.outbound.values()) {
      clearTimeout(timer)
      stream.abort(new Error('stopping'))
    }
    this.outbound.clear()
  }

  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const receive = this.receive
    if (receive == null) {
      stream.abort(new Error('not listening'))
      return
    }
    await readStream(stream, connection, {
      receive,
      idle: this.init.idleTimeout ?? DM_IDLE_TIMEOUT_MS,
      maxTextBytes: this.maxTextBytes,
      stats: this.stats,
      log: this.log
    })
  }

  async send (peer: PeerId, messages: DirectMessage[], options: SendOptions = {}): Promise<void> {
    const key = peer.toString()
    let entry = this.outbound.get(key)
    this.outbound.delete(key)
    if (entry != null) clearTimeout(entry.timer)
    if (entry != null && (entry.stream.status !== 'open' || entry.stream.readableEnded || entry.written !== entry.acked)) {
      entry.stream.abort(new Error('stale'))
      entry = undefined
    }
    const list = [...messages]
    try {
      await this.sendOn(entry ?? await this.openStream(peer, options), list, options)
    } catch (err: any) {
      // a kept stream the other side had already let go of: once more on a fresh one
      if (entry == null || err.name === ProtocolViolationError.name || options.signal?.aborted === true || err.acked > 0) throw err
      this.log('kept dm stream to %p was dead (%s); opening another', peer, err.name)
      await this.sendOn(await this.openStream(peer, options), list, options)
    }
  }

  /**
   * Writes the messages (and what `more` adds) on one stream with up to a window of them in flight,
   * reading acks as they come. Keeps the stream for the next send. On failure the stream is aborted and
   * the error carries `acked`, how many of `list` were acknowledged.
   */
  private async sendOn (entry: OutboundStream, list: DirectMessage[], options: SendOptions): Promise<void> {
    const window = this.init.window ?? DM_WINDOW
    let base = entry.acked
    let next = 0 // index in list of the next message to write
    let acked = 0 // messages of list acknowledged
    let bytesInFlight = 0
    const sizes: number[] = []
    let reporting: Promise<void> = Promise.resolve()
    let reportError: Error | undefined
    let unreported = 0
    try {
      while (true) {
        if (next === list.length) list.push(...(await options.more?.() ?? []))
        // fill the window
        const frames: Uint8Array[] = []
        while (next < list.length && next - acked < window && (bytesInFlight < DM_WINDOW_BYTES || next === acked)) {
          const m = list[next++]
          const frame = encodeDirectMessage(m, this.slab)
          sizes.push(frame.byteLength)
          bytesInFlight += frame.byteLength
          frames.push(frame)
        }
        if (frames.length > 0) {
          entry.written += frames.length
          await writeFrames(entry.stream, frames, options)
          continue
        }
        if (acked === list.length) break
        // wait for the next ack
        const signal = AbortSignal.any([AbortSignal.timeout(this.init.ackTimeout ?? DM_ACK_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
        let bytes
        try {
          bytes = await entry.lp.read({ signal })
        } catch (err: any) {
          if (signal.aborted && options.signal?.aborted !== true) throw new AckTimeoutError(`no ack in ${this.init.ackTimeout ?? DM_ACK_TIMEOUT_MS} ms`)
          throw err
        }
        const frame = decodeFrame(bytes.subarray())
        // the ack counts messages since the stream opened; list and sizes start `base` messages later
        const count = frame.ack != null ? Number(frame.ack.count) - base : NaN
        if (!Number.isSafeInteger(count) || count <= acked || count > next) throw new ProtocolViolationError('unexpected ack')
        const ids = list.slice(acked, count).map(m => m.id)
        for (let i = acked; i < count; i++) bytesInFlight -= sizes[i]
        acked = count
        entry.acked = base + count
        // reported in order while sending goes on (marking messages delivered writes to disk), but never
        // more than a few windows behind
        unreported += ids.length
        reporting = reporting.then(async () => {
          if (reportError == null) await options.onAck?.(ids)
          unreported -= ids.length
        }).catch((err: Error) => { reportError ??= err })
        if (unreported > 4 * window) await reporting
        if (reportError != null) throw reportError
        // a long run (messages keep coming through `more`) keeps only what is not acknowledged yet
        if (acked >= window) {
          list.splice(0, acked)
          sizes.splice(0, acked)
          next -= acked
          base += acked
          acked = 0
        }
      }
      await reporting
      if (reportError != null) throw reportError
    } catch (err: any) {
      entry.stream.abort(err)
      // the acks already read are reported before the failure is
      await reporting
      err.acked = acked
      throw err
    }
    entry.timer = setTimeout(() => {
      if (this.outbound.get(entry.peer) === entry) this.outbound.delete(entry.peer)
      entry.stream.close().catch((err: any) => { entry.stream.abort(err) })
    }, this.init.streamIdleTimeout ?? STREAM_IDLE_MS)
    entry.timer.unref?.()
    this.outbound.set(entry.peer, entry)
  }

  private async openStream (peer: PeerId, options: SendOptions): Promise<OutboundStream> {
    const stream = options.open != null
      ? await options.open({ signal: options.signal })
      : await this.components.connectionManager.openStream(peer, this.protocol, { signal: options.signal, runOnLimitedConnection: true })
    return { peer: peer.toString(), stream, lp: boundedLpStream(stream, MAX_DM_FRAME_BYTES), written: 0, acked: 0, timer: undefined }
  }
}

export function directMessages (init: DirectMessagesInit = {}): (components: DirectMessagesComponents) => DirectMessages {
  return (components) => new DefaultDirectMessages(components, init)
}
