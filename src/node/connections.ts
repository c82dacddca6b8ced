/**
 * The connections in one summary, as the apps show them: how many, each peer's best path now (direct,
 * WebRTC, or only through a relay), and whether others can reach us (a relay reservation). Chat
 * fires 'connections' with it whenever a connection opens or closes or our addresses change.
 */
import { pathOf, rankPath } from './diagnose.js'
import type { PathInfo } from './diagnose.js'
import type { Libp2p } from '@libp2p/interface'

export interface PeerPath {
  peerId: string
  /** the best of the peer's open connections: 'direct' before 'webrtc' before 'relayed' */
  path: PathInfo['path']
}

export interface ConnectionSummary {
  /** open connections (a peer may have several) */
  connections: number
  /** each connected peer and its best path, in the order of their first connection */
  peers: PeerPath[]
  /** peers reached only through a relay */
  relayed: number
  /** whether peers behind other NATs can reach us: we hold a relay reservation (a /p2p-circuit address) */
  reachable: boolean
}

export function connectionSummary (libp2p: Pick<Libp2p, 'getConnections' | 'getMultiaddrs'>): ConnectionSummary {
  const connections = libp2p.getConnections().filter(c => c.status === 'open')
  const best = new Map<string, PathInfo['path']>()
  for (const c of connections) {
    const peer = c.remotePeer.toString()
    const path = pathOf(c).path
    const was = best.get(peer)
    if (was == null || rankPath(path) < rankPath(was)) best.set(peer, path)
  }
  const peers = [...best].map(([peerId, path]) => ({ peerId, path }))
  return {
    connections: connections.length,
    peers,
    relayed: peers.filter(p => p.path === 'relayed').length,
    reachable: libp2p.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))
  }
}

/** Calls `onChange` with a fresh summary whenever a connection opens or closes or our addresses change, until `signal` aborts. */
export function watchConnections (libp2p: Pick<Libp2p, 'getConnections' | 'getMultiaddrs' | 'addEventListener' | 'removeEventListener'>, onChange: (summary: ConnectionSummary) => void, signal: AbortSignal): void {
  const changed = (): void => { onChange(connectionSummary(libp2p)) }
  const names = ['connection:open', 'connection:close', 'self:peer:update'] as const
  for (const name of names) libp2p.addEventListener(name, changed)
  signal.addEventListener('abort', () => { for (const name of names) libp2p.removeEventListener(name, changed) }, { once: true })
}
