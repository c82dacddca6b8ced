/**
 * Discovery: a contact connected to the bootstrap node is found by a fresh client on the first attempt,
 * also after other clients came and went. Runs inside the test network namespace (test/netns.sh).
 */
import assert from 'node:assert/strict'
import { bootstrap } from '@libp2p/bootstrap'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL } from '../src/constants.js'
import { chatDhtInit } from '../src/node/services.js'
import { catchUpTopologies } from '../src/node/topologies.js'
import { Cleanup, routingTable, startBootstrap, startChat, until } from './fixtures.js'
import { churn, firstContact, knownTo, memoryChat } from './first-contact.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

/** earlier clients the bootstrap node sees come and go before the lookups */
const CHURN = 20
/** fresh clients that each look the contact up once; 1 failure in 7 would show in 20 with p > 0.95 */
const FRESH = 20
/** fresh clients starting at once (each a process of its own, as a new user's would be; ~25 s for all on 2 cores) */
const AT_ONCE = 4
/** the fresh clients' lookup timeout per attempt (ms): the client's default (15 s), as other work may load the machine */
const FIND_MS = 15_000

describe('discovery', function () {
  this.timeout(90_000)
  let cleanup: Cleanup

  beforeEach(() => {
    cleanup = new Cleanup()
  })

  afterEach(async () => {
    await cleanup.run()
  })

  it('each of 20 fresh clients finds a contact connected to the bootstrap node on its first attempt, after 20 others came and went', async function () {
    // ~25 s on an idle machine; 20 client processes take much longer when other work loads it
    this.timeout(240_000)
    const boot = cleanup.add(await startBootstrap())
    await churn(boot, CHURN)
    const contact = cleanup.add(await memoryChat(boot))
    await knownTo(boot, contact.peerId)

    const outcomes: string[] = []
    for (let i = 0; i < FRESH; i += AT_ONCE) {
      const runs = await Promise.all(Array.from({ length: Math.min(AT_ONCE, FRESH - i) }, async () => {
        // a failed first attempt says "unreachable" after FIND_MS and retries: wait past it
        return await firstContact(boot.addresses()[0], contact.peerId, { findTimeout: FIND_MS, waitMs: 1.5 * FIND_MS })
      }))
      for (const run of runs) outcomes.push(run.unreachable != null ? `unreachable: ${run.unreachable}` : run.deliveredMs != null ? 'delivered' : 'not delivered')
    }
    assert.deepEqual(outcomes, new Array(FRESH).fill('delivered'))
  })

  it('the bootstrap node answers a lookup for a client-mode peer connected to it, with its relay address', async () => {
    const boot = cleanup.add(await startBootstrap())
    // reachable only through its reservation on the bootstrap node, as behind a NAT
    const contact = cleanup.add(await startChat({ bootstrapNode: boot, listen: [], webrtc: false, datastore: new MemoryDatastore(), privateKey: await generateKeyPair('Ed25519') }))
    const relayed = (addr: string): boolean => addr.includes(`/p2p/${boot.peerId.toString()}/p2p-circuit`)
    await knownTo(boot, contact.peerId, relayed)
    // a DHT client: the bootstrap node answers for it from its peer store, not from its routing table
    assert.equal(contact.libp2p.services.dht.getMode(), 'client')
    assert.equal(routingTable(boot.libp2p.services.dht).size, 0)

    const seeker = cleanup.add(await memoryChat(boot))
    const found = await seeker.libp2p.peerRouting.findPeer(contact.peerId, { signal: AbortSignal.timeout(FIND_MS) })
    assert.ok(found.multiaddrs.some(ma => relayed(ma.toString())), found.multiaddrs.map(String).join(' '))
  })

  it('a lookup for a client that has left ends "not found": the bootstrap node forgets its addresses (a DHT server\'s stay)', async () => {
    const boot = cleanup.add(await startBootstrap())
    const gone = await memoryChat(boot)
    const server = await startChat({ bootstrapNode: boot, dhtServer: true, datastore: new MemoryDatastore(), privateKey: await generateKeyPair('Ed25519') })
    await knownTo(boot, gone.peerId)
    await knownTo(boot, server.peerId)
    const table = routingTable(boot.libp2p.services.dht)
    await until(() => table.size > 0, 10_000, 'the DHT server in the routing table')
    // the server leaves first: by the time the client's addresses are forgotten, so would its be
    await server.stop()
    await until(() => boot.libp2p.getConnections(server.peerId).length === 0, 10_000, 'the DHT server to be gone')
    await gone.stop()
    await until(async () => (await boot.libp2p.peerStore.get(gone.peerId)).addresses.length === 0, 10_000, 'the departed client\'s addresses to be forgotten')
    // the routing table answers with a DHT server's addresses: those are kept
    assert.ok((await boot.libp2p.peerStore.get(server.peerId)).addresses.length > 0)

    const seeker = cleanup.add(await memoryChat(boot))
    const lookup = AbortSignal.timeout(FIND_MS)
    await assert.rejects(seeker.libp2p.peerRouting.findPeer(gone.peerId, { signal: lookup }), { name: 'NotFoundError' })
    assert.equal(lookup.aborted, false, 'the lookup ran into its timeout instead of ending "not found"')
  })

  describe('a DHT that starts after its first peer was identified (src/node/topologies.ts)', () => {
    /**
     * A node like the client's, whose DHT starts only once the bootstrap node it dials at start has
     * been identified: libp2p told the topologies registered by then, so not the DHT's.
     */
    async function lateDhtNode (boot: BootstrapNode, catchUp: boolean): Promise<Libp2p<{ dht: KadDHT }>> {
      const lateDht = (components: any): KadDHT => {
        const dht = kadDHT(chatDhtInit())(components) as KadDHT & { start(): Promise<void> }
        const identified = new Promise<void>(resolve => {
          const onIdentify = (evt: CustomEvent<{ peerId: PeerId }>): void => {
            if (!evt.detail.peerId.equals(boot.peerId)) return
            components.events.removeEventListener('peer:identify', onIdentify)
            resolve()
          }
          components.events.addEventListener('peer:identify', onIdentify)
        })
        const start = dht.start.bind(dht)
        dht.start = async () => {
          await identified
          await start()
        }
        return dht
      }
      const node = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        peerDiscovery: [bootstrap({ list: boot.addresses(), timeout: 0 })],
        services: {
          identify: identify(),
          ping: ping(),
          dht: lateDht,
          ...(catchUp ? { dhtCatchUp: catchUpTopologies([DHT_PROTOCOL]) } : {})
        }
      })
      return cleanup.add(node)
    }

    it('gets that peer into its routing table, so that the first lookup finds a contact through it', async () => {
      const boot = cleanup.add(await startBootstrap())
      const contact = cleanup.add(await memoryChat(boot))
      await knownTo(boot, contact.peerId)
      const node = await lateDhtNode(boot, true)
      const found = await node.peerRouting.findPeer(contact.peerId, { signal: AbortSignal.timeout(FIND_MS) })
      assert.equal(found.id.toString(), contact.peerId.toString())
    })

    it('is needed: without it libp2p never tells the DHT of that peer and the lookup finds nobody to ask', async () => {
      // if this starts to fail, libp2p tells late topologies of connected peers itself and
      // catchUpTopologies can go
      const boot = cleanup.add(await startBootstrap())
      const contact = cleanup.add(await memoryChat(boot))
      await knownTo(boot, contact.peerId)
      const node = await lateDhtNode(boot, false)
      assert.ok(node.getConnections(boot.peerId).length > 0)
      await assert.rejects(node.peerRouting.findPeer(contact.peerId, { signal: AbortSignal.timeout(3000) }))
      assert.equal(routingTable(node.services.dht).size, 0)
    })
  })
})
