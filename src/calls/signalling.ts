/**
 * Call signalling: `/megachat/call/1.0.0`.
 *
 * The wire half of calls, and nothing of their logic (that is calls/index.ts): it frames, validates
 * and counts CallSignal protobufs on streams. The caller opens a stream to the contact on the
 * connection `reach()` gave and both sides write frames on it for the call's whole life; either side
 * may open a fresh stream for the same call later. A caller may open its stream ahead of the call, when
 * its user opens the contact's conversation, and send the offer on it later (up to CALL_FIRST_FRAME_MS
 * of silence). Every frame read is handed to the `onSignal` of the handler given to listen(), with
 * the channel it came on; the end of a channel is reported to its `onEnd`.
 *
 * The stream is Noise-authenticated end to end with the contact's peer ID, so the DTLS fingerprints
 * inside the SDP it carries are bound to the contact's key: whoever relays the connection cannot swap
 * them, and the media (DTLS-SRTP) is end-to-end encrypted.
 *
 * Bad input (oversized frames or length prefixes, undecodable frames, fields of the wrong wire type or
 * strings that are not UTF-8, malformed fields, too many frames or streams, MEDIA frames faster than
 * CALL_MEDIA_FRAME_MS beyond a burst of CALL_MEDIA_BURST) aborts the stream and is counted in `stats`;
 * it never throws into the event loop. MEDIA frames (camera and microphone on or off) are not counted
 * in CALL_MAX_FRAMES: a long call may toggle them often, and their pace bounds them instead.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { UnexpectedEOFError } from '@libp2p/utils'
import { fromString as fromHex } from 'uint8arrays/from-string'
import { toString as toHex } from 'uint8arrays/to-string'
import { CALL_FIRST_FRAME_MS, CALL_MAX_FRAMES, CALL_MAX_INBOUND_STREAMS, CALL_MEDIA_BURST, CALL_MEDIA_FRAME_MS, CALL_PROTOCOL, MAX_CALL_FRAME_BYTES, MAX_SDP_BYTES } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { boundedLpStream, checkFields } from '../node/frames.js'
import { CallSignal } from './pb/call.js'
import type { Shape } from '../node/frames.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { LengthPrefixedStream } from '@libp2p/utils'

export { CallSignal } from './pb/call.js'

/** An ICE candidate as RTCIceCandidate.toJSON() gives it. */
export interface IceCandidate {
  candidate: string
  sdpMid?: string | null
  sdpMLineIndex?: number | null
  usernameFragment?: string | null
}

/** What one side of a call sends. */
export interface MediaState {
  /** video goes out: the camera, or a shared screen */
  camera: boolean
  /** the microphone is on */
  mic: boolean
}

/** One signalling frame, validated. */
export interface Signal {
  /** 32 hex characters */
  callId: string
  type: CallSignal.Type
  /** OFFER and ANSWER */
  sdp?: string
  /** OFFER: camera video asked for */
  video?: boolean
  /** CANDIDATE: a candidate, or null for the end of candidates */
  candidate?: IceCandidate | null
  /** HANGUP */
  reason?: CallSignal.Reason
  /** MEDIA; OFFER and ANSWER from clients that know MEDIA */
  media?: MediaState
}

export interface CallSignallingInit {
  protocol?: string
  maxInboundStreams?: number
  /** a new inbound stream must say something within this time (ms; a caller may open one ahead of its call) */
  firstFrameTimeout?: number
}

/** What takes the frames of every channel, inbound or opened here. */
export interface SignalHandler {
  /** a frame arrived; the channel is the one to answer on */
  onSignal(from: PeerId, signal: Signal, channel: SignalChannel): void
  /** a channel closed or failed (after its last frame was handed on) */
  onEnd(channel: SignalChannel): void
}

export interface CallSignallingComponents {
  registrar: Registrar
  logger: ComponentLogger
}

export interface CallSignallingStats {
  received: number
  oversized: number
  malformed: number
  failedStreams: number
}

export interface CallSignalling {
  readonly protocol: string
  readonly stats: Readonly<CallSignallingStats>
  /** Opens a signalling stream on a connection; frames that come back go to the handler's `onSignal`. */
  open(connection: Connection, options?: AbortOptions): Promise<SignalChannel>
  /**
   * Registers the protocol handler, handing frames and ends of channels to `handler` (made after the
   * node, before it starts: inbound streams meet only a handler that exists). Once only.
   */
  listen(handler: SignalHandler): Promise<void>
}

const ID_BYTES = 16
const MAX_CANDIDATE_CHARS = 1024
/** How long the other side has to close its end after we closed ours. */
const CLOSE_WAIT_MS = 5000

/** One signalling stream, either direction. */
export class SignalChannel {
  readonly remotePeer: PeerId
  private readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>
  /** writes go out one after another, in the order they were asked for */
  private writing: Promise<void> = Promise.resolve()

  constructor (stream: Stream, remotePeer: PeerId) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.lp = boundedLpStream(stream, MAX_CALL_FRAME_BYTES)
  }

  get open (): boolean {
    return this.stream.status === 'open' && this.stream.writeStatus === 'writable'
  }

  /** Writes one frame (after those asked for before it). */
  async send (signal: Signal, options?: AbortOptions): Promise<void> {
    const bytes = encodeSignal(signal)
    const write = this.writing.then(async () => { await this.lp.write(bytes, options) })
    this.writing = write.catch(() => {})
    await write
  }

  /** @internal */
  async read (options?: AbortOptions): Promise<Uint8Array | undefined> {
    try {
      return (await this.lp.read(options)).subarray()
    } catch (err: any) {
      if (err.name === UnexpectedEOFError.name) return undefined // the other side closed its end
      throw err
    }
  }

  /**
   * Closes our end once what was sent is written. The other side should close its end too; one that
   * keeps it open (it would hold one of the connection's few signalling streams) is reset after a while.
   */
  close (): void {
    void this.writing.then(async () => { await this.stream.close({ signal: AbortSignal.timeout(CLOSE_WAIT_MS) }) })
      .catch((err: any) => { this.stream.abort(err) })
    const timer = setTimeout(() => {
      if (this.stream.status !== 'closed') this.stream.abort(new Error('the other side did not close its end'))
    }, CLOSE_WAIT_MS)
    timer.unref?.()
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}

class DefaultCallSignalling implements CallSignalling, Startable {
  readonly protocol: string
  readonly stats: CallSignallingStats = { received: 0, oversized: 0, malformed: 0, failedStreams: 0 }
  private readonly components: CallSignallingComponents
  private readonly init: CallSignallingInit
  private readonly log: Logger
  private readonly channels = new Set<SignalChannel>()
  private handler?: SignalHandler

  readonly [Symbol.toStringTag] = 'megachat/call-signalling'
  readonly [serviceCapabilities] = ['@megachat/call-signalling']

  constructor (components: CallSignallingComponents, init: CallSignallingInit) {
    this.components = components
    this.init = init
    this.protocol = init.protocol ?? CALL_PROTOCOL
    this.log = components.logger.forComponent('megachat:call')
  }

  /** the protocol is registered by listen() */
  async start (): Promise<void> {}

  async listen (handler: SignalHandler): Promise<void> {
    if (this.handler != null) throw new Error('already listening')
    this.handler = handler
    await this.components.registrar.handle(this.protocol, (stream, connection) => {
      const handler = this.handler
      if (handler == null) {
        stream.abort(new Error('not listening'))
        return
      }
      void this.run(new SignalChannel(stream, connection.remotePeer), true, handler)
    }, {
      maxInboundStreams: this.init.maxInboundStreams ?? CALL_MAX_INBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    if (this.handler != null) await this.components.registrar.unhandle(this.protocol)
    this.handler = undefined
    for (const channel of this.channels) channel.abort(new Error('stopping'))
    this.channels.clear()
  }

  async open (connection: Connection, options?: AbortOptions): Promise<SignalChannel> {
    const handler = this.handler
    if (handler == null) throw new Error('not listening: nothing would take the answers')
    const stream = await connection.newStream(this.protocol, { signal: options?.signal, runOnLimitedConnection: true })
    const channel = new SignalChannel(stream, connection.remotePeer)
    void this.run(channel, false, handler)
    return channel
  }

  /** Reads frames until the stream ends; an inbound stream must start talking within firstFrameTimeout. */
  private async run (channel: SignalChannel, inbound: boolean, handler: SignalHandler): Promise<void> {
    this.channels.add(channel)
    const from = channel.remotePeer
    let frames = 0
    const media = new Pace(CALL_MEDIA_FRAME_MS, CALL_MEDIA_BURST)
    try {
      for (let n = 0; ; n++) {
        const first = inbound && n === 0
        const bytes = await channel.read(first ? { signal: AbortSignal.timeout(this.init.firstFrameTimeout ?? CALL_FIRST_FRAME_MS) } : undefined)
        if (bytes == null) break
        const signal = decodeSignal(bytes)
        if (signal.type === CallSignal.Type.MEDIA) {
          if (!media.take()) throw new ProtocolViolationError('media frames too fast')
        } else if (++frames > CALL_MAX_FRAMES) {
          throw new ProtocolViolationError('too many frames on one call stream')
        }
        this.stats.received++
        handler.onSignal(from, signal, channel)
      }
    } catch (err: any) {
      if (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError') this.stats.oversized++
      else if (err.name === ProtocolViolationError.name) this.stats.malformed++
      else this.stats.failedStreams++
      this.log('dropped call stream from %p: %s', from, err.name)
      channel.abort(err)
    } finally {
      this.channels.delete(channel)
      handler.onEnd(channel)
    }
  }
}

/** CallSignal's fields as call.proto declares them (checkFields refuses any other wire type, and invalid UTF-8). */
const CALL_SIGNAL_SHAPE: Shape = {
  1: 'bytes',
  2: 'varint',
  3: 'string',
  4: 'varint',
  5: { 1: 'string', 2: 'string', 3: 'varint', 4: 'string' },
  6: 'varint',
  7: { 1: 'varint', 2: 'varint' }
}

/** One frame as it goes on the wire. */
export function encodeSignal (signal: Signal): Uint8Array {
  return CallSignal.encode({
    callId: fromHex(signal.callId, 'base16'),
    type: signal.type,
    sdp: signal.sdp,
    video: signal.video ?? false,
    candidate: signal.candidate == null ? undefined : withoutNulls(signal.candidate),
    reason: signal.reason ?? CallSignal.Reason.NORMAL,
    media: signal.media == null ? undefined : { camera: signal.media.camera, mic: signal.media.mic }
  })
}

/**
 * Reads one frame as the signalling service does: fields checked strictly, a 16-byte call id, an sdp of
 * 1..MAX_SDP_BYTES for OFFER and ANSWER, a candidate line of at most 1024 characters. Throws
 * ProtocolViolationError for anything malformed.
 */
export function decodeSignal (bytes: Uint8Array): Signal {
  checkFields(bytes, CALL_SIGNAL_SHAPE)
  let frame: CallSignal
  try {
    frame = CallSignal.decode(bytes)
  } catch {
    throw new ProtocolViolationError('undecodable call frame')
  }
  if (frame.callId.byteLength !== ID_BYTES) throw new ProtocolViolationError('bad call id')
  const signal: Signal = { callId: toHex(frame.callId, 'base16'), type: frame.type }
  switch (frame.type) {
    case CallSignal.Type.OFFER:
    case CallSignal.Type.ANSWER:
      if (frame.sdp == null || frame.sdp.length === 0 || frame.sdp.length > MAX_SDP_BYTES) throw new ProtocolViolationError('bad sdp')
      signal.sdp = frame.sdp
      signal.video = frame.video
      if (frame.media != null) signal.media = { camera: frame.media.camera, mic: frame.media.mic }
      break
    case CallSignal.Type.CANDIDATE: {
      const c = frame.candidate
      if (c != null && c.candidate.length > MAX_CANDIDATE_CHARS) throw new ProtocolViolationError('bad candidate')
      signal.candidate = c == null ? null : { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment }
      break
    }
    case CallSignal.Type.HANGUP:
      signal.reason = frame.reason
      break
    case CallSignal.Type.MEDIA:
      if (frame.media == null) throw new ProtocolViolationError('a media frame without media')
      signal.media = { camera: frame.media.camera, mic: frame.media.mic }
      break
    default:
      break
  }
  return signal
}

/** At most one event per `ms` on average, with `burst` of them at once. */
class Pace {
  private readonly ms: number
  private readonly burst: number
  private tokens: number
  private at = Date.now()

  constructor (ms: number, burst: number) {
    this.ms = ms
    this.burst = burst
    this.tokens = burst
  }

  /** Counts one event; false when it comes too soon. */
  take (): boolean {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.at) / this.ms)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}

function withoutNulls (c: IceCandidate): CallSignal['candidate'] {
  return {
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? undefined,
    sdpMLineIndex: c.sdpMLineIndex ?? undefined,
    usernameFragment: c.usernameFragment ?? undefined
  }
}

export function callSignalling (init: CallSignallingInit = {}): (components: CallSignallingComponents) => CallSignalling {
  return (components) => new DefaultCallSignalling(components, init)
}
