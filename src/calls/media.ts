/**
 * What a call's media must do for the call state machine (index.ts): the contract a MediaFactory
 * (the web app's RTCPeerConnection, rtc.ts) fulfils; and how a call's media is started with one, and
 * fed the other side's description and candidates. A node without one still rings and declines.
 */
import { CallError } from '../errors.js'
import type { Call, CallInfo } from './call.js'
import type { CallSender } from './sender.js'
import type { IceCandidate, MediaState } from './signalling.js'

/** The camera and microphone could not start: the other side is told so (DEVICES), not that no media path exists. */
export class DevicesError extends CallError {}

/** Remote candidates kept until the remote description is set. */
const MAX_EARLY_CANDIDATES = 100

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
  /** callee: takes the offer (unless takeOffer did), makes the answer */
  answer(offer: string): Promise<string>
  /** callee, while the call rings (a session made with `ringing`): takes the offer, sends nothing yet */
  takeOffer?(offer: string): Promise<void>
  /** callee, once answered (a session made with `ringing`): starts the camera and microphone */
  startDevices?(options: MediaOptions): void
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
  /**
   * callee: the call rings and the user has not answered: the camera and microphone must not start
   * (startDevices() starts them when the user answers)
   */
  ringing?: boolean
}

/** Makes the media of a call: asks for the camera and microphone, sets up the connection. */
export type MediaFactory = (call: Readonly<CallInfo>, events: MediaEvents, options: MediaSetup) => Promise<MediaSession>

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

/**
 * Starts a call's media with the factory: what it finds and sends goes out through `sender`; when it
 * connects or fails, the state machine hears it (`on`). Fails with DevicesError when the factory does.
 */
export async function startMedia (factory: MediaFactory | undefined, call: Call, options: MediaSetup, sender: CallSender,
  on: Pick<MediaEvents, 'connected' | 'failed'>): Promise<MediaSession> {
  if (factory == null) throw new CallError('no media on this client')
  call.local = { camera: options.video, mic: true }
  call.iceServers = options.iceServers
  let media: MediaSession
  try {
    media = await factory({ ...call.info }, {
      ...on,
      candidate: (c) => { sender.candidate(call, c) },
      sending: (state) => {
        call.local = { camera: state.camera, mic: state.mic }
        sender.sendMedia(call)
      }
    }, options)
  } catch (err: any) {
    throw new DevicesError(`camera or microphone unavailable: ${err.message}`)
  }
  if (call.info.state === 'ended') media.close()
  call.media = media
  return media
}

/** The remote description is set: the candidates that came before it go in. */
export async function remoteDescriptionSet (call: Call): Promise<void> {
  call.remoteSet = true
  for (const c of call.remoteCandidates.splice(0)) await call.media?.addCandidate(c)
}

/** A remote candidate goes in, or waits for the remote description. */
export async function remoteCandidate (call: Call, c: IceCandidate | null): Promise<void> {
  if (call.media != null && call.remoteSet) await call.media.addCandidate(c)
  else if (call.remoteCandidates.length < MAX_EARLY_CANDIDATES) call.remoteCandidates.push(c)
}
