/**
 * One call as the state machine (index.ts) keeps it, and what can be said of a call from its fields
 * alone: whether it is over, how it ends when hung up or broken, its stored record.
 */
import { noMediaPath } from './media.js'
import type { MediaSession } from './media.js'
import type { IceCandidate, MediaState, Signal, SignalChannel } from './signalling.js'
import type { CallOutcome, CallRecord, Direction } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

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

export interface Call {
  info: CallInfo
  peer: PeerId
  channel?: SignalChannel
  /** a fresh channel being opened */
  opening?: Promise<SignalChannel>
  media?: MediaSession
  /** callee: the media set up while the call rings, with the offer taken (undefined: that failed) */
  early?: Promise<MediaSession | undefined>
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

export const OPEN_STATES: CallState[] = ['calling', 'ringing', 'incoming', 'connecting', 'connected']

export function newCall (peer: PeerId, info: CallInfo): Call {
  return { info, peer, accepted: false, remoteSet: false, remoteCandidates: [], inbound: Promise.resolve(), saving: Promise.resolve(), local: { camera: info.video, mic: true }, mediaAt: 0 }
}

/** (a function, so that the compiler does not take a state checked before an await as still true after it) */
export const isOver = (call: Call): boolean => call.info.state === 'ended'

/**
 * How a call that `who` hung up ends: talked once media flowed; answered but hung up while still
 * connecting, failed (nobody talked: it is not an answered call), saying so; else missed.
 */
export function hungUp (call: Call, who: 'you' | 'they'): [CallOutcome, string | undefined] {
  if (call.info.connectedAt != null) return ['answered', undefined]
  return call.accepted ? ['failed', `${who} hung up before it connected`] : ['missed', undefined]
}

/**
 * Why a call failed on the other side: before any media flowed, FAILED means that no media path could
 * be made (call.proto), ours too, and what would help depends on our ICE servers.
 */
export function failedThere (call: Call): string {
  return call.info.connectedAt == null ? noMediaPath(call.iceServers) : 'the connection failed on their side'
}

/** How a call whose media failed ends: it counts as talked once media flowed. */
export function broken (call: Call): CallOutcome {
  return call.info.connectedAt != null ? 'answered' : 'failed'
}

/** A call's record, ending now. */
export function toRecord (info: CallInfo, outcome: CallOutcome): CallRecord {
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
