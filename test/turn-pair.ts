/**
 * Run by turn.spec.ts as a child process: two relay-only node-datachannel RTCPeerConnections, each with
 * one of the TURN grants given as JSON in argv[2], signalled to each other in this process; they open a
 * data channel and pass one message. Prints one JSON line, {"ok":true,"setupMs":…,"candidates":[…]} or
 * {"ok":false,"error":…,"candidates":[…]}, and exits without closing the connections.
 *
 * A process of its own because libdatachannel's close() can block the calling thread for good when a TURN
 * allocation is still under way (seen: the main thread in a futex wait, libjuice's threads waiting): in
 * the test process that froze the whole suite; here the test kills the process when it overstays.
 */
import { RTCPeerConnection } from 'node-datachannel/polyfill'

interface Grant { urls: string[], username: string, credential: string }

const WAIT_MS = Number(process.argv[3] ?? 20_000)
const grants = JSON.parse(process.argv[2] ?? '[]') as Grant[]
const candidates: string[] = []

function done (result: Record<string, unknown>): never {
  process.stdout.write(JSON.stringify({ ...result, candidates }) + '\n', () => { process.exit(0) })
  // exit() comes from the write's callback; nothing else is waited for
  return undefined as never
}

try {
  // libdatachannel takes TURN credentials inside the URL (turn:user:pass@host) and URL-decodes them
  const pcs = grants.map(g => new RTCPeerConnection({
    iceServers: [{ urls: g.urls[0], username: encodeURIComponent(g.username), credential: encodeURIComponent(g.credential) }],
    iceTransportPolicy: 'relay'
  }))
  const [a, b] = pcs
  for (const [from, to] of [[a, b], [b, a]]) {
    from.addEventListener('icecandidate', (e: any) => {
      if (e.candidate?.candidate == null || e.candidate.candidate === '') return
      candidates.push(e.candidate.candidate)
      void to.addIceCandidate(e.candidate).catch(() => {})
    })
  }
  const channel = a.createDataChannel('call')
  const received = new Promise<string>(resolve => {
    b.addEventListener('datachannel', (e: any) => { e.channel.addEventListener('message', (m: any) => { resolve(String(m.data)) }) })
  })
  const opened = new Promise<void>(resolve => { channel.addEventListener('open', () => { resolve() }) })
  setTimeout(() => { done({ ok: false, error: `no data channel through TURN within ${WAIT_MS} ms` }) }, WAIT_MS).unref()
  const started = performance.now()
  await a.setLocalDescription(await a.createOffer())
  await b.setRemoteDescription(a.localDescription as any)
  await b.setLocalDescription(await b.createAnswer())
  await a.setRemoteDescription(b.localDescription as any)
  await opened
  const setupMs = Math.round(performance.now() - started)
  channel.send('hello through coturn')
  const message = await received
  done({ ok: message === 'hello through coturn', setupMs, ...(message !== 'hello through coturn' ? { error: `received ${message}` } : {}) })
} catch (err: any) {
  done({ ok: false, error: err.message })
}
