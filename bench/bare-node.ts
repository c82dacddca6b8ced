/**
 * Start-up and memory floors, run as a child process by bench/index.ts:
 *
 *   node dist/bench/bare-node.js          a bare libp2p node: TCP, Noise, yamux on 127.0.0.1, nothing else
 *   node dist/bench/bare-node.js --chat   diagnostic: MegaChat's own libp2p assembly (src/node/node.ts,
 *                                         WebRTC off, in-memory datastore) without the store or the client
 *
 * Prints one line `{"type":"ready",...}` once listening, then idles until SIGTERM or stdin closes.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from '@libp2p/interface'

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
    streamMuxers: [yamux()]
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
