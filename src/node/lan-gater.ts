/**
 * A connection gater for Node.js that never dials another network's private addresses.
 *
 * Peers announce every address they listen on, their home network's too (10.2.0.2, 192.168.1.20). From
 * anywhere but that home network such an address leads nowhere: a dial to it waits for a SYN that is
 * dropped (libp2p gives each address 6 s) or, worse, reaches some other machine on the dialler's own
 * network. libp2p dials one peer's addresses one after another, and joins every dial to the same peer
 * (the DHT's, ours) into one, so a dead private address held a first message back by 6 s or more.
 *
 * So a private address (RFC 1918, carrier-grade NAT, link-local, IPv6 unique-local) is dialled only when
 * this machine has an interface in the same network, or when the user named it (a bootstrap node on the
 * LAN). Loopback and public addresses are always dialled. Browsers do not need this: their libp2p already
 * refuses private addresses.
 */
import { networkInterfaces } from 'node:os'
import type { ConnectionGater } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** How long the list of this machine's networks is kept before it is read again (interfaces change). */
const INTERFACES_TTL_MS = 5_000

interface Network {
  family: 4 | 6
  address: bigint
  mask: bigint
}

const PRIVATE_V4: Array<[string, number]> = [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['169.254.0.0', 16]]
const PRIVATE_V6: Array<[string, number]> = [['fc00::', 7], ['fe80::', 10]]

export function ipToBigInt (ip: string): { family: 4 | 6, value: bigint } | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
    const parts = ip.split('.').map(Number)
    if (parts.some(p => p > 255)) return undefined
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) }
  }
  if (!ip.includes(':')) return undefined
  const [head, tail] = ip.split('%')[0].split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail == null ? [] : tail === '' ? [] : tail.split(':')
  const groups = tail == null ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  if (groups.length !== 8 || groups.some(g => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) }
}

function maskOf (family: 4 | 6, prefix: number): bigint {
  const bits = family === 4 ? 32 : 128
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix)
}

function network (family: 4 | 6, base: string, prefix: number): Network {
  return { family, address: ipToBigInt(base)?.value ?? 0n, mask: maskOf(family, prefix) }
}

const PRIVATE: Network[] = [
  ...PRIVATE_V4.map(([base, prefix]) => network(4, base, prefix)),
  ...PRIVATE_V6.map(([base, prefix]) => network(6, base, prefix))
]

function inNetwork (ip: { family: 4 | 6, value: bigint }, n: Network): boolean {
  return ip.family === n.family && (ip.value & n.mask) === (n.address & n.mask)
}

/** Is this address one of another network's private addresses, which cannot be reached from here? */
export function isForeignPrivate (ip: string, own: Network[]): boolean {
  const parsed = ipToBigInt(ip)
  if (parsed == null) return false
  if (!PRIVATE.some(n => inNetwork(parsed, n))) return false
  return !own.some(n => inNetwork(parsed, n))
}

/** This machine's networks, from its interfaces. */
export function ownNetworks (): Network[] {
  const out: Network[] = []
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const family = i.family === 'IPv4' ? 4 : 6
      const ip = ipToBigInt(i.address)
      if (ip == null) continue
      const prefix = i.cidr != null ? Number(i.cidr.split('/')[1]) : (family === 4 ? 32 : 128)
      out.push({ family, address: ip.value, mask: maskOf(family, prefix) })
    }
  }
  return out
}

/** The gater; `named` are addresses the user gave (bootstrap nodes), always dialled. */
export function lanGater (named: string[] = [], networks: () => Network[] = ownNetworks): ConnectionGater {
  const allowed = new Set(named.map(a => ipOf(a)).filter(ip => ip != null))
  let cached: { at: number, list: Network[] } | undefined
  const own = (): Network[] => {
    if (cached == null || Date.now() - cached.at > INTERFACES_TTL_MS) cached = { at: Date.now(), list: networks() }
    return cached.list
  }
  return {
    denyDialMultiaddr: (ma: Multiaddr) => {
      const ip = ipOf(ma.toString())
      return ip != null && !allowed.has(ip) && isForeignPrivate(ip, own())
    }
  }
}

function ipOf (addr: string): string | undefined {
  return /^\/ip[46]\/([^/]+)/.exec(addr)?.[1]
}
