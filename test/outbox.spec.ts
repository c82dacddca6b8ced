/**
 * The outbox (src/direct/outbox.ts) with a real store over memory and a stubbed DM service: what it
 * sends, in which order, and that a message sent at an awkward moment is never left behind.
 */
import assert from 'node:assert/strict'
import { mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { OUTBOX_PAGE, Outbox, QUEUE_MAX_CHARS } from '../src/direct/outbox.js'
import { ChatStore } from '../src/store/index.js'
import { PeerNotFoundError } from '../src/errors.js'
import { until } from './fixtures.js'
import type { DirectMessage, DirectMessages, SendOptions } from '../src/direct/index.js'
import type { Reach } from '../src/node/reach.js'
import type { Unreachable } from '../src/direct/outbox.js'
import type { StoredMessage } from '../src/store/index.js'

/** A DM service that acknowledges everything it is given (and what `more` adds), in order. */
function fakeDm (sent: DirectMessage[]): Pick<DirectMessages, 'protocol' | 'stats' | 'send' | 'release'> {
  return {
    protocol: '/test',
    stats: { received: 0, oversized: 0, malformed: 0, refused: 0, failedStreams: 0 },
    release () {},
    async send (_peer, messages: DirectMessage[], options: SendOptions = {}) {
      let list = messages
      while (list.length > 0) {
        sent.push(...list)
        await options.onAck?.(list.map(m => m.id))
        list = await options.more?.() ?? []
      }
    }
  }
}

/** An outbox over `store` and a DM service that acknowledges everything, with what it sent, reported sent and delivered. */
function ackingOutbox (store: ChatStore): { outbox: Outbox, sent: DirectMessage[], reported: string[], delivered: string[], controller: AbortController } {
  const sent: DirectMessage[] = []
  const reported: string[] = []
  const delivered: string[] = []
  const controller = new AbortController()
  const outbox = new Outbox({
    store,
    dm: () => fakeDm(sent),
    reach: {} as unknown as Reach,
    protocol: '/test',
    signal: controller.signal,
    onSent: (m) => { reported.push(m.text) },
    onDelivered: (m) => { delivered.push(m.text) },
    onUnreachable: () => {}
  })
  return { outbox, sent, reported, delivered, controller }
}

/** Lets the promises that the last tick of a mocked clock started run (the store and the outbox chain a few). */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
}

describe('outbox', () => {
  afterEach(() => { mock.timers.reset() })

  it('retries a contact that cannot be found after 1 s, then twice as long each time, never past the retry interval, and says so once', async () => {
    // a mocked clock: fifteen minutes of it take half a second
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 })
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const store = new ChatStore(new MemoryDatastore())
    const attempts: number[] = []
    const reports: Unreachable[] = []
    const controller = new AbortController()
    const outbox = new Outbox({
      store,
      dm: () => ({
        ...fakeDm([]),
        async send () {
          attempts.push(Date.now())
          throw new PeerNotFoundError('not found in time')
        }
      }),
      reach: {} as unknown as Reach,
      protocol: '/test',
      signal: controller.signal,
      // backing off stops where the periodic retry (every 10 s here) takes over
      retryInterval: 10_000,
      onDelivered: () => {},
      onUnreachable: (u) => { reports.push(u) }
    })
    await outbox.send(peer, 'are you there?')
    await settle()
    // a quarter of a second at a time
    for (let ms = 0; ms < 15 * 60_000; ms += 250) {
      mock.timers.tick(250)
      await settle()
    }
    // 1 s, 2 s, 4 s, 8 s; the next (16 s) would be past the 10 s interval: the periodic round's turn
    assert.deepEqual(attempts.slice(1).map((t, i) => t - attempts[i]), [1000, 2000, 4000, 8000])
    assert.deepEqual(reports.map(r => [r.peerId, r.pending, r.why]), [[peer, 1, 'not-found']])
    // the message waits in the store for the next round
    assert.deepEqual((await store.outbox(peer)).map(m => m.text), ['are you there?'])
    controller.abort()
    await outbox.settled()
  })

  it('delivers a message sent while a run reads the outbox from the store', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const store = new ChatStore(new MemoryDatastore())
    const gate = Promise.withResolvers<void>()
    let reads = 0
    const read = store.outbox.bind(store)
    store.outbox = async (p: string, limit?: number, after?: StoredMessage): Promise<StoredMessage[]> => {
      const result = await read(p, limit, after)
      if (++reads === 1) await gate.promise // the first read is slow: a send lands meanwhile
      return result
    }
    const { outbox, sent, delivered, controller } = ackingOutbox(store)
    await outbox.send(peer, 'one')
    await until(() => reads === 1, 5_000, 'the first run to read the store')
    await outbox.send(peer, 'two') // stored after the read's snapshot, before it returned
    gate.resolve()
    await until(() => delivered.length === 2, 5_000, 'both delivered')
    assert.deepEqual(delivered, ['one', 'two'])
    assert.deepEqual(sent.map(m => m.text), ['one', 'two'])
    // from now on the queue is known: a send needs no store read
    const before = reads
    await outbox.send(peer, 'three')
    await until(() => delivered.length === 3, 5_000, 'the third delivered')
    assert.equal(reads, before)
    assert.deepEqual(await store.outbox(peer), [])
    controller.abort()
    await outbox.settled()
  })

  it('delivers a burst longer than a page once each and in order, while later messages are still being written and read', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const store = new ChatStore(new MemoryDatastore())
    const { outbox, sent, delivered, controller } = ackingOutbox(store)
    // more text than the queue in memory holds: the rest is read from the store, page after page
    const n = OUTBOX_PAGE * 2 + 100
    const pad = 'x'.repeat(Math.ceil(QUEUE_MAX_CHARS / n) + 1)
    const texts = Array.from({ length: n }, (_, i) => `m${i} ${pad}`)
    await Promise.all(texts.map(async t => await outbox.send(peer, t)))
    await until(() => delivered.length >= n, 20_000, 'all delivered')
    assert.ok(sent.map(m => m.text).every((t, i) => t === texts[i]) && sent.length === n, 'sent once each, in order')
    assert.ok(delivered.every((t, i) => t === texts[i]) && delivered.length === n, 'delivered once each, in order')
    assert.deepEqual(await store.outbox(peer), [])
    controller.abort()
    await outbox.settled()
  })

  it('stores what is sent in one tick in one write, reports each sent before its send resolves, and a failed write loses nothing else', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const store = new ChatStore(new MemoryDatastore())
    const writes: string[][] = []
    let failNext = false
    const add = store.addOutgoing.bind(store)
    store.addOutgoing = async (...messages: StoredMessage[]): Promise<void> => {
      writes.push(messages.map(m => m.text))
      if (failNext) {
        failNext = false
        throw new Error('disk full')
      }
      await add(...messages)
    }
    const { outbox, sent, reported, delivered, controller } = ackingOutbox(store)
    // one tick: one write; each is reported sent by the time its own send resolves
    await Promise.all(['a', 'b', 'c'].map(async t => {
      await outbox.send(peer, t)
      assert.ok(reported.includes(t), `${t} reported sent before send() resolved`)
    }))
    assert.deepEqual(writes, [['a', 'b', 'c']])
    // a write that fails rejects the sends in it, reports none of them, and the next tick's write goes on
    failNext = true
    const failed = await Promise.allSettled([outbox.send(peer, 'd'), outbox.send(peer, 'e')])
    assert.deepEqual(failed.map(r => r.status === 'rejected' ? (r.reason as Error).message : r.status), ['disk full', 'disk full'])
    await outbox.send(peer, 'f')
    assert.deepEqual(writes, [['a', 'b', 'c'], ['d', 'e'], ['f']])
    assert.deepEqual(reported, ['a', 'b', 'c', 'f'])
    await until(() => delivered.length === 4, 5_000, 'the stored ones delivered')
    assert.deepEqual(delivered, ['a', 'b', 'c', 'f'])
    assert.deepEqual(sent.map(m => m.text), ['a', 'b', 'c', 'f'])
    controller.abort()
    await outbox.settled()
  })

  it('an ack that does not follow the messages as sent marks nothing delivered: they stay in the outbox', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const store = new ChatStore(new MemoryDatastore())
    const delivered: string[] = []
    const failed = Promise.withResolvers<Error>()
    const controller = new AbortController()
    const outbox = new Outbox({
      store,
      dm: () => ({
        ...fakeDm([]),
        async send (_peer, messages: DirectMessage[], options: SendOptions = {}) {
          // the acks name the messages in another order than they were given
          await options.onAck?.(messages.map(m => m.id).reverse())?.catch((err: Error) => { failed.resolve(err); throw err })
        }
      }),
      reach: { suspect () {} } as unknown as Reach,
      protocol: '/test',
      signal: controller.signal,
      onDelivered: (m) => { delivered.push(m.text) },
      onUnreachable: () => {}
    })
    await Promise.all([outbox.send(peer, 'one'), outbox.send(peer, 'two')])
    assert.match((await failed.promise).message, /acks do not follow/)
    await outbox.settled()
    assert.deepEqual(delivered, [])
    assert.deepEqual((await store.outbox(peer)).map(m => m.text), ['one', 'two'])
    controller.abort()
  })
})
