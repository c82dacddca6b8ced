/**
 * Start-up and memory floors, run as a child process by bench/index.ts:
 *
 *   node dist/bench/bare-node.js          a bare libp2p node: TCP, Noise, yamux on 127.0.0.1, nothing else
 *   node dist/bench/bare-node.js --chat   diagnostic: MegaChat's own libp2p assembly (src/node/node.ts,
 *                                         WebRTC off, in-memory datastore) without the store or the client
 *   node dist/bench/bare-node.js --ping   the bare node plus ping: for each stdin line `ping <multiaddr>` it
 *                                         dials the address, pings once and prints `{"type":"pong","ms":...}`
 *                                         (the first-contact floor: a fresh node that already knows the address)
 *
 * Prints one line `{"type":"ready",...}` once listening, then idles until SIGTERM or stdin closes.
 */
import { createInterface } from 'node:readline'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const LISTEN = ['/ip4/127.0.0.1/tcp/0']

async function start (): Promise<Libp2p> {
  if (process.argv.includes('--chat')) {
    const [{ createNode }, { MemoryDatastore }, { generateKeyPair }] = await Promise.all([
      import('../src/node/node.js'),
      import('datastore-core'),
      import('@libp2p/crypto/keys')
    ])
    const node = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      datastore: new MemoryDatastore(),
      listen: LISTEN,
      webrtc: false,
      services: {}
    })
    await node.start()
    return node
  }
  return await createLibp2p({
    addresses: { listen: LISTEN },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(process.argv.includes('--ping') ? { services: { ping: ping() } } : {})
  })
}

const node = await start()
process.stdout.write(JSON.stringify({ type: 'ready', peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(String) }) + '\n')

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  Promise.resolve(node.stop()).finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.resume()

if (process.argv.includes('--ping')) {
  const pinger = (node as Libp2p<{ ping: Ping }>).services.ping
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, addr] = line.trim().split(/\s+/)
    if (command !== 'ping' || addr == null) return
    const t0 = performance.now()
    pinger.ping(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
      .then(() => { process.stdout.write(JSON.stringify({ type: 'pong', ms: performance.now() - t0 }) + '\n') })
      .catch((err: Error) => { process.stdout.write(JSON.stringify({ type: 'error', message: err.message }) + '\n') })
  })
}
