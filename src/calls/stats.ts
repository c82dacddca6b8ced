/**
 * A call's connection quality, from its RTCPeerConnection's getStats(): what the call view shows and
 * the bench reads.
 */

/** Connection quality, from getStats(). */
export interface CallStats {
  /** round-trip time on the selected candidate pair (ms) */
  rttMs?: number
  /** when the figures were taken (performance.now()) */
  at: number
  /** bytes received (in all, of audio, of video) and sent since the call began */
  inBytes: number
  audioInBytes: number
  videoInBytes: number
  outBytes: number
  /** received and sent bitrate since the sample handed to stats() (kbit/s); none without one */
  inKbps?: number
  outKbps?: number
  audioInKbps?: number
  videoInKbps?: number
  /** share of received packets lost since the call began (0-1) */
  loss: number
  framesDecoded: number
  audioPacketsReceived: number
  frameWidth?: number
  frameHeight?: number
  /** candidate types of the selected pair: 'host' means a direct path, 'relay' a TURN server */
  localCandidate?: string
  remoteCandidate?: string
}

/** The quality figures now; the bitrates are over the time since `previous`, an earlier sample of the same connection. */
export async function callStats (pc: RTCPeerConnection, previous?: CallStats): Promise<CallStats> {
  const report = await pc.getStats()
  const now = performance.now()
  let lost = 0
  let received = 0
  const out: CallStats = { at: now, inBytes: 0, audioInBytes: 0, videoInBytes: 0, outBytes: 0, loss: 0, framesDecoded: 0, audioPacketsReceived: 0 }
  let pair: any
  report.forEach((s: any) => {
    if (s.type === 'inbound-rtp') {
      out.inBytes += s.bytesReceived ?? 0
      lost += Math.max(0, s.packetsLost ?? 0)
      received += s.packetsReceived ?? 0
      if (s.kind === 'audio') {
        out.audioInBytes += s.bytesReceived ?? 0
        out.audioPacketsReceived += s.packetsReceived ?? 0
      } else if (s.kind === 'video') {
        out.videoInBytes += s.bytesReceived ?? 0
        out.framesDecoded += s.framesDecoded ?? 0
        if (s.frameWidth != null) {
          out.frameWidth = s.frameWidth
          out.frameHeight = s.frameHeight
        }
      }
    } else if (s.type === 'outbound-rtp') {
      out.outBytes += s.bytesSent ?? 0
    } else if (s.type === 'transport' && s.selectedCandidatePairId != null) {
      pair = report.get(s.selectedCandidatePairId)
    }
  })
  if (pair == null) report.forEach((s: any) => { if (s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded') pair ??= s })
  if (pair != null) {
    if (pair.currentRoundTripTime != null) out.rttMs = pair.currentRoundTripTime * 1000
    out.localCandidate = report.get(pair.localCandidateId)?.candidateType
    out.remoteCandidate = report.get(pair.remoteCandidateId)?.candidateType
  }
  out.loss = received + lost > 0 ? lost / (received + lost) : 0
  if (previous != null && now > previous.at) {
    const kbps = (key: 'inBytes' | 'outBytes' | 'audioInBytes' | 'videoInBytes'): number => Math.max(0, (out[key] - previous[key]) * 8 / (now - previous.at))
    out.inKbps = kbps('inBytes')
    out.outKbps = kbps('outBytes')
    out.audioInKbps = kbps('audioInBytes')
    out.videoInKbps = kbps('videoInBytes')
  }
  return out
}
