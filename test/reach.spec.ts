/**
 * The dial policy (src/node/reach.ts) with a stubbed libp2p: what it races, what it waits for and what
 * it says when nothing works. Timing-free: dead dials never settle until aborted, so a policy that waited
 * on one would time the test out rather than pass slowly.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { LAST_ADDRESS_KEY, Reach, rankConnections } from '../src/node/reach.js'
import type { ReachLibp2p } from '../src/node/reach.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

async function newPeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

interface FakeConnection extends Connection {
  opened: number
}

function connection (remotePeer: PeerId, remoteAddr: string, init: { limited?: boolean, direct?: boolean, newStream?: () => Promise<Stream> } = {}): FakeConnection {
  const c = {
    remotePeer,
    remoteAddr: multiaddr(remoteAddr),
    status: 'open',
    limits: init.limited === true ? { bytes: 1024n } : undefined,
    direct: init.direct ?? init.limited !== true,
    opened: 0,
    closed: false,
    async newStream () {
      c.opened++
      if (init.newStream != null) return await init.newStream()
      return { id: `${c.opened}` } as unknown as Stream
    },
    async close () { c.closed = true; c.status = 'closed' }
  }
  return c as unknown as FakeConnection
}

/** A promise that settles only when the signal aborts: a dropped SYN, a dead relay, a stuck lookup. */
async function never (signal?: AbortSignal): Promise<never> {
  return await new Promise<never>((_resolve, reject) => {
    signal?.addEventListener('abort', () => { reject(Object.assign(new Error('aborted'), { name: 'AbortError' })) }, { once: true })
  })
}

interface Stub {
  libp2p: ReachLibp2p
  dialled: string[]
  aborted: string[]
  open: Connection[]
  metadata: Map<string, Uint8Array>
}

/**
 * A libp2p that answers each dialled address as `answers` says: a connection, 'dead' (never settles),
 * or 'refused' (fails at once). Addresses are matched by their text without the /p2p/ suffix of the peer.
 */
function stub (peer: PeerId, known: string[], answers: Record<string, FakeConnection | 'dead' | 'refused'>, lookup?: string[] | 'dead'): Stub {
  const s: Stub = { libp2p: undefined as any, dialled: [], aborted: [], open: [], metadata: new Map() }
  const strip = (a: Multiaddr): string => a.toString().replace(`/p2p/${peer.toString()}`, '')
  s.libp2p = {
    getConnections: (p?: PeerId) => s.open.filter(c => p == null || c.remotePeer.equals(p)),
    dial: async (target: any, options: any = {}) => {
      const addrs: Multiaddr[] = Array.isArray(target) ? target : [target]
      const key = addrs.map(strip).join(',')
      s.dialled.push(key)
      options.signal?.addEventListener('abort', () => { s.aborted.push(key) }, { once: true })
      for (const a of addrs) {
        const answer = answers[strip(a)]
        if (answer === 'dead') return await never(options.signal)
        if (answer != null && answer !== 'refused') {
          s.open.push(answer)
          return answer
        }
      }
      throw Object.assign(new Error('connection refused'), { name: 'DialError' })
    },
    peerStore: {
      get: async (p: PeerId) => {
        if (!p.equals(peer) || (known.length === 0 && s.metadata.size === 0)) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
        return { addresses: known.map(a => ({ multiaddr: multiaddr(a), isCertified: false })), metadata: s.metadata }
      },
      merge: async (_p: PeerId, data: any) => {
        for (const [k, v] of Object.entries(data.metadata ?? {})) s.metadata.set(k, v as Uint8Array)
      }
    },
    peerRouting: {
      findPeer: async (_p: PeerId, options: any = {}) => {
        if (lookup === 'dead') return await never(options.signal)
        if (lookup == null || lookup.length === 0) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
        return { id: peer, multiaddrs: lookup.map(a => multiaddr(a)) }
      }
    }
  } as unknown as ReachLibp2p
  return s
}

describe('dial policy', function () {
  this.timeout(10_000)
  let peer: PeerId
  let other: PeerId

  before(async () => {
    peer = await newPeer()
    other = await newPeer()
  })

  it('returns an open connection without dialling, direct before relayed', async () => {
    const relayed = connection(peer, '/ip4/198.51.100.1/tcp/1/p2p-circuit', { limited: true })
    const direct = connection(peer, '/ip4/127.0.0.1/tcp/2')
    const s = stub(peer, [], {})
    s.open.push(relayed, direct)
    assert.equal(await new Reach(s.libp2p).connect(peer), direct)
    assert.deepEqual(s.dialled, [])
    assert.deepEqual(rankConnections([relayed, direct]), [direct, relayed])
  })

  it('races the known addresses: a dead private address does not hold back a working relay address', async () => {
    const relay = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWHzSx1x6b5yH3mUrnP6ZNQ8xGsuLTK8vKUv8x3eq5WU1B/p2p-circuit'
    const relayed = connection(peer, relay, { limited: true })
    const s = stub(peer, ['/ip4/10.2.0.2/tcp/4001', relay], { '/ip4/10.2.0.2/tcp/4001': 'dead', [relay]: relayed }, 'dead')
    const reach = new Reach(s.libp2p, { findTimeout: 60_000 })
    assert.equal(await reach.connect(peer), relayed)
    assert.ok(s.dialled.includes('/ip4/10.2.0.2/tcp/4001'), 'the private address was tried too, beside the relay')
    assert.ok(s.aborted.includes('/ip4/10.2.0.2/tcp/4001'), 'and given up once the relay answered')
    // what worked is remembered for next time
    assert.equal(new TextDecoder().decode(s.metadata.get(LAST_ADDRESS_KEY)), relay)
  })

  it('dials the address that worked last before the others', async () => {
    const good = connection(peer, '/ip4/127.0.0.1/tcp/7')
    const s = stub(peer, ['/ip4/10.0.0.9/tcp/1'], { '/ip4/127.0.0.1/tcp/7': good, '/ip4/10.0.0.9/tcp/1': 'dead' })
    s.metadata.set(LAST_ADDRESS_KEY, new TextEncoder().encode('/ip4/127.0.0.1/tcp/7'))
    assert.equal(await new Reach(s.libp2p).connect(peer), good)
    assert.deepEqual(s.dialled, ['/ip4/127.0.0.1/tcp/7'], 'the last address answered within its head start')
  })

  it('looks the peer up in the DHT beside dials that do not answer, and takes what the lookup found', async () => {
    const found = connection(peer, '/ip4/127.0.0.1/tcp/9')
    const s = stub(peer, ['/ip4/127.0.0.1/tcp/8'], { '/ip4/127.0.0.1/tcp/8': 'dead', '/ip4/127.0.0.1/tcp/9': found }, ['/ip4/127.0.0.1/tcp/9'])
    assert.equal(await new Reach(s.libp2p, { findTimeout: 60_000 }).connect(peer), found)
  })

  it('says "not found" when nobody knows an address, and "found but could not be dialled" when none answers', async () => {
    const none = stub(peer, [], {}, [])
    await assert.rejects(new Reach(none.libp2p).connect(peer), { name: 'PeerNotFoundError' })
    const refused = stub(peer, [], { '/ip4/127.0.0.1/tcp/5': 'refused' }, ['/ip4/127.0.0.1/tcp/5'])
    await assert.rejects(new Reach(refused.libp2p).connect(peer), (err: Error) => {
      assert.equal(err.name, 'PeerUnreachableError')
      assert.match(err.message, /found but could not be dialled/)
      return true
    })
    const slow = stub(peer, ['/ip4/127.0.0.1/tcp/6'], { '/ip4/127.0.0.1/tcp/6': 'dead' }, 'dead')
    await assert.rejects(new Reach(slow.libp2p, { findTimeout: 200 }).connect(peer), { name: 'PeerUnreachableError' })
  })

  it('refuses a connection to another peer than the one asked for', async () => {
    const impostor = connection(other, '/ip4/127.0.0.1/tcp/3')
    const s = stub(peer, ['/ip4/127.0.0.1/tcp/3'], { '/ip4/127.0.0.1/tcp/3': impostor }, [])
    await assert.rejects(new Reach(s.libp2p).connect(peer), { name: 'PeerUnreachableError' })
    assert.equal((impostor as any).closed, true)
  })

  it('joins a connect() already under way instead of dialling again', async () => {
    const good = connection(peer, '/ip4/127.0.0.1/tcp/4')
    const s = stub(peer, ['/ip4/127.0.0.1/tcp/4'], { '/ip4/127.0.0.1/tcp/4': good })
    const reach = new Reach(s.libp2p)
    const [one, two] = await Promise.all([reach.connect(peer), reach.connect(peer)])
    assert.equal(one, good)
    assert.equal(two, good)
    assert.equal(s.dialled.length, 1)
  })

  it('opens a stream on the next connection when the best one cannot carry it, and avoids that one from then on', async () => {
    const stuck = connection(peer, '/ip4/10.77.0.2/udp/1/webrtc', { newStream: async () => await never(AbortSignal.timeout(8_000)) })
    const relayed = connection(peer, '/ip4/127.0.0.1/tcp/1/p2p-circuit', { limited: true })
    const s = stub(peer, [], {})
    s.open.push(stuck, relayed)
    const reach = new Reach(s.libp2p)
    const first = await reach.openStream(peer, '/test/1.0.0', { signal: AbortSignal.timeout(5_000) })
    assert.equal(first.connection, relayed, 'the relayed connection carried the stream')
    assert.equal(stuck.opened, 1, 'the direct one was tried first')
    const second = await reach.openStream(peer, '/test/1.0.0', { signal: AbortSignal.timeout(5_000) })
    assert.equal(second.connection, relayed)
    assert.equal(stuck.opened, 1, 'a suspect connection is tried after the others')
  })
})
