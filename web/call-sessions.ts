/** The media of calls as the interface follows them: each call's RtcCall, and the state of its controls. */
import { signal } from '@preact/signals'
import type { RtcCall } from '../src/calls/rtc.js'

/** The call's media as the call screen shows it, taken from the RtcCall at each of its 'change' events. */
export interface MediaState {
  micOn: boolean
  cameraOn: boolean
  sharing: boolean
  /** video comes in (a live track that is not muted) */
  remoteVideo: boolean
}

/**
 * The calls' media by call id, as rtcMedia's onSession hands them over. Made before the Chat (whose
 * calls make them), and given to the ChatModel made after it.
 */
export class CallSessions {
  readonly byCall = signal<ReadonlyMap<string, RtcCall>>(new Map())

  readonly attach = (callId: string, session: RtcCall): void => {
    this.byCall.value = new Map(this.byCall.peek()).set(callId, session)
  }

  forget (callId: string): void {
    if (!this.byCall.peek().has(callId)) return
    const map = new Map(this.byCall.peek())
    map.delete(callId)
    this.byCall.value = map
  }
}

export function mediaState (session: RtcCall): MediaState {
  return {
    micOn: session.micOn,
    cameraOn: session.cameraOn,
    sharing: session.sharing,
    remoteVideo: session.remote.getVideoTracks().some(t => t.readyState === 'live' && !t.muted)
  }
}
