/**
 * The bound on the subscriptions gossipsub tracks (limitTopics, src/node/services.ts). It replaces
 * gossipsub's private `allowedTopics` set: the real-node test pins that gossipsub still consults it for a
 * peer's subscriptions, and fails when a gossipsub release stops doing so.
 */
import assert from 'node:assert/strict'
import { limitTopics } from '../src/node/services.js'
import { startPlainGossipNode, until } from './fixtures.js'
import type { GossipSub } from '@libp2p/gossipsub'

const roomTopic = (c: string): string => `/megachat/room/1/${c.repeat(52)}`

describe('room topic filter', () => {
  it('tracks joined rooms always, other room topics up to a cap, and nothing else', () => {
    const fake = { allowedTopics: new Set<string>(), topics: new Map<string, unknown>() }
    const joined = new Set([roomTopic('a')])
    limitTopics(fake as unknown as GossipSub, joined)
    const allowed = fake.allowedTopics
    assert.equal(allowed.has(roomTopic('a')), true)
    assert.equal(allowed.has(roomTopic('b')), true, 'another well-formed room topic, under the cap')
    assert.equal(allowed.has('/megachat/room/1/short'), false)
    assert.equal(allowed.has('anything else'), false)
    assert.equal(allowed.has(roomTopic('A')), false, 'not base32')
    // at the cap (joined + 512 tracked): only joined and already tracked topics
    for (let i = 0; i < 513; i++) fake.topics.set(`t${i}`, new Set())
    fake.topics.set(roomTopic('c'), new Set())
    assert.equal(allowed.has(roomTopic('b')), false, 'a new topic over the cap')
    assert.equal(allowed.has(roomTopic('c')), true, 'a topic tracked already')
    assert.equal(allowed.has(roomTopic('a')), true, 'a joined room')
    // a room joined later counts at once: the set is read, not copied
    joined.add(roomTopic('d'))
    assert.equal(allowed.has(roomTopic('d')), true)
  })

  it('is what real gossipsub consults for a peer\'s subscriptions', async function () {
    this.timeout(20_000)
    const a = await startPlainGossipNode()
    const b = await startPlainGossipNode()
    try {
      limitTopics(a.services.pubsub, new Set([roomTopic('a')]))
      await a.dial(b.getMultiaddrs()[0])
      for (const topic of [roomTopic('a'), 'not-a-room', roomTopic('b')]) b.services.pubsub.subscribe(topic)
      const has = (topic: string): boolean => a.services.pubsub.getSubscribers(topic).some(p => p.equals(b.peerId))
      await until(() => has(roomTopic('a')) && has(roomTopic('b')), 10_000, 'b\'s room subscriptions seen by a')
      assert.equal(has('not-a-room'), false, 'a subscription outside the filter was tracked')
    } finally {
      await Promise.allSettled([a.stop(), b.stop()])
    }
  })
})
