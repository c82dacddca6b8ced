/** The addresses the bootstrap node hands out: to browsers (its /config.json), in STUN URLs, with its peer ID. */
import { isLoopback, isPrivate } from '@libp2p/utils'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The host name of an HTTP Host header (without port or IPv6 brackets). */
export function hostnameOf (header: string | undefined): string | undefined {
  if (header == null || header === '') return undefined
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[(.*)\]$/, '$1')
  } catch {
    return undefined
  }
}

/**
 * The addresses a browser can dial, with /p2p/<id>: the WebSocket ones (announced ones when there
 * are any, since libp2p then gives only those). The one on the host the page was loaded from comes
 * first (it is known to be reachable from that browser), then public, private, loopback.
 */
export function browserAddresses (addrs: Multiaddr[], peerId: PeerId, requestHost?: string): string[] {
  // a page opened as http://localhost (what main.ts tells the local user) reaches the node on loopback
  const host = requestHost === 'localhost' ? '127.0.0.1' : requestHost
  const rank = (ma: Multiaddr): number => {
    if (host != null && firstHost(ma) === host) return 0
    return isLoopback(ma) ? 3 : isPrivate(ma) === true ? 2 : 1
  }
  return addrs
    .filter(ma => WebSockets.exactMatch(ma) || WebSocketsSecure.exactMatch(ma))
    .map(ma => ({ ma, rank: rank(ma) }))
    .sort((a, b) => a.rank - b.rank)
    .map(({ ma }) => withPeerId(ma, peerId))
}

function firstHost (ma: Multiaddr): string | undefined {
  return ma.getComponents()[0]?.value
}

export function withPeerId (ma: Multiaddr, peerId: PeerId): string {
  return ma.getComponents().some(c => c.name === 'p2p') ? ma.toString() : ma.encapsulate(`/p2p/${peerId}`).toString()
}

/**
 * The host clients should put in the STUN URL: the bound address when it is a real one; for a
 * wildcard bind, the first announced (else listening) IPv4 address or DNS name, public before
 * private before loopback. node-datachannel rejects IPv6 STUN URLs, so IPv6 comes last.
 */
export function stunUrlHost (bound: string, announce: Multiaddr[], addrs: Multiaddr[]): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound.includes(':') ? `[${bound}]` : bound
  const hosts: Array<{ host: string, rank: number }> = []
  for (const ma of [...announce, ...addrs]) {
    const c = ma.getComponents()[0]
    if (c?.value == null) continue
    if (c.name === 'dns4' || c.name === 'dns') hosts.push({ host: c.value, rank: 0 })
    else if (c.name === 'ip4' && c.value !== '0.0.0.0') {
      hosts.push({ host: c.value, rank: isLoopback(ma) ? 2 : isPrivate(ma) ? 1 : 0 })
    }
  }
  hosts.sort((a, b) => a.rank - b.rank)
  return hosts[0]?.host ?? (bound === '::' ? '[::1]' : '127.0.0.1')
}
