/**
 * The WebRTC guard (src/node/webrtc-guard.ts) with stubbed libp2p events: a WebRTC connection that is
 * never identified is closed; one that is identified, and any other kind of connection, is left alone.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { WebRTCGuard, isWebRTC } from '../src/node/webrtc-guard.js'
import type { Connection, IdentifyResult, Libp2pEvents, PeerId } from '@libp2p/interface'

interface StubConnection extends Connection { aborted?: Error }

function connection (peer: PeerId, addr: string): StubConnection {
  const c: any = {
    remotePeer: peer,
    remoteAddr: multiaddr(addr),
    status: 'open',
    abort (err: Error) { c.aborted = err; c.status = 'closed'; c.onAbort?.() }
  }
  return c
}

/** Resolves when the connection is aborted; fails after `ms`. */
async function aborted (c: StubConnection & { onAbort?: () => void }, ms = 5000): Promise<void> {
  if (c.aborted != null) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the connection was not closed')) }, ms)
    c.onAbort = () => { clearTimeout(timer); resolve() }
  })
}

describe('WebRTC guard', () => {
  let events: TypedEventEmitter<Libp2pEvents>
  let guard: WebRTCGuard
  let peer: PeerId

  beforeEach(async () => {
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    events = new TypedEventEmitter<Libp2pEvents>()
    guard = new WebRTCGuard({ events }, 30)
    guard.start()
  })

  afterEach(() => { guard.stop() })

  const open = (c: Connection): void => { events.safeDispatchEvent('connection:open', { detail: c }) }
  const identified = (c: Connection): void => {
    events.safeDispatchEvent('peer:identify', { detail: { peerId: c.remotePeer, connection: c, protocols: [], listenAddrs: [] } as unknown as IdentifyResult })
  }

  it('tells browser-to-browser WebRTC connections from the others', () => {
    assert.equal(isWebRTC(connection(peer, `/webrtc/p2p/${peer.toString()}`)), true)
    assert.equal(isWebRTC(connection(peer, `/ip4/203.0.113.1/tcp/443/tls/ws/p2p/${peer.toString()}/p2p-circuit/webrtc/p2p/${peer.toString()}`)), true)
    assert.equal(isWebRTC(connection(peer, '/ip4/127.0.0.1/tcp/4001')), false)
    assert.equal(isWebRTC(connection(peer, '/ip4/127.0.0.1/udp/4001/webrtc-direct')), false)
  })

  it('closes a WebRTC connection that is never identified, and counts it', async () => {
    const dead = connection(peer, `/webrtc/p2p/${peer.toString()}`)
    open(dead)
    await aborted(dead)
    assert.match(String(dead.aborted?.message), /carried nothing/)
    assert.equal(guard.closed, 1)
  })

  it('leaves an identified WebRTC connection and other connections alone', async () => {
    const working = connection(peer, `/webrtc/p2p/${peer.toString()}`)
    const tcp = connection(peer, '/ip4/127.0.0.1/tcp/4001')
    open(working)
    open(tcp)
    identified(working)
    // opened after the others: once its timer has closed it, theirs would have fired too
    const dead = connection(peer, `/webrtc/p2p/${peer.toString()}`)
    open(dead)
    await aborted(dead)
    assert.equal(working.aborted, undefined)
    assert.equal(tcp.aborted, undefined)
    assert.equal(guard.closed, 1)
  })

  it('forgets a connection that closed on its own', async () => {
    const gone = connection(peer, `/webrtc/p2p/${peer.toString()}`)
    open(gone)
    events.safeDispatchEvent('connection:close', { detail: gone })
    const dead = connection(peer, `/webrtc/p2p/${peer.toString()}`)
    open(dead)
    await aborted(dead)
    assert.equal(gone.aborted, undefined)
    assert.equal(guard.closed, 1)
  })
})
