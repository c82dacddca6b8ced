/**
 * The browser's NAT probe: a tab has no UDP socket of its own, so an RTCPeerConnection gathers its
 * candidates with the STUN servers, and the server-reflexive ones say what each server saw. A cone NAT
 * gives one public address and port per local socket (the browser shows it once), a symmetric NAT one
 * per server. See nat-probe.ts for what each kind means.
 */
import { natReport } from './nat-types.js'
import type { NatReport, NatSeen } from './nat-types.js'

export type { NatReport, NatSeen, NatMapping } from './nat-types.js'
export { natReport } from './nat-types.js'

const PROBE_TIMEOUT_MS = 2_000

export async function probeNat (servers: string[], timeoutMs = PROBE_TIMEOUT_MS): Promise<NatReport> {
  if (servers.length === 0 || typeof RTCPeerConnection === 'undefined') return natReport(servers.map(server => ({ server })), [])
  const pc = new RTCPeerConnection({ iceServers: [{ urls: servers.map(s => `stun:${s}`) }] })
  const mapped = new Map<string, Set<string>>()
  const host: string[] = []
  const byServer = new Map<string, string>()
  try {
    pc.createDataChannel('probe')
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, timeoutMs)
      pc.addEventListener('icecandidate', (e) => {
        const c = e.candidate
        if (c == null) {
          clearTimeout(timer)
          resolve()
          return
        }
        if (c.protocol !== 'udp' || c.address == null || c.port == null) return
        if (c.type === 'host') host.push(`${c.address}:${c.port}`)
        if (c.type !== 'srflx') return
        const seenAt = `${c.address}:${c.port}`
        const base = String(c.relatedPort)
        mapped.set(base, (mapped.get(base) ?? new Set()).add(seenAt))
        const url = (e as RTCPeerConnectionIceEvent & { url?: string | null }).url
        if (url != null) byServer.set(url.replace(/^stun:/, ''), seenAt)
      })
      void pc.createOffer().then(async offer => { await pc.setLocalDescription(offer) }).catch(() => { resolve() })
    })
  } finally {
    pc.close()
  }
  // the socket that heard most: its mappings are what the servers saw of one socket
  const best = [...mapped.values()].sort((a, b) => b.size - a.size)[0] ?? new Set<string>()
  const list = [...best]
  const seen: NatSeen[] = servers.map((server, i) => {
    const at = byServer.get(server) ?? (list.length > 1 ? list[i] : list[0])
    return at != null ? { server, mapped: at } : { server, error: 'no answer' }
  })
  return natReport(seen, host)
}
