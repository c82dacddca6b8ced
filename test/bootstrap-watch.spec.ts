/**
 * The bootstrap watch (src/node/bootstrap-watch.ts) on a stubbed node: when it dials, how the wait
 * between dials grows and resets, and what it reports. Then dialErrorReason against real libp2p dials,
 * pinning how it reads the library's errors.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { TypedEventEmitter } from 'main-event'
import { BootstrapWatch, dialErrorReason } from '../src/node/bootstrap-watch.js'
import { Cleanup, freePort, startChat, until, waitFor } from './fixtures.js'
import type { BootstrapNodeStatus } from '../src/node/bootstrap-watch.js'
import type { AbortOptions, Connection, Libp2p, Libp2pEvents, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AddressInfo, Socket } from 'node:net'

interface PendingDial {
  addrs: string[]
  signal?: AbortSignal
  resolve: (c: Connection) => void
  reject: (err: Error) => void
}

/** What the watch uses of a libp2p node: dials wait until the test settles them. */
class StubNode extends TypedEventEmitter<Libp2pEvents> {
  readonly dials: PendingDial[] = []
  private readonly open = new Set<string>()

  async dial (addrs: Multiaddr[], options: AbortOptions = {}): Promise<Connection> {
    return await new Promise((resolve, reject) => {
      this.dials.push({ addrs: addrs.map(String), signal: options.signal, resolve, reject })
    })
  }

  getConnections (peer?: PeerId): Connection[] {
    return peer != null && this.open.has(peer.toString()) ? [{ remotePeer: peer } as unknown as Connection] : []
  }

  connect (peer: PeerId): void {
    this.open.add(peer.toString())
    this.safeDispatchEvent('peer:connect', { detail: peer })
  }

  disconnect (peer: PeerId): void {
    this.open.delete(peer.toString())
    this.safeDispatchEvent('peer:disconnect', { detail: peer })
  }

  /** The n-th dial (1-based), once it has been made. */
  async dialNumber (n: number): Promise<PendingDial> {
    await until(() => this.dials.length >= n, 5000, `dial ${n}`)
    return this.dials[n - 1]
  }
}

/** A TCP server on loopback that hands each connection to `onSocket`; returns its port. */
async function tcpServer (cleanup: Cleanup, onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    sockets.add(socket)
    onSocket(socket)
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  cleanup.add({
    stop: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => { server.close(resolve) })
    }
  })
  return (server.address() as AddressInfo).port
}

const refused = (): Error => Object.assign(new Error('connection error 127.0.0.1:4999: connect ECONNREFUSED 127.0.0.1:4999'), { code: 'ECONNREFUSED' })
const NOW = 1_000_000
const randomPeer = async (): Promise<PeerId> => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))

describe('bootstrap watch', function () {
  this.timeout(20_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  async function watching (addresses: string[], init: ConstructorParameters<typeof BootstrapWatch>[2] = {}): Promise<{ node: StubNode, watch: BootstrapWatch, changes: BootstrapNodeStatus[] }> {
    const node = new StubNode()
    const watch = cleanup.add(new BootstrapWatch(node, addresses, { now: () => NOW, random: () => 0.5, ...init }))
    const changes: BootstrapNodeStatus[] = []
    watch.addEventListener('change', (evt) => { changes.push(evt.detail) })
    return { node, watch, changes }
  }

  it('dials at start, then after 1, 2, 4 … times the first delay up to the cap; a connection resets it', async () => {
    const peer = await randomPeer()
    const address = `/ip4/127.0.0.1/tcp/4999/p2p/${peer}`
    const { node, watch, changes } = await watching([address], { retryMin: 10, retryMax: 40 })
    assert.deepEqual(watch.status(), [{ address, peerId: peer.toString(), connected: false }], 'before start: not connected, nothing known yet')
    watch.start()
    const delays: number[] = []
    for (let n = 1; n <= 5; n++) {
      const dial = await node.dialNumber(n)
      assert.deepEqual(dial.addrs, [address])
      const failed = waitFor<BootstrapNodeStatus>(watch, 'change')
      dial.reject(refused())
      const change = await failed
      assert.equal(change.connected, false)
      assert.equal(change.lastError, 'connection refused')
      delays.push((change.nextRetryAt ?? 0) - NOW)
    }
    assert.deepEqual(delays, [10, 20, 40, 40, 40])
    assert.deepEqual(watch.status(), [changes[changes.length - 1]], 'status() is what the last event said')

    const sixth = await node.dialNumber(6)
    const up = waitFor<BootstrapNodeStatus>(watch, 'change')
    sixth.resolve({ remotePeer: peer } as unknown as Connection)
    node.connect(peer)
    assert.deepEqual(await up, { address, peerId: peer.toString(), connected: true }, 'connected: no error, no retry')

    // lost: redialled after the first delay again, and a failure then starts over at 10
    const lost = waitFor<BootstrapNodeStatus>(watch, 'change')
    node.disconnect(peer)
    assert.deepEqual(await lost, { address, peerId: peer.toString(), connected: false, nextRetryAt: NOW + 10 })
    const seventh = await node.dialNumber(7)
    const failedAgain = waitFor<BootstrapNodeStatus>(watch, 'change')
    seventh.reject(refused())
    assert.equal((await failedAgain).nextRetryAt, NOW + 10)
    assert.equal(changes.filter(c => c.connected).length, 1, 'one event for the connection (the dial and peer:connect both saw it)')
  })

  it('spreads each delay over ±25 %', async () => {
    const peer = await randomPeer()
    for (const [random, delay] of [[0, 750], [1, 1250], [0.5, 1000]]) {
      const { node, watch } = await watching([`/ip4/127.0.0.1/tcp/4999/p2p/${peer}`], { retryMin: 1000, random: () => random })
      watch.start()
      const failed = waitFor<BootstrapNodeStatus>(watch, 'change')
      ;(await node.dialNumber(1)).reject(refused())
      assert.equal((await failed).nextRetryAt, NOW + delay, `random() = ${random}`)
      watch.stop()
    }
  })

  it('a connection made by someone else (the bootstrap module, the node itself) ends the wait; one connected at start is not dialled', async () => {
    const [a, b] = [await randomPeer(), await randomPeer()]
    const { node, watch } = await watching([`/ip4/127.0.0.1/tcp/4999/p2p/${a}`, `/ip4/127.0.0.1/tcp/4998/p2p/${b}`], { retryMin: 60_000 })
    node.connect(b)
    watch.start()
    const dial = await node.dialNumber(1)
    assert.deepEqual(dial.addrs, [`/ip4/127.0.0.1/tcp/4999/p2p/${a}`], 'only the one not connected is dialled')
    assert.equal(watch.status()[1].connected, true)
    const failed = waitFor<BootstrapNodeStatus>(watch, 'change')
    dial.reject(refused())
    assert.equal((await failed).nextRetryAt, NOW + 60_000)
    const up = waitFor<BootstrapNodeStatus>(watch, 'change')
    node.connect(a)
    assert.deepEqual(await up, { address: `/ip4/127.0.0.1/tcp/4999/p2p/${a}`, peerId: a.toString(), connected: true })
    assert.equal(node.dials.length, 1)
  })

  it('a dial that fails while a connection came up some other way counts as connected', async () => {
    const peer = await randomPeer()
    const { node, watch } = await watching([`/ip4/127.0.0.1/tcp/4999/p2p/${peer}`])
    watch.start()
    const dial = await node.dialNumber(1)
    const up = waitFor<BootstrapNodeStatus>(watch, 'change')
    node.connect(peer)
    dial.reject(new Error('both sides dialled; ours was closed'))
    assert.equal((await up).connected, true)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(watch.status()[0].connected, true)
    assert.equal(watch.status()[0].lastError, undefined)
  })

  it('one entry per peer (its addresses dialled together); an address naming no peer is reported, never dialled', async () => {
    const peer = await randomPeer()
    const tcpAddr = `/ip4/127.0.0.1/tcp/4999/p2p/${peer}`
    const wsAddr = `/ip4/127.0.0.1/tcp/5000/ws/p2p/${peer}`
    const { node, watch } = await watching([tcpAddr, '/ip4/127.0.0.1/tcp/4001', wsAddr, 'not an address'])
    watch.start()
    assert.deepEqual((await node.dialNumber(1)).addrs, [tcpAddr, wsAddr])
    assert.deepEqual(watch.status(), [
      { address: tcpAddr, peerId: peer.toString(), connected: false },
      { address: '/ip4/127.0.0.1/tcp/4001', connected: false, lastError: 'no valid /p2p/<peer id> at the end of the address' },
      { address: 'not an address', connected: false, lastError: 'not a valid address' }
    ])
    assert.equal(node.dials.length, 1)
  })

  it('stop() aborts the dial under way and schedules nothing more', async () => {
    const peer = await randomPeer()
    const address = `/ip4/127.0.0.1/tcp/4999/p2p/${peer}`
    const { node, watch, changes } = await watching([address], { retryMin: 5 })
    watch.start()
    const dial = await node.dialNumber(1)
    watch.stop()
    assert.equal(dial.signal?.aborted, true)
    dial.reject(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }))
    // a second watch on the same settings gets through three dials (5 + 10 ms of waiting) meanwhile
    const { node: other, watch: otherWatch } = await watching([address], { retryMin: 5 })
    otherWatch.start()
    for (let n = 1; n <= 3; n++) (await other.dialNumber(n)).reject(refused())
    assert.equal(node.dials.length, 1, 'no dial after stop()')
    assert.deepEqual(changes, [], 'nothing reported after stop()')
    // and peer events no longer reach it
    node.connect(peer)
    assert.equal(watch.status()[0].connected, false)
  })
})

describe('bootstrap watch in a chat node', function () {
  this.timeout(30_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('makes one dial with the bootstrap module (not two), and reports silence once the dial times out', async () => {
    let accepted = 0
    const silent = await tcpServer(cleanup, () => { accepted++ })
    const address = `/ip4/127.0.0.1/tcp/${silent}/p2p/${await randomPeer()}`
    const chat = cleanup.add(await startChat({ bootstrap: [address], start: false }))
    const failed = waitFor<BootstrapNodeStatus>(chat, 'bootstrap', () => true, 20_000)
    await chat.start()
    const status = await failed
    assert.equal(status.connected, false)
    assert.equal(status.lastError, 'timed out (no libp2p handshake)')
    assert.equal(accepted, 1, 'the bootstrap module joined the watch\'s dial')
  })
})

describe('dialErrorReason, on what libp2p really throws', function () {
  this.timeout(30_000)
  const cleanup = new Cleanup()
  let dialer: Libp2p
  let target: Libp2p
  let stranger: PeerId

  before(async () => {
    const make = async (): Promise<Libp2p> => await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()]
    })
    dialer = cleanup.add(await make())
    target = cleanup.add(await make())
    stranger = await randomPeer()
  })

  after(async () => { await cleanup.run() })

  async function reason (address: string, options: AbortOptions = {}): Promise<string> {
    try {
      await dialer.dial(multiaddr(address), options)
    } catch (err) {
      return dialErrorReason(err)
    }
    throw new Error(`${address} was dialled`)
  }

  it('a closed port: connection refused (TCP), connection failed (WebSocket, which does not say why)', async () => {
    const port = await freePort()
    assert.equal(await reason(`/ip4/127.0.0.1/tcp/${port}/p2p/${stranger}`), 'connection refused')
    assert.equal(await reason(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${stranger}`), 'connection failed')
  })

  it('another node at the address: wrong peer id, naming the one there', async () => {
    const actual = target.peerId.toString()
    for (const addr of target.getMultiaddrs()) {
      const wrong = addr.toString().replace(actual, stranger.toString())
      assert.equal(await reason(wrong), `wrong peer id: the node there is ${actual}`, wrong)
    }
  })

  it('something else at the address: not a libp2p node; silence: timed out', async () => {
    const http = await tcpServer(cleanup, socket => { socket.end('HTTP/1.1 400 Bad Request\r\n\r\n') })
    assert.equal(await reason(`/ip4/127.0.0.1/tcp/${http}/p2p/${stranger}`), 'not a libp2p node (handshake failed)')
    const silent = await tcpServer(cleanup, () => {})
    assert.match(await reason(`/ip4/127.0.0.1/tcp/${silent}/p2p/${stranger}`, { signal: AbortSignal.timeout(300) }), /^timed out/)
  })

  it('an address no transport here can dial', async () => {
    assert.equal(await reason(`/ip4/127.0.0.1/udp/4001/quic-v1/p2p/${stranger}`), 'no transport for this address here')
  })

  it('anything else: the first line of its message, or its name', () => {
    assert.equal(dialErrorReason(new Error('something odd\nat line 2')), 'something odd')
    assert.equal(dialErrorReason(Object.assign(new Error(''), { name: 'WeirdError' })), 'WeirdError')
    assert.equal(dialErrorReason(new AggregateError([refused(), refused(), Object.assign(new Error('x'), { name: 'TimeoutError' })])), 'connection refused; timed out')
    assert.equal(dialErrorReason(undefined), 'failed')
  })
})
