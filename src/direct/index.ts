/**
 * Direct messages: `/megachat/dm/1.0.0`.
 *
 * The sender opens a stream to the contact (kept open while the conversation goes on) and writes
 * DmFrame{message} frames (length-prefixed protobuf). The receiver stores each message (through `init.receive`) and only then answers
 * DmFrame{ack}, so a message the sender sees as delivered is on the recipient's disk. Noise gives the
 * stream confidentiality, integrity and mutual authentication; the peer ID of the connection is the author.
 *
 * Bad input from a peer (oversized frames, undecodable bytes, malformed fields, too many streams) aborts
 * that stream and is counted in `stats`; it never throws into the event loop.
 *
 * @example
 * ```ts
 * const node = await createLibp2p({ services: { dm: directMessages({ receive: async (from, m) => { ... } }) } })
 * await node.services.dm.send(peerId, [{ id, timestamp: Date.now(), text: 'hi' }], { onAck: id => ... })
 * ```
 */
import { serviceCapabilities } from '@libp2p/interface'
import { lpStream, UnexpectedEOFError } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { toString as toHex } from 'uint8arrays/to-string'
import { fromString as fromHex } from 'uint8arrays/from-string'
import { DM_BATCH, DM_IDLE_TIMEOUT_MS, DM_MAX_INBOUND_STREAMS, DM_PROTOCOL, MAX_DM_FRAME_BYTES, MAX_TEXT_BYTES } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { DmFrame } from './pb/dm.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export interface DirectMessage {
  /** 32 hex characters (128 random bits) */
  id: string
  /** author's clock, ms */
  timestamp: number
  text: string
}

export interface DirectMessagesInit {
  protocol?: string
  maxTextBytes?: number
  maxInboundStreams?: number
  idleTimeout?: number
  /** an outbound stream unused this long is closed (default 20 s; keep it below the peer's idleTimeout) */
  streamIdleTimeout?: number
  /**
   * Stores a message that arrived. The ack goes out only after this resolves, so it must not resolve
   * before the message is written. Duplicates (same id from the same peer) must be accepted quietly.
   */
  receive(from: PeerId, message: DirectMessage, connection: Connection): Promise<void>
}

export interface DirectMessagesComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

/** What a peer sent that was dropped, and what was accepted. */
export interface DirectMessageStats {
  received: number
  /** frames over the size limit */
  oversized: number
  /** frames that did not decode or had malformed fields */
  malformed: number
  /** streams that ended in an error other than the above (timeouts, resets) */
  failedStreams: number
}

export interface SendOptions extends AbortOptions {
  /** the connection to use while it is open (else one is found or dialled by peer ID) */
  connection?: Connection
  /** Called in order as each ack arrives; the next ack is read after it resolves. */
  onAck?(id: string): void | Promise<void>
}

export interface DirectMessages {
  readonly protocol: string
  readonly stats: Readonly<DirectMessageStats>
  /**
   * Sends messages on fresh streams (at most DM_BATCH per stream) and waits for their acks.
   * Resolves when all are acknowledged; rejects on the first failure (acks already seen stay reported).
   */
  send(peer: PeerId, messages: DirectMessage[], options?: SendOptions): Promise<void>
}

const ID_BYTES = 16
/** An outbound DM stream unused for this long is closed (well inside the receiver's idle timeout). */
const STREAM_IDLE_MS = 20_000

interface OutboundStream {
  stream: Stream
  lp?: LengthPrefixedStream<Stream>
  timer: ReturnType<typeof setTimeout> | undefined
}

class DefaultDirectMessages implements DirectMessages, Startable {
  readonly protocol: string
  readonly stats: DirectMessageStats = { received: 0, oversized: 0, malformed: 0, failedStreams: 0 }
  private readonly components: DirectMessagesComponents
  private readonly init: DirectMessagesInit
  private readonly maxTextBytes: number
  private readonly log: Logger
  /** one kept-open outbound stream per peer */
  private readonly outbound = new Map<string, OutboundStream>()

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

  async start (): Promise<void> {
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams ?? DM_MAX_INBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(this.protocol)
    for (const { stream, timer } of this.outbound.values()) {
      clearTimeout(timer)
      stream.abort(new Error('stopping'))
    }
    this.outbound.clear()
  }

  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer
    const lp = lpStream(stream, { maxDataLength: MAX_DM_FRAME_BYTES })
    const idle = this.init.idleTimeout ?? DM_IDLE_TIMEOUT_MS
    try {
      while (true) {
        let bytes
        try {
          bytes = await lp.read({ signal: AbortSignal.timeout(idle) })
        } catch (err: any) {
          if (err.name === UnexpectedEOFError.name) break // the sender closed its side
          throw err
        }
        const message = this.decode(bytes.subarray())
        await this.init.receive(from, message, connection)
        this.stats.received++
        await lp.write(DmFrame.encode({ ack: { id: fromHex(message.id, 'base16') } }), { signal: AbortSignal.timeout(idle) })
      }
      await stream.close({ signal: AbortSignal.timeout(idle) })
    } catch (err: any) {
      if (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError') this.stats.oversized++
      else if (err.name === ProtocolViolationError.name) this.stats.malformed++
      else this.stats.failedStreams++
      this.log('dropped dm stream from %p: %s', from, err.name)
      stream.abort(err)
    }
  }

  /** Validates one inbound frame; throws ProtocolViolationError for anything malformed. */
  private decode (bytes: Uint8Array): DirectMessage {
    let frame: DmFrame
    try {
      frame = DmFrame.decode(bytes)
    } catch {
      throw new ProtocolViolationError('undecodable frame')
    }
    const m = frame.message
    if (m == null || frame.ack != null) throw new ProtocolViolationError('expected a message frame')
    if (m.id.byteLength !== ID_BYTES) throw new ProtocolViolationError('bad message id')
    if (m.text.length === 0 || new TextEncoder().encode(m.text).byteLength > this.maxTextBytes) throw new ProtocolViolationError('bad text length')
    const timestamp = Number(m.timestamp)
    if (!Number.isSafeInteger(timestamp) || timestamp <= 0) throw new ProtocolViolationError('bad timestamp')
    return { id: toHex(m.id, 'base16'), timestamp, text: m.text }
  }

  async send (peer: PeerId, messages: DirectMessage[], options: SendOptions = {}): Promise<void> {
    for (let i = 0; i < messages.length; i += DM_BATCH) {
      await this.sendBatch(peer, messages.slice(i, i + DM_BATCH), options)
    }
  }

  /**
   * Writes a batch on the peer's open DM stream (or a new one) and reads the acks. A stream is kept
   * open between batches, so a conversation pays for stream set-up once, not per message; it is closed
   * after STREAM_IDLE_MS without use. A kept stream that turns out to be dead is replaced once.
   */
  private async sendBatch (peer: PeerId, batch: DirectMessage[], options: SendOptions): Promise<void> {
    const key = peer.toString()
    let entry = this.outbound.get(key)
    this.outbound.delete(key)
    if (entry != null) clearTimeout(entry.timer)
    if (entry != null && (entry.stream.status !== 'open' || entry.stream.readableEnded)) {
      entry.stream.abort(new Error('stale'))
      entry = undefined
    }
    const reused = entry != null
    entry ??= { stream: await this.openStream(peer, options), timer: undefined }
    entry.lp ??= lpStream(entry.stream, { maxDataLength: MAX_DM_FRAME_BYTES })
    const { stream, lp } = entry
    let acked = 0
    try {
      await lp.writeV(batch.map(m => DmFrame.encode({
        message: { id: fromHex(m.id, 'base16'), timestamp: BigInt(m.timestamp), text: m.text }
      })), options)
      for (const m of batch) {
        const bytes = await lp.read(options)
        let frame: DmFrame
        try {
          frame = DmFrame.decode(bytes)
        } catch {
          throw new ProtocolViolationError('undecodable ack')
        }
        if (frame.ack == null || toHex(frame.ack.id, 'base16') !== m.id) throw new ProtocolViolationError('unexpected ack')
        acked++
        await options.onAck?.(m.id)
      }
    } catch (err: any) {
      stream.abort(err)
      // a kept stream the other side had already let go of: once more on a fresh one
      if (reused && err.name !== ProtocolViolationError.name && options.signal?.aborted !== true) {
        await this.sendBatch(peer, batch.slice(acked), options)
        return
      }
      throw err
    }
    entry.timer = setTimeout(() => {
      if (this.outbound.get(key) !== entry) return
      this.outbound.delete(key)
      stream.close().catch((err: any) => { stream.abort(err) })
    }, this.init.streamIdleTimeout ?? STREAM_IDLE_MS)
    entry.timer.unref?.()
    this.outbound.set(key, entry)
  }

  private async openStream (peer: PeerId, options: SendOptions): Promise<Stream> {
    if (options.connection?.status === 'open') {
      return await options.connection.newStream(this.protocol, { signal: options.signal, runOnLimitedConnection: true })
    }
    return await this.components.connectionManager.openStream(peer, this.protocol, {
      signal: options.signal,
      runOnLimitedConnection: true
    })
  }
}

export function directMessages (init: DirectMessagesInit): (components: DirectMessagesComponents) => DirectMessages {
  return (components) => new DefaultDirectMessages(components, init)
}
