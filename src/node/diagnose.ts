/**
 * "Why can't I reach X?": what the node knows about its own reachability and about the way to one peer,
 * in plain words. Chat.diagnose() gathers it; the terminal's /diagnose and the web app's connection
 * details show it.
 */
import { shortPeerId } from '../short-id.js'
import { probeNat } from './nat-probe.js'
import type { BootstrapNodeStatus } from './bootstrap-watch.js'
import type { NatReport } from './nat-types.js'
import type { ReachTrace } from './reach.js'
import type { ReservationInfo } from './relay-reservations.js'
import type { Connection } from '@libp2p/interface'

export type { NatReport, NatMapping, NatSeen } from './nat-types.js'
export type { ReachTrace, ReachStep } from './reach.js'
export type { ReservationInfo } from './relay-reservations.js'

/** How one open connection to a peer runs. */
export interface PathInfo {
  /** 'direct': TCP or WebSockets; 'webrtc': a direct WebRTC connection; 'relayed': through a relay (limited) */
  path: 'direct' | 'webrtc' | 'relayed'
  address: string
  direction: 'inbound' | 'outbound'
  /** when it opened (ms) */
  since: number
}

export interface PeerDiagnosis {
  peerId: string
  name?: string
  /** the open connections now, the best first */
  connections: PathInfo[]
  /** the last attempt to connect that had to dial (diagnose() makes one when there is no connection) */
  lastAttempt?: ReachTrace
  /** one line: the way in use now, or why there is none and what may help */
  summary: string
}

export interface Diagnosis {
  nat: NatReport
  bootstrap: BootstrapNodeStatus[]
  /** the relay addresses others reach us through (reservations on bootstrap nodes) */
  relays: string[]
  /** each relay reservation: when it expires and when it is renewed */
  reservations: ReservationInfo[]
  /** TURN servers calls can use now (from bootstrap nodes run with --turn) */
  turn: string[]
  /** one line each: what is wrong or missing, and what to change */
  advice: string[]
  peer?: PeerDiagnosis
}

/** `host:port` of each STUN-answering server among ICE server URLs (stun:, and turn: over UDP, which coturn answers too). */
export function stunTargets (iceServers: RTCIceServer[]): string[] {
  const out = new Set<string>()
  for (const s of iceServers) {
    for (const url of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      const m = /^(stun|turn):([^?]+)(\?transport=(\w+))?$/.exec(url)
      if (m == null || (m[1] === 'turn' && m[4] != null && m[4] !== 'udp')) continue
      out.add(/:\d+$/.test(m[2]) ? m[2] : `${m[2]}:3478`)
    }
  }
  return [...out]
}

export function pathOf (c: Connection): PathInfo {
  const address = c.remoteAddr.toString()
  const path = address.includes('/webrtc') ? 'webrtc' : c.limits != null || address.includes('/p2p-circuit') ? 'relayed' : 'direct'
  return { path, address, direction: c.direction, since: c.timeline.open }
}

/** The network part: NAT, bootstrap nodes, relays, TURN, and advice on what is missing. */
export async function diagnoseNetwork (init: { iceServers: RTCIceServer[], turnServers: RTCIceServer[], bootstrap: BootstrapNodeStatus[], addresses: string[], reservations?: ReservationInfo[] }): Promise<Diagnosis> {
  const nat = await probeNat(stunTargets([...init.iceServers, ...init.turnServers]))
  const relays = init.addresses.filter(a => a.includes('/p2p-circuit'))
  const turn = init.turnServers.flatMap(s => Array.isArray(s.urls) ? s.urls : [s.urls])
  const advice: string[] = []
  const connected = init.bootstrap.filter(b => b.connected).length
  if (init.bootstrap.length === 0) advice.push('No bootstrap node is configured: nobody can find you, and you can find nobody. Add one (--bootstrap, or Settings).')
  else if (connected === 0) advice.push('No bootstrap node is reachable now: contacts cannot be found. Check the address and your network.')
  if (nat.mapping !== 'open' && relays.length === 0 && connected > 0) advice.push('No relay reservation yet: people behind other NATs cannot reach you until one is made (it usually takes a few seconds).')
  if (nat.mapping === 'symmetric' && turn.length === 0) advice.push('Behind a symmetric NAT and no TURN server: calls to anyone behind a NAT will fail. Run a bootstrap node with --turn.')
  if (nat.mapping === 'unknown' && nat.seen.length > 0 && nat.seen.every(s => s.mapped == null)) advice.push('No STUN server answered: UDP may be blocked, and calls then need a TURN server over TCP.')
  return { nat, bootstrap: init.bootstrap, relays, reservations: init.reservations ?? [], turn, advice }
}

/** The peer part: the connections now, the last attempt, and one line on what it means. */
export function diagnosePeer (peerId: string, name: string | undefined, connections: Connection[], lastAttempt: ReachTrace | undefined, blocked: boolean): PeerDiagnosis {
  const paths = connections.filter(c => c.status === 'open').map(pathOf)
    .sort((a, b) => rankPath(a.path) - rankPath(b.path))
  const who = name ?? shortPeerId(peerId)
  let summary: string
  if (blocked) summary = `${who} is blocked: their connections are refused (unblock them to talk)`
  else if (paths.length > 0) {
    const best = paths[0]
    summary = best.path === 'relayed'
      ? `connected to ${who} through a relay only: messages flow, a direct path has not been found (calls still try one)`
      : `connected to ${who} ${best.path === 'webrtc' ? 'directly over WebRTC' : 'directly'}`
  } else if (lastAttempt == null) summary = `not connected to ${who}, and not tried lately`
  else if (lastAttempt.outcome === 'not found') summary = `${who} was not found: they are offline, or not connected to a bootstrap node of yours (the DHT had no address for them)`
  else if (lastAttempt.outcome === 'unreachable') {
    const reasons = [...new Set(lastAttempt.steps.filter(s => s.what === 'dial' && !s.ok).flatMap(s => s.detail.split('; ')))]
    summary = `${who} was found but could not be reached: ${reasons.length > 0 ? reasons.slice(0, 3).join('; ') : 'no address answered'}`
  } else summary = `not connected to ${who} now (the last attempt connected via ${lastAttempt.via ?? 'an address'})`
  return { peerId, ...(name != null ? { name } : {}), connections: paths, ...(lastAttempt != null ? { lastAttempt } : {}), summary }
}

/** The better path ranks lower: direct, then WebRTC, then through a relay. */
export function rankPath (path: PathInfo['path']): number {
  return path === 'direct' ? 0 : path === 'webrtc' ? 1 : 2
}
