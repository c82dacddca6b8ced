/**
 * What a call sends besides its state changes: frames on the call's stream (a fresh one when it closed),
 * the caller's offer sent again when its stream ended before the callee rang, the ICE candidates held
 * until our OFFER or ANSWER went, and what we send (camera, microphone) told to the other side.
 *
 * Each side tells the other what it sends (camera or screen video, microphone on or off): with its OFFER
 * or ANSWER, and in MEDIA frames when that changes during the call (at most one per CALL_MEDIA_FRAME_MS,
 * the latest state). A received video track does not say it: in Chromium it stays live and unmuted when
 * the sender stops sending, and shows the last frame. A side that said nothing with its OFFER or ANSWER
 * is an older client, which refuses MEDIA frames: it is sent none, and its CallInfo has no remote state.
 */
import { logger } from '@libp2p/logger'
import { CALL_MEDIA_FRAME_MS } from '../constants.js'
import { isOver } from './call.js'
import { CallSignal } from './signalling.js'
import type { Call, CallInfo } from './call.js'
import type { SignalChannels } from './channels.js'
import type { IceCandidate, MediaState, Signal } from './signalling.js'

const log = logger('megachat:calls')

/** Most frames kept to send again (an offer and its candidates), and how often a call sends them again. */
const MAX_UNCONFIRMED = 64
const MAX_RESENDS = 2

export class CallSender {
  private readonly channels: SignalChannels
  /** a call's remote media state changed */
  private readonly onChange: (info: CallInfo) => void

  constructor (channels: SignalChannels, onChange: (info: CallInfo) => void) {
    this.channels = channels
    this.onChange = onChange
  }

  /** Sends on the call's channel, or on a fresh one when it has closed. */
  async send (call: Call, signal: Omit<Signal, 'callId'>): Promise<void> {
    if (call.info.direction === 'out' && call.info.state === 'calling' && call.unconfirmed != null && call.unconfirmed.length < MAX_UNCONFIRMED) call.unconfirmed.push(signal)
    if (call.channel == null || !call.channel.open) {
      call.opening ??= this.channels.open(call.peer).finally(() => { call.opening = undefined })
      call.channel = await call.opening
    }
    await this.channels.send(call.channel, { ...signal, callId: call.info.id })
  }

  /** Sends a frame nobody waits for; a failure is only logged. */
  post (call: Call, signal: Omit<Signal, 'callId'>, what: string): void {
    void this.send(call, signal).catch((err: Error) => { log('%s not sent: %s', what, err.message) })
  }

  /** A local ICE candidate: held until our OFFER or ANSWER went, then sent. */
  candidate (call: Call, c: IceCandidate | null): void {
    if (call.localCandidates != null) call.localCandidates.push(c)
    else this.post(call, { type: CallSignal.Type.CANDIDATE, candidate: c }, 'candidate')
  }

  /** Sends the candidates held until now; later ones go at once. */
  flushLocalCandidates (call: Call): void {
    const held = call.localCandidates ?? []
    call.localCandidates = undefined
    for (const c of held) this.post(call, { type: CallSignal.Type.CANDIDATE, candidate: c }, 'candidate')
  }

  /**
   * Sends what the callee has not confirmed again, on a fresh stream (its frames are idempotent: the callee
   * answers a repeated offer with RINGING and ignores candidates it has). At most MAX_RESENDS times a call.
   */
  async resend (call: Call): Promise<void> {
    const frames = call.unconfirmed
    if (isOver(call) || call.info.state !== 'calling' || frames == null || frames.length === 0 || call.channel != null) return
    call.resent = (call.resent ?? 0) + 1
    if (call.resent > MAX_RESENDS) return
    log('the call stream to %p ended before it rang: sending the offer again', call.peer)
    call.unconfirmed = []
    try {
      for (const frame of frames) await this.send(call, frame)
    } catch (err: any) {
      log('could not send the offer again: %s', err.message)
    }
  }

  /** What goes with our OFFER or ANSWER: what we send now; the other side knows it from then on. */
  tell (call: Call): MediaState {
    call.told = { ...call.local }
    return call.told
  }

  /** What the other side says it sends (nothing: an older client); announced when it changed. */
  heard (call: Call, media: MediaState | undefined): void {
    if (media == null || isOver(call) || (call.info.remoteCamera === media.camera && call.info.remoteMic === media.mic)) return
    call.info.remoteCamera = media.camera
    call.info.remoteMic = media.mic
    this.onChange({ ...call.info })
  }

  /**
   * Tells the other side what we send when it changed since it was last told: at once, or, within
   * CALL_MEDIA_FRAME_MS of the last MEDIA frame, at the end of that time (the state then, however often
   * it changed meanwhile). Only once our OFFER or ANSWER went, and only to a side that knows MEDIA.
   */
  sendMedia (call: Call): void {
    const told = call.told
    if (isOver(call) || told == null || call.info.remoteCamera == null || call.mediaTimer != null) return
    if (told.camera === call.local.camera && told.mic === call.local.mic) return
    const wait = call.mediaAt + CALL_MEDIA_FRAME_MS - Date.now()
    if (wait > 0) {
      call.mediaTimer = setTimeout(() => {
        call.mediaTimer = undefined
        this.sendMedia(call)
      }, wait)
      return
    }
    call.mediaAt = Date.now()
    const media = { ...call.local }
    call.told = media
    this.post(call, { type: CallSignal.Type.MEDIA, media }, 'media state')
  }
}
