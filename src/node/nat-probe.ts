/**
 * What kind of NAT this machine is behind, as STUN sees it (RFC 5780's mapping behaviour, the part that
 * decides whether a direct path can be punched): one UDP socket asks two STUN servers (two addresses,
 * or two ports of one bootstrap node: its STUN responder and its TURN server) which public address and
 * port they see it at.
 *
 * - the same as the socket's own address: no NAT ("open");
 * - the same public address and port for both: the NAT keeps one mapping per socket ("cone"): hole
 *   punching works, calls and WebRTC connections can go direct;
 * - a different port (or address) for each: a new mapping per destination ("symmetric"): no direct
 *   path can be punched, call media needs a TURN server.
 *
 * The browser build (nat-probe.browser.ts) asks through an RTCPeerConnection instead.
 */
import { createSocket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import { stun } from './stun.js'
import { natReport } from './nat-types.js'
import type { NatReport, NatSeen } from './nat-types.js'

export type { NatReport, NatSeen, NatMapping } from './nat-types.js'
export { natReport } from './nat-types.js'

/** How long to wait for the STUN answers (with a resend at a quarter and half of it). */
const PROBE_TIMEOUT_MS = 2_000

/** Asks each STUN server (`host:port`, IPv4) from one socket which address it sees; never throws. */
export async function probeNat (servers: string[], timeoutMs = PROBE_TIMEOUT_MS): Promise<NatReport> {
  const socket = createSocket('udp4')
  const seen: NatSeen[] = servers.map(server => ({ server }))
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, () => { socket.off('error', reject); resolve() })
    })
    const local = socket.address().port
    const ids = new Map<string, number>()
    const requests = servers.map((server, i) => {
      const message = stun.createMessage(stun.constants.STUN_BINDING_REQUEST)
      ids.set(message.transactionId.toString('hex'), i)
      const [host, port] = splitHostPort(server)
      return { buffer: message.toBuffer(), host, port }
    })
    await new Promise<void>(resolve => {
      const timers: Array<ReturnType<typeof setTimeout>> = []
      const done = (): void => {
        for (const t of timers) clearTimeout(t)
        resolve()
      }
      socket.on('message', (msg) => {
        try {
          const answer = stun.decode(msg)
          const i = ids.get(answer.transactionId.toString('hex'))
          const mapped = answer.getXorAddress()
          if (i == null || mapped == null || seen[i].mapped != null) return
          seen[i].mapped = `${mapped.address}:${mapped.port}`
          delete seen[i].error
          if (seen.every(s => s.mapped != null)) done()
        } catch {
          // not a STUN answer: ignored
        }
      })
      const send = (): void => {
        for (const [i, r] of requests.entries()) {
          if (seen[i].mapped != null) continue
          socket.send(r.buffer, r.port, r.host, (err) => { if (err != null) seen[i].error = err.message })
        }
      }
      send()
      timers.push(setTimeout(send, timeoutMs / 4), setTimeout(send, timeoutMs / 2), setTimeout(done, timeoutMs))
    })
    for (const s of seen) if (s.mapped == null) s.error ??= `no answer in ${timeoutMs / 1000} s`
    return natReport(seen, ownAddresses().map(a => `${a}:${local}`))
  } catch (err: any) {
    for (const s of seen) s.error = err.message
    return natReport(seen, [])
  } finally {
    socket.close()
  }
}

function splitHostPort (server: string): [string, number] {
  const i = server.lastIndexOf(':')
  return [server.slice(0, i), Number(server.slice(i + 1))]
}

function ownAddresses (): string[] {
  return Object.values(networkInterfaces()).flat().filter(i => i != null && i.family === 'IPv4').map(i => i?.address ?? '')
}
