/**
 * Calls: who calls whom and what state each call is in, over the signalling of signalling.ts.
 *
 * The media is not done here. A MediaFactory is plugged in (media.ts; the web app's RTCPeerConnection,
 * rtc.ts); a node without one (the terminal client) still rings, shows incoming and missed calls and
 * can decline them, but cannot answer or place a call.
 *
 * States. Caller: calling (offer sent) → ringing (the callee shows it) → connecting (answered) →
 * connected (media flows) → ended. Callee: incoming → connecting → connected → ended.
 * One call at a time: an offer while busy is answered BUSY (and kept as a missed call).
 * A call not answered within `ringTimeout` ends as missed on both sides (the caller's timer decides;
 * the callee's runs a little longer in case the caller vanished). When two people call each other at
 * once, the call placed by the lower peer ID is kept; the other side drops its own call and answers
 * that one at once (its user wanted the call too).
 *
 * Every ended call is stored before 'ended' is reported (records.ts), except a call dropped in favour of
 * the other in such a crossing, which never rang. What a call sends besides its state (candidates, what
 * the camera and microphone do) is sender.ts's; the streams calls travel on, and which connection each
 * is opened on, are channels.ts's.
 */
import { logger } from '@libp2p/logger'
import { toString as toHex } from 'uint8arrays/to-string'
import { CallError, InvalidInputError } from '../errors.js'
import { broken, failedThere, hungUp, isOver } from './call.js'
import { OfferLimit } from './flood.js'
import { remoteCandidate, remoteDescriptionSet } from './media.js'
import { CallSignal } from './signalling.js'
import { CallTable } from './table.js'
import type { Call, CallInfo } from './call.js'
import type { MediaOptions, MediaSession } from './media.js'
import type { Signal, SignalChannel } from './signalling.js'
import type { PeerId } from '@libp2p/interface'

export { callSignalling, CallSignal } from './signalling.js'
export { noMediaPath } from './media.js'
export { MAX_OFFERS_PER_MINUTE } from './flood.js'
export type { CallSignalling, CallSignallingStats, IceCandidate, MediaState, Signal } from './signalling.js'
export type { CallInfo, CallState } from './call.js'
export type { MediaEvents, MediaFactory, MediaOptions, MediaSession, MediaSetup } from './media.js'
export type { CallsInit } from './table.js'

const log = logger('megachat:calls')

/** The callee's own ring timer runs this much longer than the caller's, which decides. */
const CALLEE_GRACE_MS = 5000

export class Calls extends CallTable {
  /**
   * Peers whose call crossed ours and won, with how to answer theirs: their offer may come after
   * their "glare" answer to ours (two streams, no order between them), and is answered at once.
   */
  private readonly crossed = new Map<string, { video: boolean, until: number }>()
  private readonly offers = new OfferLimit()
  /** offers refused because their peer called too often */
  floods = 0

  /**
   * Calls a peer. Resolves once the offer is on its way (the call is then 'calling'); follow it with
   * onChange. Fails with a clear message when the peer cannot be reached or the media cannot start;
   * such a call is kept in the history as failed.
   */
  async start (peer: PeerId, options: Partial<MediaOptions> = {}): Promise<CallInfo> {
    if (this.media == null) throw new CallError('making calls needs the web app; this client can show incoming calls and decline them')
    if (peer.equals(this.init.self)) throw new InvalidInputError('cannot call yourself')
    const current = this.current()
    if (current != null) throw new CallError(current.peer.equals(peer) ? 'already in a call with them' : 'already in another call: hang up first')
    const video = options.video ?? true
    const call = this.add(peer, {
      id: toHex(crypto.getRandomValues(new Uint8Array(16)), 'base16'),
      peer: peer.toString(),
      direction: 'out',
      video,
      state: 'calling',
      startedAt: Date.now()
    })
    call.localCandidates = []
    call.unconfirmed = []
    try {
      // the signalling stream opens while the media starts and makes the offer
      const [channel, sdp] = await Promise.all([
        this.channels.take(peer).catch((err: Error) => {
          throw new CallError(`could not reach them: they seem to be offline (${err.message})`)
        }),
        this.startMedia(call, { video }).then(async (media) => await media.offer())
      ])
      if (isOver(call)) {
        channel.close() // ended meanwhile (a crossed call, a hang-up): the stream is not needed
        return { ...call.info }
      }
      call.channel ??= channel
      const offer = { type: CallSignal.Type.OFFER, sdp, video, media: this.sender.tell(call) }
      await this.sender.send(call, offer).catch(async (err: Error) => {
        // a prepared stream may have died quietly since (its connection went): once more on a fresh one
        if (channel.open || call.channel !== channel) throw err
        log('the prepared stream to %p failed (%s): once more', peer, err.message)
        call.channel = undefined
        await this.sender.send(call, offer)
      })
      this.sender.flushLocalCandidates(call)
      this.setTimer(call, this.ringTimeout)
      return { ...call.info }
    } catch (err: any) {
      if (call.info.state !== 'ended') await this.finish(call, 'failed', err.message)
      throw err.name === CallError.name ? err : new CallError(`the call could not be made: ${err.message}`)
    }
  }

  /** Answers a ringing call (camera on unless `video: false` or the call is voice only). */
  async accept (id: string, options: Partial<MediaOptions> = {}): Promise<void> {
    const call = this.ringing(id)
    if (this.media == null) throw new CallError('answering a call needs the web app; this client can only decline it')
    call.accepted = true
    this.update(call, 'connecting')
    this.setTimer(call, this.connectTimeout)
    call.localCandidates = []
    try {
      // the caller hears of the answer while the answer is made and the camera and microphone start
      const accepted = this.sender.send(call, { type: CallSignal.Type.ACCEPT })
      accepted.catch(() => {}) // one stream: the answer's send fails too, and that is awaited below
      const media = await this.answeringMedia(call, (options.video ?? true) && call.info.video)
      if (isOver(call) || call.offer == null) return
      const sdp = await media.answer(call.offer)
      call.offer = undefined
      // frames go out in order: the answer, then the candidates found meanwhile
      const answered = this.sender.send(call, { type: CallSignal.Type.ANSWER, sdp, media: this.sender.tell(call) })
      this.sender.flushLocalCandidates(call)
      await Promise.all([accepted, answered, remoteDescriptionSet(call)])
    } catch (err: any) {
      await this.fail(call, err)
      throw err.name === CallError.name ? err : new CallError(`the call could not be answered: ${err.message}`)
    }
  }

  /**
   * Callee: sets the call's media up while it rings and starts taking the offer, so that answering only
   * starts the camera and microphone and makes the answer. Resolves once the media exists, not once the
   * offer is taken: an answer right away starts the camera while the offer is still being applied (the
   * camera takes the longer). Nothing reaches the caller before the user answers.
   */
  private async prepareAnswer (call: Call, offer: string): Promise<MediaSession | undefined> {
    try {
      const media = await this.startMedia(call, { video: call.info.video }, true)
      // a failure here is met again, and reported, by answer()
      media.takeOffer?.(offer).catch((err: Error) => { log('could not take the offer while it rang: %s', err.message) })
      return media
    } catch (err: any) {
      log('could not set the call up while it rang: %s', err.message)
      if (!isOver(call)) {
        call.media?.close()
        call.media = undefined
      }
      return undefined
    }
  }

  /** The media to answer with: the one set up while the call rang, its devices started now, or a new one. */
  private async answeringMedia (call: Call, video: boolean): Promise<MediaSession> {
    const early = await call.early
    if (early == null) return await this.startMedia(call, { video })
    call.local = { camera: video, mic: true }
    early.startDevices?.({ video })
    return early
  }

  /** Turns down a ringing call. */
  async decline (id: string): Promise<void> {
    await this.finish(this.ringing(id), 'declined', undefined, { type: CallSignal.Type.DECLINE })
  }

  private ringing (id: string): Call {
    const call = this.calls.get(id)
    if (call == null || call.info.direction !== 'in' || call.info.state !== 'incoming') throw new CallError('that call is not ringing any more')
    return call
  }

  /** Ends a call in any state (a ringing incoming call is declined). */
  async hangup (id: string): Promise<void> {
    const call = this.calls.get(id)
    if (call == null) return
    if (call.info.state === 'incoming') {
      await this.decline(id)
      return
    }
    await this.finish(call, ...hungUp(call, 'you'), { type: CallSignal.Type.HANGUP })
  }

  /** @internal Hangs up everything (the chat is stopping). */
  async stop (): Promise<void> {
    this.channels.closePrepared()
    await Promise.allSettled([...this.calls.keys()].map(async id => { await this.hangup(id) }))
  }

  // ---- from the signalling service

  /** @internal */
  onSignal (from: PeerId, signal: Signal, channel: SignalChannel): void {
    const call = this.calls.get(signal.callId)
    if (call == null) {
      if (signal.type === CallSignal.Type.OFFER) this.incoming(from, signal, channel)
      else channel.close() // about a call that is over: nothing to say
      return
    }
    if (!call.peer.equals(from)) {
      channel.abort(new Error('a call id of another peer'))
      return
    }
    if (call.channel == null || !call.channel.open) call.channel = channel
    call.inbound = call.inbound
      .then(async () => { await this.handle(call, signal) })
      .catch(async (err: Error) => { await this.fail(call, err) })
  }

  /** @internal */
  onEnd (channel: SignalChannel): void {
    channel.close() // the other side closed its end: close ours
    this.channels.ended(channel)
    for (const call of this.calls.values()) {
      if (call.channel !== channel) continue
      call.inbound = call.inbound.then(async () => {
        if (call.channel === channel) call.channel = undefined
        // a stream can go with one of several connections; the next signal opens a fresh one. Only
        // when no connection to them is left, a call not yet answered is over (the timers bound the rest)
        if (this.init.connections(call.peer).length > 0) {
          await this.sender.resend(call)
          return
        }
        if (call.info.state === 'incoming') await this.finish(call, 'missed')
        else if (call.info.state === 'calling' || call.info.state === 'ringing') await this.finish(call, 'failed', 'the connection to them was lost')
      })
    }
  }

  // ---- internals

  private incoming (from: PeerId, signal: Signal, channel: SignalChannel): void {
    const info: CallInfo = {
      id: signal.callId,
      peer: from.toString(),
      direction: 'in',
      video: signal.video === true,
      state: 'incoming',
      startedAt: Date.now(),
      ...(signal.media != null ? { remoteCamera: signal.media.camera, remoteMic: signal.media.mic } : {})
    }
    const key = from.toString()
    if (!this.offers.allow(key)) {
      this.floods++
      void this.channels.lastWord(channel, { callId: signal.callId, type: CallSignal.Type.BUSY })
      return
    }
    const won = this.crossed.get(key)
    this.crossed.delete(key)
    let answerAtOnce: MediaOptions | undefined = won != null && won.until > Date.now() ? { video: won.video } : undefined
    const same = [...this.calls.values()].find(c => c.peer.equals(from))
    if (same != null && same.info.direction === 'out') {
      // both called at once: the lower peer ID's call is kept
      const theirsWins = from.toString() < this.init.self.toString() && !same.accepted
      if (!theirsWins) {
        void this.channels.lastWord(channel, { callId: signal.callId, type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.GLARE })
        return
      }
      log('calls crossed with %p: theirs is kept', from)
      answerAtOnce = { video: same.info.video }
      void this.finish(same, undefined, 'the calls crossed', { type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.GLARE })
    } else if (same != null) {
      // they call again while their last call still seems to ring or run here: that one is over
      void this.finish(same, hungUp(same, 'they')[0])
    }
    if (this.current() != null) {
      void this.channels.lastWord(channel, { callId: signal.callId, type: CallSignal.Type.BUSY })
      void this.records.record({ ...info, state: 'ended', outcome: 'missed', reason: 'you were in another call' })
      return
    }
    // everything is in place before the call is announced: a listener may answer it at once
    const call = this.add(from, info, (c) => {
      c.channel = channel
      c.offer = signal.sdp
      this.setTimer(c, this.ringTimeout + CALLEE_GRACE_MS)
      if (answerAtOnce == null || this.media == null) {
        this.sender.post(c, { type: CallSignal.Type.RINGING }, 'ringing')
      }
      if (answerAtOnce == null && this.media != null && signal.sdp != null) c.early = this.prepareAnswer(c, signal.sdp)
    })
    if (answerAtOnce != null && this.media != null) {
      this.accept(call.info.id, answerAtOnce).catch((err: Error) => { log('could not answer the crossed call: %s', err.message) })
    }
  }

  private async handle (call: Call, signal: Signal): Promise<void> {
    if (call.info.state === 'ended') return
    const out = call.info.direction === 'out'
    switch (signal.type) {
      case CallSignal.Type.RINGING:
        call.unconfirmed = undefined
        if (out && call.info.state === 'calling') this.update(call, 'ringing')
        break
      case CallSignal.Type.OFFER:
        // the caller sent it again (the stream it first went on ended before our RINGING reached it)
        if (!out && call.info.state === 'incoming') await this.sender.send(call, { type: CallSignal.Type.RINGING })
        break
      case CallSignal.Type.ACCEPT:
        call.unconfirmed = undefined
        if (out && !call.accepted) {
          call.accepted = true
          this.update(call, 'connecting')
          this.setTimer(call, this.connectTimeout)
        }
        break
      case CallSignal.Type.ANSWER:
        if (out && !call.remoteSet && call.media != null && signal.sdp != null) {
          call.accepted = true
          this.sender.heard(call, signal.media)
          this.sender.sendMedia(call) // what changed here since the offer
          await call.media.setAnswer(signal.sdp)
          await remoteDescriptionSet(call)
        }
        break
      case CallSignal.Type.MEDIA:
        this.sender.heard(call, signal.media)
        break
      case CallSignal.Type.CANDIDATE:
        await remoteCandidate(call, signal.candidate ?? null)
        break
      case CallSignal.Type.DECLINE:
        if (out) await this.finish(call, 'declined')
        break
      case CallSignal.Type.BUSY:
        if (out) await this.finish(call, 'busy', 'they are in another call')
        break
      case CallSignal.Type.HANGUP:
        if (signal.reason === CallSignal.Reason.GLARE && out) {
          // they called us too, and theirs is kept: answer it when it comes (it may already have)
          this.crossed.set(call.info.peer, { video: call.info.video, until: Date.now() + this.ringTimeout })
          await this.finish(call, undefined, 'the calls crossed')
        }
        else if (signal.reason === CallSignal.Reason.FAILED) await this.finish(call, broken(call), failedThere(call))
        else if (signal.reason === CallSignal.Reason.DEVICES) await this.finish(call, broken(call), 'the call failed on their side: their microphone could not start')
        else await this.finish(call, ...hungUp(call, 'they'))
        break
      default:
        break // a newer kind of signal: ignored
    }
  }
}
