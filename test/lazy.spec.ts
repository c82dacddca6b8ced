/**
 * The stand-ins a browser tab runs for the DHT and gossipsub until they are loaded (src/node/lazy.ts),
 * here between real libp2p nodes on loopback: nothing is loaded before the first connection (not even
 * by a background walk), the real services come after it, take over what was asked before (a
 * subscription, message listeners) and are told of the peers connected before they were there.
 */
import assert from 'node:assert/strict'
import { TopicValidatorResult, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { GOSSIPSUB_PROTOCOLS, LazyDHT, LazyGossipSub } from '../src/node/lazy.js'
import { chatDhtInit, roomGossipsubInit } from '../src/node/services.js'
import { repairTopologies } from '../src/node/topologies.js'
import { until } from './fixtures.js'
import type { LateServiceModules } from '../src/node/types.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Connection } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'

const WAIT_MS = 20_000
const TOPIC = '/megachat/room/1/' + 'a'.repeat(52)
const encode = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('services loaded after the first connection (a tab\'s DHT and gossipsub)', function () {
  this.timeout(60_000)
  const nodes: Libp2p[] = []

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
  })

  /** a node on loopback with identify, ping and `services` */
  async function node<S extends Record<string, unknown>> (services: { [K in keyof S]: (components: any) => S[K] }): Promise<Libp2p<S>> {
    const created = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping(), ...services }
    }) as unknown as Libp2p<S>
    nodes.push(created)
    return created
  }

  /** a node with the real DHT (a server) and gossipsub */
  async function plainNode (): Promise<Libp2p<{ dht: unknown, pubsub: GossipSub }>> {
    return await node({ dht: kadDHT(chatDhtInit(false)), pubsub: gossipsub(roomGossipsubInit()) })
  }

  it('loads nothing before the first connection, then takes over subscriptions, listeners and the peers connected before', async () => {
    const loaded: string[] = []
    let identified = async (): Promise<void> => {}
    // as in a tab, the modules come after identify has told the node what the first peer runs
    const modules = (name: string) => async (): Promise<LateServiceModules> => {
      loaded.push(name)
      await identified()
      return { kadDHT, gossipsub }
    }
    const tab = await node({
      dht: (c: any) => new LazyDHT(c, chatDhtInit(true), modules('dht')),
      pubsub: (c: any) => new LazyGossipSub(c, roomGossipsubInit(), modules('pubsub'))
    })
    const [friend, other] = [await plainNode(), await plainNode()]
    identified = async () => {
      await until(async () => (await tab.peerStore.get(friend.peerId).then(p => p.protocols, () => [] as string[])).some(p => p.startsWith('/meshsub/')), WAIT_MS, 'the tab identified the friend')
    }

    const announced = tab.getProtocols()
    // asked of the stand-ins before anything is loaded
    const heard: Message[] = []
    tab.services.pubsub.addEventListener('message', (evt) => { heard.push((evt as CustomEvent<Message>).detail) })
    tab.services.pubsub.subscribe(TOPIC)
    assert.deepEqual(tab.services.pubsub.getTopics(), [TOPIC])
    assert.deepEqual(tab.services.pubsub.getSubscribers(TOPIC), [])
    // a background walk waits for the DHT instead of loading it
    const walk = tab.peerRouting.getClosestPeers(encode('somewhere'))[Symbol.asyncIterator]()
    const walked = walk.next()
    walked.catch(() => {})
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(loaded, [], 'nothing loaded before the first connection')

    // the DHT's other peer is known to the friend only
    friend.services.pubsub.subscribe(TOPIC)
    await other.dial(friend.getMultiaddrs()[0])
    await tab.dial(friend.getMultiaddrs()[0])
    await until(() => loaded.length === 2, WAIT_MS, 'both services asked for after the first connection')
    assert.deepEqual(loaded.sort(), ['dht', 'pubsub'])
    // the node announced gossipsub's protocols from the start: loading it changes none
    const real = await tab.services.pubsub.load()
    assert.deepEqual([...(real as unknown as { protocols: string[] }).protocols].sort(), [...GOSSIPSUB_PROTOCOLS, '/floodsub/1.0.0'].sort())
    assert.deepEqual(tab.getProtocols(), announced)

    // gossipsub: the friend, connected before it was there, hears the subscription, and messages flow both ways
    await until(() => friend.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(tab.peerId)), WAIT_MS, 'the friend sees the tab subscribed')
    await until(() => tab.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(friend.peerId)), WAIT_MS, 'the tab sees the friend subscribed')
    await friend.services.pubsub.publish(TOPIC, encode('to the tab'))
    await until(() => heard.some(m => new TextDecoder().decode(m.data) === 'to the tab'), WAIT_MS, 'the listener added before loading hears the friend')
    const atFriend: string[] = []
    friend.services.pubsub.addEventListener('message', (evt) => { atFriend.push(new TextDecoder().decode(evt.detail.data)) })
    await tab.services.pubsub.publish(TOPIC, encode('from the tab'))
    await until(() => atFriend.includes('from the tab'), WAIT_MS, 'the friend hears the tab')

    // the DHT: the friend, connected before the DHT was there, is in its routing table and finds the other peer
    const found = await tab.peerRouting.findPeer(other.peerId, { signal: AbortSignal.timeout(WAIT_MS) })
    assert.ok(found.id.equals(other.peerId))
    assert.ok(found.multiaddrs.length > 0)
    // the walk that waited goes on now
    await walked
    assert.deepEqual(loaded.sort(), ['dht', 'pubsub'], 'each loaded once')
  })

  for (const friendKind of ['a terminal client', 'another tab']) {
    it(`keeps gossiping with ${friendKind} when the connection the streams were on is lost while another stays open`, async () => {
      await streamsComeBack(friendKind === 'another tab')
    })
  }

  /** A tab and a friend (a terminal client, or a tab), each with the repair chatServices gives, lose their first connection. */
  async function streamsComeBack (friendIsTab: boolean): Promise<void> {
    const repair = repairTopologies(GOSSIPSUB_PROTOCOLS)
    const lazyGossipsub = (c: any): LazyGossipSub => new LazyGossipSub(c, roomGossipsubInit(), async () => ({ kadDHT, gossipsub }))
    const tab = await node({ pubsub: lazyGossipsub, repair })
    const friend = await node({ pubsub: friendIsTab ? lazyGossipsub : gossipsub(roomGossipsubInit()), repair })
    tab.services.pubsub.subscribe(TOPIC)
    friend.services.pubsub.subscribe(TOPIC)
    const first = await tab.dial(friend.getMultiaddrs()[0])
    const sees = async (what: string): Promise<void> => {
      await until(() => friend.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(tab.peerId)) &&
        tab.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(friend.peerId)), WAIT_MS, what)
    }
    await sees('each to see the other subscribed')
    // a second connection (a relayed one and a WebRTC one, in the app), identified on both sides: nothing
    // of it is left to tell gossipsub of the peer later
    const firstAtFriend = friend.getConnections(tab.peerId)[0]
    const identified = ([[tab, first], [friend, firstAtFriend]] as Array<[Libp2p, Connection]>).map(async ([n, old]) => await new Promise<void>(resolve => {
      n.addEventListener('peer:identify', (evt) => { if (evt.detail.connection !== old) resolve() })
    }))
    await tab.dial(friend.getMultiaddrs()[0], { force: true })
    await Promise.all(identified)
    // the first one is lost (a relay's limit, a NAT rebinding): its streams fail on both sides
    first.abort(new Error('connection lost'))
    await until(() => friend.getConnections(tab.peerId).length === 1, WAIT_MS, 'the friend to see one connection left')
    await sees('each to see the other subscribed still')
    type Gossiping = Libp2p<{ pubsub: Pick<GossipSub, 'publish' | 'addEventListener'> }>
    const heard = async (at: Gossiping, from: Gossiping, text: string): Promise<void> => {
      const got: string[] = []
      at.services.pubsub.addEventListener('message', (evt) => { got.push(new TextDecoder().decode(evt.detail.data)) })
      await until(async () => {
        if (got.includes(text)) return true
        await from.services.pubsub.publish(TOPIC, encode(text)).catch(() => {}) // (a mesh forms after a heartbeat)
        return false
      }, WAIT_MS, `"${text}" heard`)
    }
    await heard(friend, tab, 'from the tab')
    await heard(tab, friend, 'from the friend')
  }

  it('hands the topic validators set before it loaded to the real gossipsub', async () => {
    const tab = await node({ pubsub: (c: any) => new LazyGossipSub(c, roomGossipsubInit(), async () => ({ kadDHT, gossipsub })) })
    const friend = await plainNode()
    const text = (m: Message): string => new TextDecoder().decode(m.data)
    tab.services.pubsub.topicValidators.set(TOPIC, (_peer, msg) => text(msg) === 'bad' ? TopicValidatorResult.Reject : TopicValidatorResult.Accept)
    const heard: string[] = []
    tab.services.pubsub.addEventListener('message', (evt) => { heard.push(text((evt as CustomEvent<Message>).detail)) })
    tab.services.pubsub.subscribe(TOPIC)
    friend.services.pubsub.subscribe(TOPIC)
    await tab.dial(friend.getMultiaddrs()[0])
    const real = await tab.services.pubsub.load()
    assert.equal(tab.services.pubsub.topicValidators, real.topicValidators, 'validators set from now on go to the real gossipsub')
    // and the tab sees the friend subscribed: that came on the friend's own stream to the tab, the one it publishes on
    await until(() => friend.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(tab.peerId)) &&
      tab.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(friend.peerId)), WAIT_MS, 'each to see the other subscribed')
    await friend.services.pubsub.publish(TOPIC, encode('bad'))
    await friend.services.pubsub.publish(TOPIC, encode('good'))
    await until(() => heard.includes('good'), WAIT_MS, 'the good message')
    assert.deepEqual(heard, ['good'])
  })

  it('a lookup before any connection loads the DHT at once', async () => {
    let loads = 0
    const tab = await node({ dht: (c: any) => new LazyDHT(c, chatDhtInit(true), async () => { loads++; return { kadDHT, gossipsub } }) })
    const stranger = await plainNode()
    // no peers to ask: the lookup fails, but it had the DHT loaded to try
    await assert.rejects(tab.peerRouting.findPeer(stranger.peerId, { signal: AbortSignal.timeout(1_000) }))
    assert.equal(loads, 1)
  })
})
