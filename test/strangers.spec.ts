/**
 * Message requests and blocking: the policy alone (over a memory store), then between real nodes.
 */
import assert from 'node:assert/strict'
import { MemoryDatastore } from 'datastore-core'
import { MAX_OFFER_BYTES, MAX_REQUESTS, MAX_TEXT_BYTES, REQUEST_MAX_MESSAGES, REQUEST_MAX_SIZE } from '../src/constants.js'
import { Strangers } from '../src/direct/strangers.js'
import { ChatStore } from '../src/store/index.js'
import { eachTestWithBootstrap, startChat, tempDir, until, waitFor } from './fixtures.js'
import type { IncomingMessage } from '../src/index.js'

const texts = (n: number, prefix = 'm'): Array<{ text: string }> => Array.from({ length: n }, (_, i) => ({ text: `${prefix}${i}` }))
const strangerId = (i: number): string => `12D3KooWstranger${i}`

describe('strangers', function () {
  describe('the policy', () => {
    let store: ChatStore
    let contacts: Set<string>
    let strangers: Strangers

    beforeEach(async () => {
      store = new ChatStore(new MemoryDatastore())
      contacts = new Set(['12D3KooWfriend'])
      strangers = new Strangers(store, peer => contacts.has(peer))
      await strangers.load()
    })

    it('takes everything from a contact', () => {
      assert.equal(strangers.admit('12D3KooWfriend', texts(500)), 500)
      assert.deepEqual(strangers.requests(), [])
    })

    it('holds a stranger to one request of bounded size, across batches', () => {
      assert.equal(strangers.admit(strangerId(1), texts(REQUEST_MAX_MESSAGES - 5)), REQUEST_MAX_MESSAGES - 5)
      assert.equal(strangers.admit(strangerId(1), texts(10)), 5)
      assert.equal(strangers.admit(strangerId(1), texts(1)), 0)
      assert.equal(strangers.stats.deferred, 6)
      const [request] = strangers.requests()
      assert.equal(request.peerId, strangerId(1))
      assert.equal(request.messages, REQUEST_MAX_MESSAGES)
      // by size too: one message of the longest size fits, a second does not
      const longest = { text: 'x'.repeat(MAX_TEXT_BYTES), file: new Uint8Array(MAX_OFFER_BYTES) }
      assert.equal(strangers.admit(strangerId(2), [longest, { text: 'y' }]), 1)
    })

    it('counts file offers (a picture\'s thumbnail) in a request\'s size, not only text', () => {
      const picture = { text: '', file: new Uint8Array(MAX_OFFER_BYTES) }
      const fit = Math.floor(REQUEST_MAX_SIZE / MAX_OFFER_BYTES)
      assert.ok(fit < REQUEST_MAX_MESSAGES, 'the size, not the count, is what stops them')
      assert.equal(strangers.admit(strangerId(3), Array.from({ length: REQUEST_MAX_MESSAGES }, () => picture)), fit)
      assert.equal(strangers.requests().find(r => r.peerId === strangerId(3))?.chars, fit * MAX_OFFER_BYTES)
    })

    it('takes at most MAX_REQUESTS open requests; an open one still takes more', async () => {
      // requests stored earlier
      for (let i = 0; i < MAX_REQUESTS; i++) {
        const peer = `12D3KooWmany${i}`
        const request = { peerId: peer, firstAt: Date.now(), lastAt: Date.now(), messages: 1, chars: 2 }
        await store.addIncoming(peer, [{ id: i.toString(16).padStart(32, '0'), peer, direction: 'in', text: 'hi', timestamp: Date.now() }], request)
      }
      const full = new Strangers(store, () => false)
      await full.load()
      assert.equal(full.requests().length, MAX_REQUESTS)
      assert.equal(full.admit('12D3KooWonetoomany', texts(1)), 0)
      assert.equal(full.stats.deferred, 1)
      assert.equal(full.admit('12D3KooWmany0', texts(1)), 1, 'an open request is not a new one')
    })

    it('refuses a blocked peer, forgets the conversation, and keeps the block across a restart', async () => {
      const peer = strangerId(7)
      assert.equal(strangers.admit(peer, texts(1)), 1)
      const r = strangers.record(peer)
      assert.ok(r != null)
      await store.addIncoming(peer, [{ id: 'a'.repeat(32), peer, direction: 'in', text: 'buy now', timestamp: Date.now() }], r)
      assert.equal((await store.history(peer)).length, 1)
      await strangers.block(peer)
      assert.equal(strangers.admit(peer, texts(3)), 0)
      assert.equal(strangers.stats.blocked, 3)
      assert.deepEqual(strangers.requests(), [])
      assert.deepEqual(await store.history(peer), [])
      const again = new Strangers(store, () => false)
      await again.load()
      assert.equal(again.isBlocked(peer), true)
      assert.deepEqual(again.requests(), [])
      assert.equal(await again.unblock(peer), true)
      assert.equal(again.admit(peer, texts(1)), 1)
    })

    it('keeps a request across a restart, and drops it once the peer is a contact', async () => {
      const peer = strangerId(3)
      assert.equal(strangers.admit(peer, texts(2)), 2)
      const r = strangers.record(peer)
      assert.ok(r != null)
      await store.addIncoming(peer, [0, 1].map(i => ({ id: String(i).repeat(32), peer, direction: 'in' as const, text: `t${i}`, timestamp: Date.now() })), r)
      let again = new Strangers(store, () => false)
      await again.load()
      assert.deepEqual(again.requests().map(x => [x.peerId, x.messages]), [[peer, 2]])
      // accepted just before a crash: the contact was written, the request not yet deleted
      contacts.add(peer)
      again = new Strangers(store, p => contacts.has(p))
      await again.load()
      assert.deepEqual(again.requests(), [])
      assert.deepEqual(await store.listRequests(), [])
    })
  })

  describe('between real nodes', function () {
    this.timeout(60_000)
    const env = eachTestWithBootstrap()

    it('keeps a stranger\'s messages apart as a request, holds back what does not fit, and delivers it in order once accepted', async () => {
      const dir = env.cleanup.dir(await tempDir())
      const alice = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      let bob = await startChat({ bootstrapNode: env.boot, dataDir: dir })
      await alice.addContact(bob.peerId.toString(), 'bob')
      const n = REQUEST_MAX_MESSAGES + 10
      const got: IncomingMessage[] = []
      bob.addEventListener('message', (evt) => { got.push(evt.detail) })
      const delivered = new Set<string>()
      alice.addEventListener('delivered', (evt) => { delivered.add(evt.detail.id) })
      for (let i = 0; i < n; i++) await alice.send('bob', `hello ${i}`)
      await until(() => got.length === REQUEST_MAX_MESSAGES && delivered.size === REQUEST_MAX_MESSAGES, 20_000, 'the request to fill')
      assert.ok(got.every(m => m.request === true && m.name == null))
      assert.deepEqual(bob.requests().map(r => [r.peerId, r.messages]), [[alice.peerId.toString(), REQUEST_MAX_MESSAGES]])
      // the rest waits on alice's side, undelivered but not lost, and is tried again
      const refused = bob.libp2p.services.dm.stats.refused
      await until(() => bob.libp2p.services.dm.stats.refused > refused, 20_000, 'alice to try the rest again')
      assert.equal(delivered.size, REQUEST_MAX_MESSAGES)
      assert.equal((await alice.history('bob', 100)).filter(m => m.state === 'pending').length, 10)

      // the request survives a restart of bob's client
      await bob.stop()
      bob = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dir }))
      assert.deepEqual(bob.requests().map(r => r.peerId), [alice.peerId.toString()])
      got.length = 0
      bob.addEventListener('message', (evt) => { got.push(evt.detail) })
      // accepted: the request is gone and the rest arrives, as a contact's messages
      await bob.addContact(alice.peerId.toString(), 'alice')
      assert.deepEqual(bob.requests(), [])
      await until(() => delivered.size === n, 30_000, 'the rest to be delivered once accepted')
      assert.ok(got.every(m => m.request == null && m.name === 'alice'))
      assert.deepEqual((await bob.history('alice', 100)).map(m => m.text), Array.from({ length: n }, (_, i) => `hello ${i}`))
    })

    it('blocks a peer: their connections are refused and the conversation forgotten, and contacts are unaffected', async () => {
      const alice = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      const bob = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      const carol = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      await alice.addContact(bob.peerId.toString(), 'bob')
      await carol.addContact(bob.peerId.toString(), 'bob')
      await bob.addContact(carol.peerId.toString(), 'carol')
      const first = waitFor<IncomingMessage>(bob, 'message', m => m.text === 'buy cheap watches')
      await alice.send('bob', 'buy cheap watches')
      await first
      assert.equal(bob.requests().length, 1)

      await bob.block(alice.peerId.toString())
      assert.deepEqual(bob.blocked(), [alice.peerId.toString()])
      assert.deepEqual(bob.requests(), [])
      assert.deepEqual(await bob.history(alice.peerId.toString()), [])
      await until(() => bob.libp2p.getConnections(alice.peerId).length === 0, 10_000, 'the blocked peer\'s connection to close')
      // alice cannot connect again: her dials end refused, her message waits on her side
      const refused = waitFor(alice, 'unreachable', u => u.peerId === bob.peerId.toString(), 20_000)
      await alice.send('bob', 'hello?')
      await refused
      assert.equal(bob.libp2p.getConnections(alice.peerId).length, 0)
      assert.equal((await bob.history(alice.peerId.toString())).length, 0)
      // a contact is not affected
      const fromCarol = waitFor<IncomingMessage>(bob, 'message', m => m.text === 'still here')
      await carol.send('bob', 'still here')
      assert.equal((await fromCarol).name, 'carol')

      // unblocked: alice's waiting message arrives, as a new request
      const later = waitFor<IncomingMessage>(bob, 'message', m => m.text === 'hello?', 30_000)
      assert.equal(await bob.unblock(alice.peerId.toString()), true)
      assert.equal((await later).request, true)
    })
  })
})
