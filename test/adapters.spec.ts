/**
 * The adapters over libp2p libraries' internals (src/node/adapters/), each against the real library:
 * every test here fails when a release changes what the adapter relies on.
 */
import assert from 'node:assert/strict'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { TopicValidatorResult, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { dropReservation } from '../src/node/adapters/circuit-relay.js'
import { FLOODSUB_PROTOCOL, GOSSIPSUB_PROTOCOLS, Validation, filterTopics } from '../src/node/adapters/gossipsub.js'
import { routingTableOf } from '../src/node/adapters/kad-dht.js'
import { PING_STREAMS } from '../src/constants.js'
import { chatDhtInit, roomGossipsubInit } from '../src/node/services.js'
import { startPlainGossipNode, until } from './fixtures.js'
import type { TrackedTopics } from '../src/node/adapters/gossipsub.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Libp2p, PeerId } from '@libp2p/interface'

const WAIT_MS = 10_000
const roomTopic = (c: string): string => `/megachat/room/1/${c.repeat(52)}`
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('adapters over library internals', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []
  afterEach(async () => { await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() })) })
  const keep = <N extends Libp2p<any>>(node: N): N => { nodes.push(node); return node }

  describe('gossipsub', () => {
    it('validation results are its TopicValidatorResult values, and a Reject stops a message', async () => {
      assert.equal(Validation.Accept, TopicValidatorResult.Accept)
      assert.equal(Validation.Ignore, TopicValidatorResult.Ignore)
      assert.equal(Validation.Reject, TopicValidatorResult.Reject)
      const [a, b] = [keep(await startPlainGossipNode()), keep(await startPlainGossipNode())]
      const topic = roomTopic('a')
      a.services.pubsub.topicValidators.set(topic, (_peer, msg) => new TextDecoder().decode(msg.data) === 'bad' ? Validation.Reject : Validation.Accept)
      const heard: string[] = []
      a.services.pubsub.addEventListener('message', (evt) => { heard.push(new TextDecoder().decode(evt.detail.data)) })
      a.services.pubsub.subscribe(topic)
      b.services.pubsub.subscribe(topic)
      await a.dial(b.getMultiaddrs()[0])
      // each sees the other subscribed: a's subscription came on a's stream, b's on b's own stream to a,
      // the one b publishes on (gossipsub drops what it has no stream for: waiting on b's side alone lost
      // both messages in one run in fifteen)
      const subscribed = (x: typeof a, y: typeof a): boolean => x.services.pubsub.getSubscribers(topic).some(p => p.equals(y.peerId))
      await until(() => subscribed(b, a) && subscribed(a, b), WAIT_MS, 'both to see the other subscribed')
      await b.services.pubsub.publish(topic, text('bad'))
      await b.services.pubsub.publish(topic, text('good'))
      await until(() => heard.includes('good'), WAIT_MS, 'the good message')
      assert.deepEqual(heard, ['good'])
    })

    it('handles exactly the protocols the stand-in announces', async () => {
      const a = keep(await startPlainGossipNode())
      assert.deepEqual([...a.services.pubsub.protocols].sort(), [...GOSSIPSUB_PROTOCOLS, FLOODSUB_PROTOCOL].sort())
      const gossipOnly = gossipsub({ ...roomGossipsubInit(), fallbackToFloodsub: false })
      const b = keep(await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify(), pubsub: gossipOnly } }))
      assert.deepEqual([...b.services.pubsub.protocols].sort(), [...GOSSIPSUB_PROTOCOLS].sort())
    })

    it('consults the topic filter for a peer\'s subscriptions and messages, with the topics it tracks', async () => {
      const [a, b] = [keep(await startPlainGossipNode()), keep(await startPlainGossipNode())]
      const allowed = new Set([roomTopic('a'), roomTopic('b')])
      let seen: TrackedTopics | undefined
      filterTopics(a.services.pubsub, (topic, tracked) => { seen = tracked; return allowed.has(topic) })
      // a's own subscription to a topic outside the filter: b's messages on it are dropped all the same
      a.services.pubsub.subscribe(roomTopic('c'))
      const heard: string[] = []
      a.services.pubsub.addEventListener('message', (evt) => { heard.push(`${evt.detail.topic} ${new TextDecoder().decode(evt.detail.data)}`) })
      await a.dial(b.getMultiaddrs()[0])
      for (const topic of [roomTopic('a'), 'not-allowed', roomTopic('b'), roomTopic('c')]) b.services.pubsub.subscribe(topic)
      a.services.pubsub.subscribe(roomTopic('a'))
      const has = (topic: string): boolean => a.services.pubsub.getSubscribers(topic).some(p => p.equals(b.peerId))
      await until(() => has(roomTopic('a')) && has(roomTopic('b')), WAIT_MS, 'b\'s allowed subscriptions seen by a')
      assert.equal(has('not-allowed'), false)
      assert.equal(has(roomTopic('c')), false)
      // the filter sees gossipsub's own map of the topics peers are subscribed to: which, and how many
      assert.ok(seen != null)
      assert.equal(seen.has(roomTopic('a')), true)
      assert.equal(seen.has('not-allowed'), false)
      assert.equal(seen.size, 2, 'b\'s two allowed topics')
      await until(() => b.services.pubsub.getSubscribers(roomTopic('a')).some(p => p.equals(a.peerId)), WAIT_MS, 'b to see a in room a')
      await b.services.pubsub.publish(roomTopic('c'), text('dropped'))
      await b.services.pubsub.publish(roomTopic('a'), text('taken'))
      await until(() => heard.length > 0, WAIT_MS, 'a message')
      assert.deepEqual(heard, [`${roomTopic('a')} taken`])
    })
  })

  describe('kad-dht', () => {
    it('has a routing table with a size and a peer:add event', async () => {
      const dhtNode = async (): Promise<Libp2p<{ dht: object }>> => keep(await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify(), ping: ping(), dht: kadDHT(chatDhtInit(false)) }
      }))
      const [a, b] = [await dhtNode(), await dhtNode()]
      const table = routingTableOf(a.services.dht)
      assert.ok(table != null, 'kad-dht has no routing table where the adapter looks')
      assert.equal(table.size, 0)
      const added = new Promise<PeerId>(resolve => { table.addEventListener('peer:add', (evt) => { resolve((evt as CustomEvent<PeerId>).detail) }, { once: true }) })
      await a.dial(b.getMultiaddrs()[0])
      assert.ok((await added).equals(b.peerId))
      assert.equal(table.size, 1)
      assert.equal(routingTableOf({}), undefined)
    })
  })

  describe('circuit-relay-v2 server', () => {
    it('keeps reservations in its reservations map, each with a timer that can be cleared', async () => {
      const relay = keep(await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify(), relay: circuitRelayServer() }
      })) as Libp2p<{ relay: CircuitRelayService }>
      const client = keep(await createLibp2p({
        addresses: { listen: ['/p2p-circuit'] },
        transports: [tcp(), circuitRelayTransport()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() }
      }))
      await client.dial(relay.getMultiaddrs()[0])
      const reservations = relay.services.relay.reservations
      await until(() => reservations.has(client.peerId), WAIT_MS, 'the client\'s reservation')
      const reservation = reservations.get(client.peerId)
      assert.equal(typeof reservation?.signal.clear, 'function')
      assert.equal(dropReservation(relay.services.relay, client.peerId), true)
      assert.equal(reservations.has(client.peerId), false)
      assert.equal(reservation?.signal.aborted, false, 'dropping it does not abort it')
      assert.equal(dropReservation(relay.services.relay, client.peerId), false)
    })
  })
  describe('connection monitor', () => {
    // libp2p's heartbeat pings through the ping service's registration and aborts a connection whose
    // heartbeat cannot open its stream (src/constants.ts, PING_STREAMS)
    const node = async (streams: { maxOutboundStreams?: number, maxInboundStreams?: number }): Promise<Libp2p> => keep(await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { ping: ping(streams) },
      connectionMonitor: { pingInterval: 100, pingTimeout: { minTimeout: 2_000, maxTimeout: 2_000 } }
    }))
    /** a's connection to b, with a ping stream of a's held open on it (as one that is still closing) */
    const heldPing = async (a: Libp2p, b: Libp2p): Promise<{ rtt: () => number | undefined, status: () => string }> => {
      const connection = await a.dial(b.getMultiaddrs()[0])
      await connection.newStream('/ipfs/ping/1.0.0', { signal: AbortSignal.timeout(WAIT_MS) })
      connection.rtt = -1
      return { rtt: () => connection.rtt, status: () => connection.status }
    }

    it('with one ping stream allowed (@libp2p/ping\'s default), a heartbeat beside one still open aborts the connection', async () => {
      const [a, b] = [await node({}), await node({})]
      const held = await heldPing(a, b)
      await until(() => held.status() !== 'open', WAIT_MS, 'the connection aborted')
    })

    it('with PING_STREAMS, heartbeats go on beside it and the connection stays', async () => {
      const [a, b] = [await node(PING_STREAMS), await node(PING_STREAMS)]
      const held = await heldPing(a, b)
      await until(() => (held.rtt() ?? -1) >= 0, WAIT_MS, 'a heartbeat answered')
      assert.equal(held.status(), 'open')
    })
  })
})
