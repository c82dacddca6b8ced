import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_STUN_PORT } from '../constants.js'

/**
 * The STUN servers a client uses when none are configured: those of its own bootstrap nodes (each
 * bootstrap node answers STUN on UDP 3478), never a third party. node-datachannel uses only the first
 * server and rejects IPv6 STUN URLs, so only IPv4 and DNS hosts are taken.
 */
export function bootstrapIceServers (bootstrap: string[], port = DEFAULT_STUN_PORT): RTCIceServer[] {
  const urls: string[] = []
  for (const addr of bootstrap) {
    try {
      const host = multiaddr(addr).getComponents()[0]
      if (host == null || !['ip4', 'dns4', 'dns'].includes(host.name) || host.value == null) continue
      const url = `stun:${host.value}:${port}`
      if (!urls.includes(url)) urls.push(url)
    } catch {
      // an invalid address is reported where it is dialled
    }
  }
  return urls.map(u => ({ urls: u }))
}
