/**
 * What the bootstrap node keeps for others is bounded (bootstrap-node/records.ts): the store's limits on
 * its own, then a raw libp2p node sending thousands of junk ADD_PROVIDER messages over the DHT protocol
 * to a running bootstrap node, which keeps a capped number, stays small, and still serves honest peers.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createBootstrapNode, DEFAULT_RECORD_LIMITS, DHT_PROTOCOL } from '../bootstrap-node/index.js'
import { BoundedDatastore } from '../bootstrap-node/records.js'
import { Cleanup, routingTable, tempDir, until } from './fixtures.js'
import type { RecordCounts } from '../bootstrap-node/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'

const WAIT_MS = 20_000
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

/** A varint, as protobuf writes it. */
function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80)
  return [...out, n]
}
const lenField = (field: number, value: Uint8Array | number[]): number[] => [(field << 3) | 2, ...varint(value.length), ...value]

/** A kad-dht Message{ADD_PROVIDER} for a fresh random key, naming `peer` (multihash bytes) at `addrs`. */
function addProvider (peer: Uint8Array, addrs: Uint8Array[]): Uint8Array {
  const key = [0x12, 0x20, ...crypto.getRandomValues(new Uint8Array(32))] // a sha2-256 multihash (CIDv0)
  const info = [...lenField(1, peer), ...addrs.flatMap(a => lenField(2, a))]
  return Uint8Array.from([0x08, 2, ...lenField(2, key), ...lenField(9, info)])
}

/**
 * RSS growth allowed to a bootstrap node process at any point of the flood. Handling a message costs
 * some whatever is kept (kad-dht decodes it, the peer store merges its addresses): the process levels
 * off 100-120 MB up under such a flood and stays there (measured flat from 3,000 to 15,000 messages).
 * Before the limits, 2,500 took it up by 270 MB, and 195 s of CPU, as the attacker's peer record grew
 * with every message.
 */
const MAX_GROWTH_BYTES = 150 * 2 ** 20
const BOOTSTRAP_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bootstrap-node', 'main.js')

/** A bootstrap node under attack: where to dial it, what it holds, and its process's RSS. */
interface Victim {
  address: Multiaddr
  records(): Promise<RecordCounts>
  rss(): number
  stop(): Promise<void>
}

/** The bootstrap node as its own process (main.js --json), so that its RSS is its own: status lines every 0.1 s. */
async function startVictim (cleanup: Cleanup): Promise<Victim> {
  const dir = cleanup.dir(await tempDir('megachat-boot-'))
  const child = spawn(process.execPath, [BOOTSTRAP_MAIN, '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-stun', '--data', dir, '--status-interval', '0.1'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  cleanup.add({ stop: async () => { child.kill('SIGTERM'); await exited } })
  const lines: Array<Record<string, any>> = []
  let pending = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      lines.push(JSON.parse(pending.slice(0, nl)))
      pending = pending.slice(nl + 1)
    }
  })
  await until(() => lines.some(l => l.type === 'status'), WAIT_MS, 'the bootstrap node\'s first status line')
  const ready = lines.find(l => l.type === 'ready')
  return {
    address: multiaddr(ready?.addresses[0]),
    records: async () => {
      // the next status line, so that what was taken before the call is in it
      const seen = lines.length
      await until(() => lines.length > seen, WAIT_MS, 'a status line')
      return lines.at(-1)?.records
    },
    rss: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) * 1024,
    stop: async () => { child.kill('SIGTERM'); await exited }
  }
}

describe('bootstrap node records', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  describe('BoundedDatastore', () => {
    const limits = { maxProvidersPerPeer: 3, maxProviders: 5, maxValues: 2, maxValueBytes: 10, maxPeers: 3, maxPeerBytes: 10 }
    const provider = (cid: number, peer: string): Key => new Key(`/dht/provider/CID${cid}/${peer}`)

    it('holds provider records up to the limit per peer and in all; a held one may be rewritten, a deleted one frees its place', async () => {
      const store = new BoundedDatastore(new MemoryDatastore(), { limits })
      for (let i = 0; i < 5; i++) await store.put(provider(i, 'alice'), bytes(1, i))
      assert.deepEqual(store.counts(), { providers: 3, values: 0, peers: 0, refused: { providers: 2, values: 0, peers: 0 } })
      assert.equal(await store.has(provider(3, 'alice')), false)
      await store.put(provider(0, 'alice'), bytes(1, 9)) // a re-announcement
      assert.deepEqual(await store.get(provider(0, 'alice')), bytes(1, 9))
      for (let i = 0; i < 3; i++) await store.put(provider(i, 'bob'), bytes(1, i))
      assert.deepEqual(store.counts(), { providers: 5, values: 0, peers: 0, refused: { providers: 3, values: 0, peers: 0 } }, 'five in all')
      await store.delete(provider(1, 'alice'))
      await store.delete(provider(1, 'alice'))
      await store.delete(provider(7, 'carol')) // never held
      await store.put(provider(2, 'bob'), bytes(1, 2))
      assert.deepEqual(store.counts(), { providers: 5, values: 0, peers: 0, refused: { providers: 3, values: 0, peers: 0 } })
      const keys: string[] = []
      for await (const key of store.queryKeys({ prefix: '/dht/provider/' })) keys.push(key.toString())
      assert.equal(keys.length, 5)
    })

    it('holds value records up to the limit and size, and passes other keys through', async () => {
      const store = new BoundedDatastore(new MemoryDatastore(), { limits })
      await store.put(new Key('/dht/record/a'), bytes(10, 1))
      await store.put(new Key('/dht/record/b'), bytes(11, 1))
      await store.put(new Key('/dht/record/c'), bytes(1, 1))
      await store.put(new Key('/dht/record/d'), bytes(1, 1))
      await store.put(new Key('/something/else'), bytes(100, 1))
      assert.deepEqual(store.counts(), { providers: 0, values: 2, peers: 0, refused: { providers: 0, values: 2, peers: 0 } })
      assert.equal(await store.has(new Key('/something/else')), true)
    })

    it('drops the peer record written longest ago to make room, but never one it is told to keep, and refuses one too large', async () => {
      const store = new BoundedDatastore(new MemoryDatastore(), { limits, keep: (key) => key === '/peers/self' })
      for (const peer of ['self', 'a', 'b']) await store.put(new Key(`/peers/${peer}`), bytes(5, 1))
      await store.put(new Key('/peers/a'), bytes(5, 2)) // rewritten: now the newest
      await store.put(new Key('/peers/c'), bytes(5, 1))
      assert.deepEqual(await Promise.all(['self', 'a', 'b', 'c'].map(async p => await store.has(new Key(`/peers/${p}`)))), [true, true, false, true])
      await store.put(new Key('/peers/d'), bytes(11, 1))
      assert.equal(await store.has(new Key('/peers/d')), false)
      assert.deepEqual(store.counts(), { providers: 0, values: 0, peers: 3, refused: { providers: 0, values: 0, peers: 1 } })
    })

    it('counts what an earlier run left in the store when it opens', async () => {
      const memory = new MemoryDatastore()
      const first = new BoundedDatastore(memory, { limits })
      for (let i = 0; i < 4; i++) await first.put(provider(i, 'alice'), bytes(1, i))
      await first.put(new Key('/peers/a'), bytes(1, 1))
      await first.put(new Key('/dht/record/a'), bytes(1, 1))
      const again = new BoundedDatastore(memory, { limits })
      await again.open()
      assert.deepEqual(again.counts(), { providers: 3, values: 1, peers: 1, refused: { providers: 0, values: 0, peers: 0 } })
      await again.put(provider(9, 'alice'), bytes(1, 1))
      assert.equal(again.counts().refused.providers, 1)
    })
  })

  it('refuses a record limit that is not a positive whole number', async () => {
    for (const records of [{ maxProviders: 0 }, { maxPeerBytes: 1.5 }, { maxProvidersPerPeer: -1 }]) {
      await assert.rejects(createBootstrapNode({ listen: ['/ip4/127.0.0.1/tcp/0'], stunPort: false, records }), { name: 'InvalidInputError' })
    }
  })

  describe('under a flood of junk provider records', () => {
    async function startAttacker (): Promise<Libp2p> {
      const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
      cleanup.add({ stop: async () => { await node.stop() } })
      return node
    }

    /**
     * Sends `count` ADD_PROVIDER messages (each with `junk` made-up addresses besides the sender's own)
     * in streams of 100, each kept open until the node has taken all of its messages (held or refused).
     */
    async function flood (attacker: Libp2p, boot: Victim, count: number, junk: number): Promise<void> {
      const self = attacker.peerId.toMultihash().bytes
      const own = attacker.getMultiaddrs()[0].bytes
      const taken = async (): Promise<number> => { const r = await boot.records(); return r.providers + r.refused.providers }
      const start = await taken()
      for (let sent = 0; sent < count;) {
        const frames: Uint8Array[] = []
        for (let i = 0; i < 100 && sent < count; i++, sent++) {
          frames.push(addProvider(self, [own, ...Array.from({ length: junk }, (_, j) => multiaddr(`/ip4/10.${sent % 250}.${j}.${i}/tcp/${1000 + sent}`).bytes)]))
        }
        const stream = await attacker.dialProtocol(boot.address, DHT_PROTOCOL, { signal: AbortSignal.timeout(WAIT_MS) })
        await lpStream(stream).writeV(frames, { signal: AbortSignal.timeout(WAIT_MS) })
        await until(async () => await taken() - start === sent, WAIT_MS, `the node to take ${sent} records`)
        await stream.close()
      }
    }

    it('keeps at most its per-peer limit of 6,000 records from one peer, levels off in memory, and serves an honest peer', async () => {
      const boot = await startVictim(cleanup)
      const attacker = await startAttacker()
      await attacker.dial(boot.address)
      const rss = [boot.rss()]
      for (const half of [1, 2]) {
        await flood(attacker, boot, 3000, 8)
        rss.push(boot.rss())
        const { providers, refused } = await boot.records()
        assert.equal(providers, DEFAULT_RECORD_LIMITS.maxProvidersPerPeer)
        assert.equal(refused.providers, half * 3000 - providers)
        // every ADD_PROVIDER merges its addresses into the sender's peer record: it stopped growing
        assert.ok(refused.peers > 0, 'peer record writes refused')
      }
      const mb = rss.map(r => (r / 2 ** 20).toFixed(0)).join(' -> ')
      assert.ok(Math.max(...rss) - rss[0] < MAX_GROWTH_BYTES, `RSS ${mb} MB`)
      const { providers } = await boot.records()

      // an honest peer's record still goes in and is found
      const dht = { protocol: DHT_PROTOCOL, peerInfoMapper: passthroughMapper, clientMode: true }
      const client = async (): Promise<Libp2p<{ dht: KadDHT }>> => {
        // a provider record names its addresses: one without any is not kept
        const node = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify(), ping: ping(), dht: kadDHT(dht) } })
        cleanup.add({ stop: async () => { await node.stop() } })
        await node.dial(boot.address)
        await until(() => routingTable(node.services.dht).size > 0, WAIT_MS, 'the bootstrap node in the routing table')
        return node
      }
      const honest = await client()
      const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('an honest room')))
      await honest.contentRouting.provide(cid, { signal: AbortSignal.timeout(WAIT_MS) })
      await until(async () => (await boot.records()).providers === providers + 1, WAIT_MS, 'the honest record held')
      const seeker = await client()
      const found = []
      for await (const p of seeker.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(WAIT_MS) })) {
        found.push(p.id.toString())
        break
      }
      assert.deepEqual(found, [honest.peerId.toString()])
    })

    it('keeps them in a LevelDB under its data directory, counted again after a restart', async () => {
      const dir = cleanup.dir(await tempDir('megachat-boot-'))
      const start = async (): Promise<Victim> => {
        const node = cleanup.add(await createBootstrapNode({ listen: ['/ip4/127.0.0.1/tcp/0'], stunPort: false, dataDir: dir }))
        return { address: node.libp2p.getMultiaddrs()[0], records: async () => node.records(), rss: () => 0, stop: async () => { await node.stop() } }
      }
      const boot = await start()
      const attacker = await startAttacker()
      await attacker.dial(boot.address)
      await flood(attacker, boot, 300, 0)
      assert.equal((await boot.records()).providers, DEFAULT_RECORD_LIMITS.maxProvidersPerPeer)
      await assert.rejects(createBootstrapNode({ listen: ['/ip4/127.0.0.1/tcp/0'], stunPort: false, dataDir: dir }), { name: 'DataDirError' })
      await boot.stop()

      const again = await start()
      assert.equal((await again.records()).providers, DEFAULT_RECORD_LIMITS.maxProvidersPerPeer)
      await attacker.dial(again.address)
      await flood(attacker, again, 10, 0)
      assert.equal((await again.records()).providers, DEFAULT_RECORD_LIMITS.maxProvidersPerPeer)
      assert.equal((await again.records()).refused.providers, 10)
    })
  })
})
