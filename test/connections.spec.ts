/**
 * The connection summary the apps show (src/node/connections.ts), over stub connections: each peer's
 * best path, relayed peers, closed connections left out, and reachability from a relay address.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { connectionSummary } from '../src/node/connections.js'
import type { Connection, PeerId } from '@libp2p/interface'

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

function connection (remotePeer: PeerId, address: string, init: { limited?: boolean, status?: string } = {}): Connection {
  return {
    remotePeer,
    remoteAddr: multiaddr(`${address}/p2p/${remotePeer}`),
    limits: init.limited === true ? { bytes: 1n << 20n, seconds: 120 } : undefined,
    status: init.status ?? 'open',
    direction: 'outbound',
    timeline: { open: Date.now() }
  } as unknown as Connection
}

const RELAY = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit'

describe('connection summary', () => {
  it('gives each peer its best path, counts peers only relayed, leaves closed connections out', async () => {
    const [direct, webrtc, relayed, closed] = await Promise.all([peer(), peer(), peer(), peer()])
    const connections = [
      connection(direct, RELAY, { limited: true }),
      connection(direct, '/ip4/192.0.2.1/tcp/4001'),
      connection(webrtc, RELAY, { limited: true }),
      connection(webrtc, `${RELAY}/webrtc`),
      connection(relayed, RELAY, { limited: true }),
      connection(closed, '/ip4/192.0.2.2/tcp/4001', { status: 'closed' })
    ]
    const summary = connectionSummary({ getConnections: () => connections, getMultiaddrs: () => [] })
    assert.deepEqual(summary, {
      connections: 5,
      peers: [
        { peerId: direct.toString(), path: 'direct' },
        { peerId: webrtc.toString(), path: 'webrtc' },
        { peerId: relayed.toString(), path: 'relayed' }
      ],
      relayed: 1,
      reachable: false
    })
  })

  it('is reachable once an address goes through a relay', () => {
    const summary = connectionSummary({ getConnections: () => [], getMultiaddrs: () => [multiaddr(RELAY)] })
    assert.deepEqual(summary, { connections: 0, peers: [], relayed: 0, reachable: true })
  })
})
