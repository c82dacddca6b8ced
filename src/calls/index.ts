/**
 * Calls: who calls whom and what state each call is in, over the signalling of signalling.ts.
 *
 * The media is not done here. A MediaFactory is plugged in (the web app's RTCPeerConnection, rtc.ts);
 * a node without one (the terminal client) still rings, shows incoming and missed calls and can
 * decline them, but cannot answer or place a call.
 *
 * States. Caller: calling (offer sent) → ringing (the callee shows it) → connecting (answered) →
 * connected (media flows) → ended. Callee: incoming → connecting → connected → ended.
 * One call at a time: an offer while busy is answered BUSY (and kept as a missed call).
 * A call not answered within `ringTimeout` ends as missed on both sides (the caller's timer decides;
 * the callee's runs a little longer in case the caller vanished). When two people call each other at
 * once, the call placed by the lower peer ID is kept; the other side drops its own call and answers
 * that one at once (its user wanted the call too).
 *
 * Every ended call is stored (store.addCall) before 'ended' is reported, except a call dropped in
 * favour of the other in such a crossing, which never rang. A connected call is stored already while it
 * runs, as answered and ending at the last CALL_RECORD_MS tick, so that a page that goes away mid-call
 * keeps it (its last write, on the way out, does not survive); the final record replaces that one (the
 * store keys a call by its start and id).
 *
 * Each side tells the other what it sends (camera or screen video, microphone on or off): with its OFFER
 * or ANSWER, and in MEDIA frames when that changes during the call (at most one per CALL_MEDIA_FRAME_MS,
 * the latest state). A received video track does not say it: in Chromium it stays live and unmuted when
 * the sender stops sending, and shows the last frame. A side that said nothing with its OFFER or ANSWER
 * is an older client, which refuses MEDIA frames: it is sent none, and its CallInfo has no remote state.
 *
 * The streams calls travel on, and which connection each is opened on, are channels.ts's.
 */
import { logger } from '@libp2p/logger'
import { toString as toHex } from 'uint8arrays/to-string'
import { CALL_CONNECT_TIMEOUT_MS, CALL_MEDIA_FRAME_MS, CALL_RECORD_MS, RING_TIMEOUT_MS } from '../constants.js'
import { CallError, InvalidInputError } from '../errors.js'
import { SignalChannels } from './channels.js'
import { CallSignal } from './signalling.js'
import type { SignalChannelsInit } from './channels.js'
import type { IceCandidate, MediaState, Signal, SignalChannel } from './signalling.js'
import type { CallOutcome, CallRecord, ChatStore, Direction } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

export { callSignalling, CallSignal } from './signalling.js'
export type { CallSignalling, CallSignallingStats, IceCandidate, MediaState, Signal } from './signalling.js'

const log = logger('megachat:calls')

/** The camera and microphone could not start: the other side is told so (DEVICES), not that no media path exists. */
class DevicesError extends CallError {}

/** The callee's own ring timer runs this much longer than the caller's, which decides. */
const CALLEE_GRACE_MS = 5000

/** Calls one peer may place to us per minute; more are answered busy and not kept (a flood). */
export const MAX_OFFERS_PER_MINUTE = 10
/** Peers whose recent offers are remembered for that limit. */
const MAX_TRACKED_CALLERS = 1000

export type CallState = 'calling' | 'ringing' | 'incoming' | 'connecting' | 'connected' | 'ended'

export interface CallInfo {
  /** 32 hex characters, chosen by the caller */
  id: string
  peer: string
  direction: Direction
  /** the caller asked for camera video */
  video: boolean
  state: CallState
  /** when it started (our clock, ms) */
  startedAt: number
  /** when media started to flow */
  connectedAt?: number
  /** once ended: how it went */
  outcome?: CallOutcome
  /** once ended, when there is more to say than the outcome: one line for the user */
  reason?: string
  /** the other side sends video (camera or screen); undefined until it said (an older client never does) */
  remoteCamera?: boolean
  /** the other side's microphone is on; undefined until it said */
  remoteMic?: boolean
}

/** What the media side reports back for a call. */
export interface MediaEvents {
  /** a local ICE candidate to trickle to the other side; null: no more */
  candidate(c: IceCandidate | null): void
  /** media flows (ICE and DTLS are up) */
  connected(): void
  /** no media path could be made, or it was lost for good; `devices`: the microphone could not start */
  failed(reason: string, devices?: boolean): void
  /** what we send now (it may be said again unchanged): the other side is told when it changes */
  sending(state: MediaState): void
}

/** One call's media (an RTCPeerConnection in the web app). */
export interface MediaSession {
  /** caller: makes the offer */
  offer(): Promise<string>
  /** callee: takes the offer, makes the answer */
  answer(offer: string): Promise<string>
  /** caller: takes the answer */
  setAnswer(answer: string): Promise<void>
  /** a remote ICE candidate (null: the end of them) */
  addCandidate(c: IceCandidate | null): Promise<void>
  /** stops every track and the connection */
  close(): void
}

export interface MediaOptions {
  /** start with the camera on */
  video: boolean
}

/** What a MediaFactory is given: the user's choice, and the ICE servers to use. */
export interface MediaSetup extends MediaOptions {
  /** the configured STUN/TURN servers and the bootstrap nodes' TURN servers, as they are when the call starts */
  iceServers?: RTCIceServer[]
}

/**
 * Why a call's media never connected (ICE found no path), and what would help: with no TURN server among
 * the ICE servers the call was given, one would relay it, and a bootstrap node runs one with `--turn`.
 * (Behind symmetric NATs no direct path exists; Chromium gives up on ICE after about 15 s.)
 */
export function noMediaPath (iceServers: RTCIceServer[] | undefined): string {
  const turn = iceServers?.some(s => [s.urls].flat().some(url => /^turns?:/.test(url))) === true
  return turn
    ? 'no media path between you, not even through the TURN server'
    : 'no media path between you: a direct one could not be made, and there is no TURN server to relay the call (a bootstrap node runs one with --turn)'
}

/** Makes the media of a call: asks for the camera and microphone, sets up the connection. */
export type MediaFactory = (call: Readonly<CallInfo>, events: MediaEvents, options: MediaSetup) => Promise<MediaSession>

/** What calls need: the signalling streams' needs (channels.ts) and the call's own. */
export interface CallsInit extends SignalChannelsInit {
  self: PeerId
  store: ChatStore
  /** a call started, changed state or ended */
  onChange(call: CallInfo): void
  /** a call ended and its record is stored */
  onEnded(record: CallRecord): void
  media?: MediaFactory
  /** the ICE servers a call's media uses, asked for at each call (TURN credentials come and go) */
  iceServers?(): RTCIceServer[]
  ringTimeout?: number
  connectTimeout?: number
  /** how often a running call's record is stored again (ms) */
  recordInterval?: number
}

interface Call {
  info: CallInfo
  peer: PeerId
  channel?: SignalChannel
  /** a fresh channel being opened */
  opening?: Promise<SignalChannel>
  media?: MediaSession
  /** the ICE servers the media was given */
  iceServers?: RTCIceServer[]
  /** callee: the caller's offer, until answered */
  offer?: string
  /** the other side answered (caller's view) or the user did (callee's) */
  accepted: boolean
  /** the remote description is set: remote candidates can go in */
  remoteSet: boolean
  /** remote candidates that came before the media could take them */
  remoteCandidates: Array<IceCandidate | null>
  /** local candidates found before our offer or answer went out; undefined after */
  localCandidates?: Array<IceCandidate | null>
  /**
   * caller: what went out before the callee said it rings (the offer, candidates), sent again on a fresh
   * stream when the one it went on ends first: its connection may have gone with the frames unread
   */
  unconfirmed?: Array<Omit<Signal, 'callId'>>
  /** how often `unconfirmed` was sent again */
  resent?: number
  timer?: ReturnType<typeof setTimeout>
  /** remote signals are handled one after another */
  inbound: Promise<void>
  /** the call's record writes, one after another (the final one last) */
  saving: Promise<void>
  /** the next write of a running call's record */
  recordTimer?: ReturnType<typeof setTimeout>
  /** what we send, as the media says */
  local: MediaState
  /** what the other side was last told; undefined until our OFFER or ANSWER went */
  told?: MediaState
  /** when the last MEDIA frame went, and the timer of the next one */
  mediaAt: number
  mediaTimer?: ReturnType<typeof setTimeout>
}

/** Most frames kept to send again (an offer and its candidates), and how often a call sends them again. */
const MAX_UNCONFIRMED = 64
const MAX_RESENDS = 2

const OPEN_STATES: CallState[] = ['calling', 'ringing', 'incoming', 'connecting', 'connected']

/** (a function, so that the compiler does not take a state checked before an await as still true after it) */
const isOver = (call: Call): boolean => call.info.state === 'ended'

export class Calls {
  /** plugged in by the app that can do media; without it calls can only be shown and declined */
  media?: MediaFactory
  /** ms; tests shorten it */
  ringTimeout: number
  connectTimeout: number
  recordInterval: number
  private readonly init: CallsInit
  private readonly calls = new Map<string, Call>()
  private readonly channels: SignalChannels
  /**
   * Peers whose call crossed ours and won, with how to answer theirs: their offer may come after
   * their "glare" answer to ours (two streams, no order between them), and is answered at once.
   */
  private readonly crossed = new Map<string, { video: boolean, until: number }>()
  /** when each peer's recent offers came (for MAX_OFFERS_PER_MINUTE) */
  private readonly offers = new Map<string, number[]>()
  /** offers refused because their peer called too often */
  floods = 0

  constructor (init: CallsInit) {
    this.init = init
    this.media = init.media
    this.ringTimeout = init.ringTimeout ?? RING_TIMEOUT_MS
    this.connectTimeout = init.connectTimeout ?? CALL_CONNECT_TIMEOUT_MS
    this.channels = new SignalChannels(init)
    this.recordInterval = init.recordInterval ?? CALL_RECORD_MS
  }

  /** Calls that have not ended. */
  list (): CallInfo[] {
    return [...this.calls.values()].map(c => ({ ...c.info }))
  }

  get (id: string): CallInfo | undefined {
    const call = this.calls.get(id)
    return call == null ? undefined : { ...call.info }
  }

  /**
   * Opens the signalling stream for a call to `peer` ahead of it (channels.ts), when this node can make
   * calls and is not in one.
   */
  prepare (peer: PeerId): void {
    if (this.media == null || peer.equals(this.init.self) || this.current() != null) return
    this.channels.prepare(peer)
  }

  /** Whether a stream prepared for a call to `peer` is open (for tests and benchmarks). */
  isPrepared (peer: PeerId): boolean {
    return this.channels.isPrepared(peer)
  }

  /** How long a prepared stream is kept (ms); tests shorten it. */
  get preparedTimeout (): number { return this.channels.preparedTimeout }
  set preparedTimeout (ms: number) { this.channels.preparedTimeout = ms }

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
      const offer = { type: CallSignal.Type.OFFER, sdp, video, media: this.tell(call) }
      await this.send(call, offer).catch(async (err: Error) => {
        // a prepared stream may have died quietly since (its connection went): once more on a fresh one
        if (channel.open || call.channel !== channel) throw err
        log('the prepared stream to %p failed (%s): once more', peer, err.message)
        call.channel = undefined
        await this.send(call, offer)
      })
      this.flushLocalCandidates(call)
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
      const accepted = this.send(call, { type: CallSignal.Type.ACCEPT })
      accepted.catch(() => {}) // one stream: the answer's send fails too, and that is awaited below
      const media = await this.startMedia(call, { video: (options.video ?? true) && call.info.video })
      if (isOver(call) || call.offer == null) return
      const sdp = await media.answer(call.offer)
      call.offer = undefined
      // frames go out in order: the answer, then the candidates found meanwhile
      const answered = this.send(call, { type: CallSignal.Type.ANSWER, sdp, media: this.tell(call) })
      this.flushLocalCandidates(call)
      await Promise.all([accepted, answered, this.remoteDescriptionSet(call)])
    } catch (err: any) {
      await this.fail(call, err)
      throw err.name === CallError.name ? err : new CallError(`the call could not be answered: ${err.message}`)
    }
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
    await this.finish(call, ...this.hungUp(call, 'you'), { type: CallSignal.Type.HANGUP })
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
          await this.resend(call)
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
    if (!this.allowOffer(key)) {
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
      void this.finish(same, this.hungUp(same, 'they')[0])
    }
    if (this.current() != null) {
      void this.channels.lastWord(channel, { callId: signal.callId, type: CallSignal.Type.BUSY })
      void this.record({ ...info, state: 'ended', outcome: 'missed', reason: 'you were in another call' })
      return
    }
    // everything is in place before the call is announced: a listener may answer it at once
    const call = this.add(from, info, (c) => {
      c.channel = channel
      c.offer = signal.sdp
      this.setTimer(c, this.ringTimeout + CALLEE_GRACE_MS)
      if (answerAtOnce == null || this.media == null) {
        void this.send(c, { type: CallSignal.Type.RINGING }).catch((err: Error) => { log('could not say ringing: %s', err.message) })
      }
    })
    if (answerAtOnce != null && this.media != null) {
      this.accept(call.info.id, answerAtOnce).catch((err: Error) => { log('could not answer the crossed call: %s', err.message) })
    }
  }

  /** Counts an offer from a peer; false when it called too often in the last minute. */
  private allowOffer (peer: string): boolean {
    const now = Date.now()
    const recent = (this.offers.get(peer) ?? []).filter(t => t > now - 60_000)
    this.offers.delete(peer)
    if (this.offers.size >= MAX_TRACKED_CALLERS) this.offers.delete(this.offers.keys().next().value as string)
    const allowed = recent.length < MAX_OFFERS_PER_MINUTE
    if (allowed) recent.push(now)
    this.offers.set(peer, recent)
    return allowed
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
        if (!out && call.info.state === 'incoming') await this.send(call, { type: CallSignal.Type.RINGING })
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
          this.heard(call, signal.media)
          this.sendMedia(call) // what changed here since the offer
          await call.media.setAnswer(signal.sdp)
          await this.remoteDescriptionSet(call)
        }
        break
      case CallSignal.Type.MEDIA:
        this.heard(call, signal.media)
        break
      case CallSignal.Type.CANDIDATE:
        if (call.media != null && call.remoteSet) await call.media.addCandidate(signal.candidate ?? null)
        else if (call.remoteCandidates.length < 100) call.remoteCandidates.push(signal.candidate ?? null)
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
        else if (signal.reason === CallSignal.Reason.FAILED) await this.finish(call, this.broken(call), this.failedThere(call))
        else if (signal.reason === CallSignal.Reason.DEVICES) await this.finish(call, this.broken(call), 'the call failed on their side: their microphone could not start')
        else await this.finish(call, ...this.hungUp(call, 'they'))
        break
      default:
        break // a newer kind of signal: ignored
    }
  }

  /**
   * How a call that `who` hung up ends: talked once media flowed; answered but hung up while still
   * connecting, failed (nobody talked: it is not an answered call), saying so; else missed.
   */
  private hungUp (call: Call, who: 'you' | 'they'): [CallOutcome, string | undefined] {
    if (call.info.connectedAt != null) return ['answered', undefined]
    return call.accepted ? ['failed', `${who} hung up before it connected`] : ['missed', undefined]
  }

  /**
   * Why a call failed on the other side: before any media flowed, FAILED means that no media path could
   * be made (call.proto), ours too, and what would help depends on our ICE servers.
   */
  private failedThere (call: Call): string {
    return call.info.connectedAt == null ? noMediaPath(call.iceServers) : 'the connection failed on their side'
  }

  /** How a call whose media failed ends: it counts as talked once media flowed. */
  private broken (call: Call): CallOutcome {
    return call.info.connectedAt != null ? 'answered' : 'failed'
  }

  /** Keeps a new call, lets `setup` fill it in, then announces it. */
  private add (peer: PeerId, info: CallInfo, setup?: (call: Call) => void): Call {
    const call: Call = { info, peer, accepted: false, remoteSet: false, remoteCandidates: [], inbound: Promise.resolve(), saving: Promise.resolve(), local: { camera: info.video, mic: true }, mediaAt: 0 }
    this.calls.set(info.id, call)
    setup?.(call)
    this.init.onChange({ ...info })
    return call
  }

  private current (): Call | undefined {
    for (const call of this.calls.values()) if (OPEN_STATES.includes(call.info.state)) return call
    return undefined
  }

  private update (call: Call, state: CallState): void {
    if (call.info.state === state || call.info.state === 'ended') return
    call.info.state = state
    this.init.onChange({ ...call.info })
  }

  private setTimer (call: Call, ms: number): void {
    clearTimeout(call.timer)
    call.timer = setTimeout(() => { void this.timedOut(call) }, ms)
  }

  private async timedOut (call: Call): Promise<void> {
    const { state } = call.info
    if (state === 'calling' || state === 'ringing') {
      await this.finish(call, 'missed', 'no answer', { type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.NO_ANSWER })
    } else if (state === 'incoming') {
      await this.finish(call, 'missed')
    } else if (state === 'connecting') {
      await this.finish(call, 'failed', noMediaPath(call.iceServers), { type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.FAILED })
    }
  }

  private async startMedia (call: Call, options: MediaOptions): Promise<MediaSession> {
    if (this.media == null) throw new CallError('no media on this client')
    call.local = { camera: options.video, mic: true }
    let media: MediaSession
    call.iceServers = this.init.iceServers?.()
    try {
      media = await this.media({ ...call.info }, {
        candidate: (c) => {
          if (call.localCandidates != null) call.localCandidates.push(c)
          else void this.send(call, { type: CallSignal.Type.CANDIDATE, candidate: c }).catch((err: Error) => { log('candidate not sent: %s', err.message) })
        },
        connected: () => {
          if (call.info.state === 'ended') return
          clearTimeout(call.timer)
          call.info.connectedAt ??= Date.now()
          this.update(call, 'connected')
          this.keepRecord(call)
        },
        failed: (reason, devices) => {
          void this.finish(call, this.broken(call), reason, { type: CallSignal.Type.HANGUP, reason: devices === true ? CallSignal.Reason.DEVICES : CallSignal.Reason.FAILED })
        },
        sending: (state) => {
          call.local = { camera: state.camera, mic: state.mic }
          this.sendMedia(call)
        }
      }, { ...options, iceServers: call.iceServers })
    } catch (err: any) {
      throw new DevicesError(`camera or microphone unavailable: ${err.message}`)
    }
    if (call.info.state === 'ended') media.close()
    call.media = media
    return media
  }

  private async remoteDescriptionSet (call: Call): Promise<void> {
    call.remoteSet = true
    for (const c of call.remoteCandidates.splice(0)) await call.media?.addCandidate(c)
  }

  /** What goes with our OFFER or ANSWER: what we send now; the other side knows it from then on. */
  private tell (call: Call): MediaState {
    call.told = { ...call.local }
    return call.told
  }

  /** What the other side says it sends (nothing: an older client); announced when it changed. */
  private heard (call: Call, media: MediaState | undefined): void {
    if (media == null || isOver(call) || (call.info.remoteCamera === media.camera && call.info.remoteMic === media.mic)) return
    call.info.remoteCamera = media.camera
    call.info.remoteMic = media.mic
    this.init.onChange({ ...call.info })
  }

  /**
   * Tells the other side what we send when it changed since it was last told: at once, or, within
   * CALL_MEDIA_FRAME_MS of the last MEDIA frame, at the end of that time (the state then, however often
   * it changed meanwhile). Only once our OFFER or ANSWER went, and only to a side that knows MEDIA.
   */
  private sendMedia (call: Call): void {
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
    void this.send(call, { type: CallSignal.Type.MEDIA, media }).catch((err: Error) => { log('media state not sent: %s', err.message) })
  }

  private flushLocalCandidates (call: Call): void {
    const held = call.localCandidates ?? []
    call.localCandidates = undefined
    for (const c of held) void this.send(call, { type: CallSignal.Type.CANDIDATE, candidate: c }).catch((err: Error) => { log('candidate not sent: %s', err.message) })
  }

  /** Sends on the call's channel, or on a fresh one when it has closed. */
  private async send (call: Call, signal: Omit<Signal, 'callId'>): Promise<void> {
    if (call.info.direction === 'out' && call.info.state === 'calling' && call.unconfirmed != null && call.unconfirmed.length < MAX_UNCONFIRMED) call.unconfirmed.push(signal)
    if (call.channel == null || !call.channel.open) {
      call.opening ??= this.channels.open(call.peer).finally(() => { call.opening = undefined })
      call.channel = await call.opening
    }
    await this.channels.send(call.channel, { ...signal, callId: call.info.id })
  }

  /**
   * Sends what the callee has not confirmed again, on a fresh stream (its frames are idempotent: the callee
   * answers a repeated offer with RINGING and ignores candidates it has). At most MAX_RESENDS times a call.
   */
  private async resend (call: Call): Promise<void> {
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

  private async fail (call: Call, err: Error): Promise<void> {
    log('call %s failed: %s', call.info.id, err.message)
    const reason = err instanceof DevicesError ? CallSignal.Reason.DEVICES : CallSignal.Reason.FAILED
    await this.finish(call, this.broken(call), err.message, { type: CallSignal.Type.HANGUP, reason })
  }

  /**
   * Ends a call: stops its media, sends the last word if any, and stores the record (unless `outcome`
   * is undefined: a crossed call that gave way) before reporting it.
   */
  private async finish (call: Call, outcome: CallOutcome | undefined, reason?: string, last?: Omit<Signal, 'callId'>): Promise<void> {
    if (call.info.state === 'ended') return
    clearTimeout(call.timer)
    clearTimeout(call.recordTimer)
    clearTimeout(call.mediaTimer)
    call.info.state = 'ended'
    call.info.outcome = outcome
    call.info.reason = reason
    this.calls.delete(call.info.id)
    call.media?.close()
    const said = last == null
      ? Promise.resolve()
      : this.send(call, last).catch((err: Error) => { log('could not tell %p the call ended: %s', call.peer, err.message) })
    void said.then(() => { call.channel?.close() })
    this.init.onChange({ ...call.info })
    if (outcome != null) {
      // after any write of the running call's record, which this one replaces
      call.saving = call.saving.then(async () => { await this.record(call.info) })
      await call.saving
    }
    if (this.init.signal.aborted) await said
  }

  /**
   * Stores a connected call's record as it would read if the call ended now (answered, ending now), and
   * again every recordInterval until it ends.
   */
  private keepRecord (call: Call): void {
    if (isOver(call)) return
    clearTimeout(call.recordTimer)
    call.recordTimer = setTimeout(() => { this.keepRecord(call) }, this.recordInterval)
    call.saving = call.saving.then(async () => {
      if (!isOver(call)) await this.store(toRecord(call.info, 'answered'))
    })
  }

  /** Stores an ended call's record, then reports it. */
  private async record (info: CallInfo): Promise<void> {
    const record = toRecord(info, info.outcome ?? 'missed')
    await this.store(record)
    this.init.onEnded(record)
  }

  private async store (record: CallRecord): Promise<void> {
    try {
      await this.init.store.addCall(record)
    } catch (err: any) {
      log.error('could not store a call record: %e', err)
    }
  }
}

/** A call's record, ending now. */
function toRecord (info: CallInfo, outcome: CallOutcome): CallRecord {
  return {
    id: info.id,
    peer: info.peer,
    direction: info.direction,
    video: info.video,
    timestamp: info.startedAt,
    ...(info.connectedAt != null ? { connectedAt: info.connectedAt } : {}),
    endedAt: Date.now(),
    outcome,
    ...(info.reason != null ? { reason: info.reason } : {})
  }
}
