/**
 * The media of a call in a browser: one RTCPeerConnection with the camera and microphone.
 *
 * Both sides always negotiate one audio and one video transceiver, sending and receiving, even for a
 * voice call. Turning the camera on or off, sharing the screen and switching devices then only ever
 * replace a sender's track: the call never needs a second offer/answer round.
 * ICE servers are those the call is set up with (Calls passes the configured STUN servers and the
 * bootstrap nodes' TURN servers), else `init.iceServers`; none by default: host candidates only. The SDP goes over the Noise-authenticated signalling stream, which binds the DTLS
 * fingerprints, and so the SRTP keys, to the contact's peer ID.
 *
 * @example
 * ```ts
 * const sessions = new Map<string, RtcCall>()
 * const chat = await createChat({ callMedia: rtcMedia({ iceServers: [], onSession: (call, s) => sessions.set(call.id, s) }) })
 * ```
 */
import { noMediaPath } from './media.js'
import type { CallInfo } from './call.js'
import type { MediaEvents, MediaFactory, MediaOptions, MediaSession, MediaSetup } from './media.js'
import { callStats } from './stats.js'
import type { IceCandidate } from './signalling.js'
import type { CallStats } from './stats.js'

export type { CallStats } from './stats.js'

export interface RtcMediaInit {
  /** used when the call brings none (Calls always does) */
  iceServers?: RTCIceServer[]
  /** how long the connection may stay 'disconnected' before the call is given up (ms) */
  disconnectTimeout?: number
  /** each new call's session, for the interface to show and control */
  onSession?(call: Readonly<CallInfo>, session: RtcCall): void
}

const DISCONNECT_MS = 10_000

export function rtcMedia (init: RtcMediaInit = {}): MediaFactory {
  return async (call, events, options) => {
    const session = await RtcCall.open(call, events, options, init)
    init.onSession?.(call, session)
    return session
  }
}

/**
 * One call's media; emits 'change' when tracks or the local controls change, and tells the calls layer
 * what it sends (MediaEvents.sending) at each change: the other side cannot see a camera turned off in
 * the track it receives.
 */
export class RtcCall extends EventTarget implements MediaSession {
  readonly pc: RTCPeerConnection
  /** what we send: microphone, and camera or screen */
  readonly local = new MediaStream()
  readonly remote = new MediaStream()
  micOn = true
  cameraOn: boolean
  sharing = false
  private audio?: RTCRtpTransceiver
  private video?: RTCRtpTransceiver
  private camera?: MediaStreamTrack
  private mic?: MediaStreamTrack
  private screen?: MediaStreamTrack
  private readonly events: MediaEvents
  private disconnectTimer?: ReturnType<typeof setTimeout>
  private closed = false
  /** media flowed at some point: a failure after that is a lost connection, not a missing path */
  private connectedOnce = false

  /**
   * Sets the call up at once and asks for the camera and microphone meanwhile. Neither the caller's
   * offer nor the callee's answer waits for the devices (a real camera takes up to a second to start):
   * the transceivers are negotiated sendrecv and the tracks join them when ready (attach()), so the
   * connection is made while the camera starts. The first video frame comes some time after the
   * sender's getUserMedia resolves however early the connection is up (the bench's bare pair shows the
   * same); answering first still brings the connection, and so the first frame, sooner. If no
   * microphone can be had, the call fails with that reason. A callee's session made while the call
   * rings (`ringing`) asks for them only once the user answers (startDevices): no camera light for a
   * call that is declined.
   */
  static async open (call: Readonly<CallInfo>, events: MediaEvents, options: MediaSetup, init: RtcMediaInit): Promise<RtcCall> {
    const md = globalThis.navigator?.mediaDevices
    if (md?.getUserMedia == null) throw new Error('this browser gives the page no camera or microphone (it needs https or localhost)')
    const session = new RtcCall(events, options, init)
    if (options.ringing !== true) void session.acquire(md, options.video)
    return session
  }

  /** A call that rang and was answered: the camera and microphone start now. */
  startDevices (options: MediaOptions): void {
    if (this.closed || this.acquiring) return
    this.cameraOn = options.video
    void this.acquire(navigator.mediaDevices, options.video)
  }

  private constructor (events: MediaEvents, options: MediaSetup, init: RtcMediaInit) {
    super()
    this.events = events
    this.cameraOn = options.video
    const iceServers = options.iceServers ?? init.iceServers ?? []
    // one transport for audio and video (both ends are MegaChat): half the candidates to gather, send
    // and check, and one DTLS handshake
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' })
    this.pc.addEventListener('icecandidate', (e) => {
      if (this.closed) return
      this.events.candidate(e.candidate == null ? null : e.candidate.toJSON() as IceCandidate)
    })
    this.pc.addEventListener('track', (e) => { this.receive(e.track) })
    const timeout = init.disconnectTimeout ?? DISCONNECT_MS
    this.pc.addEventListener('connectionstatechange', () => {
      const state = this.pc.connectionState
      clearTimeout(this.disconnectTimer)
      if (this.closed) return
      if (state === 'connected') {
        this.connectedOnce = true
        this.events.connected()
      } else if (state === 'failed') this.events.failed(this.connectedOnce ? 'the connection to them was lost' : noMediaPath(iceServers))
      else if (state === 'disconnected') {
        this.disconnectTimer = setTimeout(() => { this.events.failed('the connection to them was lost') }, timeout)
      }
      this.changed()
    })
  }

  /**
   * A remote track goes into `remote`, once. The receivers' tracks go in as soon as the transceivers
   * exist (offer(), takeOffer()), before the call view plays `remote`: a track added to a stream that a
   * video element plays makes the element start over, which holds the page up for tens of ms, just as
   * the call connects.
   */
  private receive (track: MediaStreamTrack): void {
    if (this.remote.getTracks().includes(track)) return
    this.remote.addTrack(track)
    // a remote track is muted while no media comes (camera off, not yet connected): say when that changes
    track.addEventListener('mute', () => { this.changed() })
    track.addEventListener('unmute', () => { this.changed() })
    this.changed()
  }

  /** the camera and microphone were asked for */
  private acquiring = false

  private async acquire (md: MediaDevices, video: boolean): Promise<void> {
    this.acquiring = true
    let stream: MediaStream
    try {
      stream = await md.getUserMedia({ audio: true, video })
    } catch (err: any) {
      try {
        // no camera (or not allowed): talk without it
        if (!video) throw err
        stream = await md.getUserMedia({ audio: true, video: false })
      } catch (err2: any) {
        if (!this.closed) this.events.failed(mediaError(err2), true)
        return
      }
    }
    if (this.closed) {
      for (const t of stream.getTracks()) t.stop()
      return
    }
    this.mic = stream.getAudioTracks()[0]
    this.camera = stream.getVideoTracks()[0]
    this.cameraOn = this.camera != null
    for (const t of stream.getTracks()) this.local.addTrack(t)
    if (this.mic != null) this.mic.enabled = this.micOn
    await this.attach()
    this.changed()
  }

  /** the senders' track changes, one after the other */
  private attaching: Promise<void> = Promise.resolve()

  /**
   * Puts the tracks we send now (microphone; screen or camera) on the senders, once the transceivers
   * exist. Changes are chained: two replaceTrack calls in flight on one sender may settle in either
   * order, and a camera that came while the answer was being made could otherwise be replaced by the
   * "no track yet" that was asked for before it (the callee would then never send video).
   */
  private async attach (): Promise<void> {
    this.attaching = this.attaching.then(async () => {
      if (this.closed) return
      // (a sender that has the track already is left alone: replaceTrack waits its turn behind the
      // connection's other operations, such as the answer being made)
      await replace(this.audio?.sender, this.mic)
      await replace(this.video?.sender, this.sharing ? this.screen : this.camera)
    }).catch(() => {}) // only a closed connection refuses a track
    await this.attaching
  }

  async offer (): Promise<string> {
    this.audio = this.pc.addTransceiver(this.mic ?? 'audio', { direction: 'sendrecv', streams: [this.local] })
    this.video = this.pc.addTransceiver(this.camera ?? 'video', { direction: 'sendrecv', streams: [this.local] })
    for (const t of [this.audio, this.video]) this.receive(t.receiver.track)
    // the offer goes out while it is applied here (the answer waits for that)
    const offer = await this.pc.createOffer()
    this.localSet = this.pc.setLocalDescription(offer)
    this.localSet.catch(() => {}) // a failure is met by setAnswer
    return offer.sdp ?? ''
  }

  /** our offer or answer being applied */
  private localSet: Promise<void> = Promise.resolve()

  /** the caller's offer, taken while the call rang (takeOffer) */
  private offerSet?: Promise<void>

  /**
   * Takes the caller's offer while the call rings, before the user answers: answer() then only makes
   * the answer. Nothing goes out to the caller before that (ICE gathers from the answer on).
   */
  async takeOffer (offer: string): Promise<void> {
    this.offerSet ??= this.pc.setRemoteDescription({ type: 'offer', sdp: offer })
    try {
      await this.offerSet
      for (const t of this.pc.getTransceivers()) this.receive(t.receiver.track)
    } catch (err) {
      this.offerSet = undefined // answer() tries once more, and fails the call if that fails too
      throw err
    }
  }

  async answer (offer: string): Promise<string> {
    await this.takeOffer(offer)
    let audio: RTCRtpTransceiver | undefined
    let video: RTCRtpTransceiver | undefined
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver.track.kind
      if (kind === 'audio' && audio == null) audio = t
      else if (kind === 'video' && video == null) video = t
      else continue
      t.direction = 'sendrecv'
      t.sender.setStreams(this.local)
    }
    if (audio == null || video == null) throw new Error('the offer has no audio or no video section')
    this.audio = audio
    this.video = video
    void this.attach() // whatever tracks there are yet; the rest join when the devices are ready
    const answer = await this.pc.createAnswer()
    // the answer goes out while it is applied here, as the offer does
    this.localSet = this.pc.setLocalDescription(answer)
    this.localSet.catch((err: Error) => {
      if (!this.closed) this.events.failed(`the answer could not be applied: ${err.message}`)
    })
    return answer.sdp ?? ''
  }

  async setAnswer (answer: string): Promise<void> {
    await this.localSet
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer })
  }

  async addCandidate (c: IceCandidate | null): Promise<void> {
    if (c == null || c.candidate === '') return // the end of candidates needs nothing in Chromium
    await this.pc.addIceCandidate(c as RTCIceCandidateInit)
  }

  // ---- controls

  setMic (on: boolean): void {
    this.micOn = on
    if (this.mic != null) this.mic.enabled = on
    this.changed()
  }

  /** Camera on (asking for it if the call started without) or off (the camera light goes off too). */
  async setCamera (on: boolean): Promise<void> {
    if (on && this.camera == null) {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true }).catch((err: any) => { throw new Error(mediaError(err)) })
      this.camera = stream.getVideoTracks()[0]
      this.local.addTrack(this.camera)
    } else if (!on && this.camera != null) {
      this.camera.stop()
      this.local.removeTrack(this.camera)
      this.camera = undefined
    }
    this.cameraOn = on
    await this.attach()
    this.changed()
  }

  /** Sends the screen (or a window) in place of the camera until stopShare() or the browser's own "stop sharing". */
  async shareScreen (): Promise<void> {
    if (this.sharing) return
    const md = navigator.mediaDevices
    if (md.getDisplayMedia == null) throw new Error('this browser cannot share the screen')
    const stream = await md.getDisplayMedia({ video: true, audio: false })
    const track = stream.getVideoTracks()[0]
    track.addEventListener('ended', () => { void this.stopShare() })
    this.screen = track
    this.sharing = true
    await this.attach()
    this.changed()
  }

  async stopShare (): Promise<void> {
    if (!this.sharing) return
    this.screen?.stop()
    this.screen = undefined
    this.sharing = false
    await this.attach()
    this.changed()
  }

  /** The camera or microphone in use now (its deviceId). */
  deviceOf (kind: 'audioinput' | 'videoinput'): string | undefined {
    return (kind === 'audioinput' ? this.mic : this.camera)?.getSettings().deviceId
  }

  /** Switches to another microphone or camera. */
  async useDevice (kind: 'audioinput' | 'videoinput', deviceId: string): Promise<void> {
    const audio = kind === 'audioinput'
    const stream = await navigator.mediaDevices.getUserMedia(audio ? { audio: { deviceId: { exact: deviceId } } } : { video: { deviceId: { exact: deviceId } } })
      .catch((err: any) => { throw new Error(mediaError(err)) })
    const track = audio ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0]
    const old = audio ? this.mic : this.camera
    if (old != null) {
      old.stop()
      this.local.removeTrack(old)
    }
    this.local.addTrack(track)
    if (audio) {
      track.enabled = this.micOn
      this.mic = track
    } else {
      this.camera = track
      this.cameraOn = true
    }
    await this.attach()
    this.changed()
  }

  /**
   * Quality figures; the bitrates are over the time since `previous`, an earlier sample of the same
   * call (each reader keeps its own, so that one reading often does not shorten another's span).
   */
  async stats (previous?: CallStats): Promise<CallStats> {
    return await callStats(this.pc, previous)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.disconnectTimer)
    for (const t of [...this.local.getTracks(), ...(this.screen != null ? [this.screen] : [])]) t.stop()
    this.pc.close()
    this.changed()
  }

  get isClosed (): boolean {
    return this.closed
  }

  private changed (): void {
    if (!this.closed) this.events.sending({ camera: this.cameraOn || this.sharing, mic: this.micOn })
    this.dispatchEvent(new Event('change'))
  }
}

/** Puts `track` (none: null) on a sender that does not have it yet. */
async function replace (sender: RTCRtpSender | undefined, track: MediaStreamTrack | undefined): Promise<void> {
  if (sender != null && sender.track !== (track ?? null)) await sender.replaceTrack(track ?? null)
}

/** One line for what getUserMedia refused. */
function mediaError (err: any): string {
  switch (err?.name) {
    case 'NotAllowedError': return 'the camera or microphone was not allowed (see the browser\'s site settings)'
    case 'NotFoundError': return 'no microphone found'
    case 'NotReadableError': return 'the camera or microphone is in use by another program'
    default: return err?.message ?? String(err)
  }
}
