/**
 * Integration: real chat nodes on loopback with the real bootstrap node between them.
 */
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { eachTestWithBootstrap, startChat, tempDir, until, waitFor, WEBRTC } from './fixtures.js'
import type { Chat, ConnectionSummary, IncomingMessage, StoredMessage, Unreachable } from '../src/index.js'
import { internals } from '../src/internals.js'

describe('chat between two nodes', function () {
  this.timeout(60_000)
  const env = eachTestWithBootstrap()

  async function befriend (a: Chat, b: Chat): Promise<void> {
    await a.addContact(b.peerId.toString(), 'bob')
    await b.addContact(a.peerId.toString(), 'alice')
  }

  async function sendAndDeliver (from: Chat, to: Chat, ref: string, text: string): Promise<{ sent: StoredMessage, got: IncomingMessage }> {
    const got = waitFor<IncomingMessage>(to, 'message', m => m.text === text)
    const sent = await from.send(ref, text)
    const delivered = waitFor<StoredMessage>(from, 'delivered', m => m.id === sent.id)
    const [message] = await Promise.all([got, delivered])
    return { sent, got: message }
  }

  it('finds a contact by peer ID through the DHT when both know only the bootstrap node', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    assert.equal(a.libp2p.getConnections(b.peerId).length, 0)
    // the only address either could know of the other comes from the network
    assert.equal((await a.libp2p.peerStore.has(b.peerId)), false)
    await befriend(a, b)
    const { sent, got } = await sendAndDeliver(a, b, 'bob', 'hello through the DHT')
    assert.equal(got.peer, a.peerId.toString())
    assert.equal(got.id, sent.id)
    assert.equal(got.name, 'alice')
    assert.equal(got.timestamp, sent.timestamp)
    const history = await a.history('bob')
    assert.equal(history.length, 1)
    assert.equal(history[0].state, 'delivered')
  })

  it('tells of connection changes: a \'connections\' event and connections(), each peer with its path', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = await startChat({ bootstrapNode: env.boot })
    const bob = b.peerId.toString()
    assert.equal(a.connections().peers.some(p => p.peerId === bob), false)
    const up = waitFor<ConnectionSummary>(a, 'connections', s => s.peers.some(p => p.peerId === bob))
    await a.addContact(bob, 'bob')
    const summary = await up
    assert.equal(summary.peers.find(p => p.peerId === bob)?.path, 'direct', 'loopback TCP is direct')
    const now = a.connections()
    assert.deepEqual(now.peers.map(p => p.peerId).sort(), a.libp2p.getConnections().map(c => c.remotePeer.toString()).filter((p, i, all) => all.indexOf(p) === i).sort())
    assert.equal(now.connections, a.libp2p.getConnections().length)
    assert.equal(now.relayed, 0)
    assert.equal(now.reachable, a.addresses().some(addr => addr.includes('/p2p-circuit')))
    const down = waitFor<ConnectionSummary>(a, 'connections', s => !s.peers.some(p => p.peerId === bob))
    await b.stop()
    await down
    assert.equal(a.connections().peers.some(p => p.peerId === bob), false)
  })

  it('delivers through the relay when the recipient has no direct address', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, listen: [], webrtc: false }))
    // b can only be reached through its reservation on the bootstrap node
    await waitFor(b.libp2p, 'self:peer:update', () => b.addresses().some(addr => addr.includes('/p2p-circuit')))
    assert.ok(b.addresses().every(addr => addr.includes('/p2p-circuit')), `b has a direct address: ${b.addresses().join(' ')}`)
    const opened: string[] = []
    a.libp2p.addEventListener('connection:open', (evt) => {
      if (evt.detail.remotePeer.equals(b.peerId)) opened.push(evt.detail.remoteAddr.toString())
    })
    await a.addContact(b.peerId.toString(), 'bob')
    await sendAndDeliver(a, b, 'bob', 'hello through the relay')
    // the first way in was the relay (DCUtR may add a direct connection that b dials afterwards)
    assert.ok(opened.length > 0)
    assert.ok(opened[0].includes('/p2p-circuit'), `first connection not relayed: ${opened[0]}`)
    // and the answer goes back the same way
    await sendAndDeliver(b, a, a.peerId.toString(), 'and back')
  })

  it('connects two relay-only peers directly over WebRTC, signalled through the relay', async function () {
    if (!WEBRTC) this.skip() // needs the test network namespace: WebRTC skips loopback
    // neither peer has a dialable address: both behave as if behind NATs
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot, listen: [], iceServers: [] }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, listen: [], iceServers: [] }))
    await waitFor(b.libp2p, 'self:peer:update', () => b.addresses().some(addr => addr.includes('/webrtc')))
    await a.addContact(b.peerId.toString(), 'bob')
    await sendAndDeliver(a, b, 'bob', 'over the relay first')
    const direct = a.libp2p.getConnections(b.peerId).find(c => c.limits == null) ??
      (await waitFor(a.libp2p, 'connection:open', (c: any) => c.remotePeer.equals(b.peerId) && c.limits == null))
    assert.ok(direct.remoteAddr.toString().includes('/webrtc'), direct.remoteAddr.toString())
    await sendAndDeliver(a, b, 'bob', 'then directly')
  })

  it('acknowledges each message and shows a duplicate only once', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await befriend(a, b)
    const { sent } = await sendAndDeliver(a, b, 'bob', 'once only')
    let shown = 0
    b.addEventListener('message', () => { shown++ })
    // the same message again, as a sender does after a lost ack: acknowledged again, shown never
    const acks: string[] = []
    await a.libp2p.services.dm.send(b.peerId, [{ id: sent.id, timestamp: sent.timestamp, text: sent.text, seq: sent.seq }], {
      onAck: (ids) => { acks.push(...ids) }
    })
    assert.deepEqual(acks, [sent.id])
    await sendAndDeliver(a, b, 'bob', 'the next one')
    assert.equal(shown, 1)
    const history = await b.history('alice')
    assert.deepEqual(history.map(m => m.text), ['once only', 'the next one'])
  })

  it('keeps the peer ID, contacts and history across a restart', async () => {
    const dirA = env.cleanup.dir(await tempDir())
    let a = await startChat({ bootstrapNode: env.boot, dataDir: dirA })
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await befriend(a, b)
    await sendAndDeliver(a, b, 'bob', 'before restart')
    await sendAndDeliver(b, a, 'alice', 'reply before restart')
    const id = a.peerId.toString()
    await a.stop()

    a = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirA }))
    assert.equal(a.peerId.toString(), id)
    assert.deepEqual((await a.contacts()).map(c => c.name), ['bob'])
    const history = await a.history('bob')
    assert.deepEqual(history.map(m => [m.direction, m.text, m.state]), [
      ['out', 'before restart', 'delivered'],
      ['in', 'reply before restart', undefined]
    ])
    await sendAndDeliver(a, b, 'bob', 'after restart')
  })

  it('delivers from the outbox when the recipient comes online later', async () => {
    const dirB = env.cleanup.dir(await tempDir())
    let b = await startChat({ bootstrapNode: env.boot, dataDir: dirB })
    const bId = b.peerId.toString()
    await b.stop()

    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await a.addContact(bId, 'bob')
    const unreachable = waitFor<Unreachable>(a, 'unreachable', u => u.peerId === bId)
    const sent = await a.send('bob', 'waiting for you')
    const u = await unreachable
    assert.equal(u.pending, 1)
    // b was online once, so the DHT or the peer store may still hold an address of it
    assert.ok(['not-found', 'not-dialable'].includes(u.why), u.why)
    assert.equal((await a.history('bob'))[0].state, 'pending')

    const delivered = waitFor<StoredMessage>(a, 'delivered', m => m.id === sent.id)
    b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirB }))
    const got = await waitFor<IncomingMessage>(b, 'message', m => m.id === sent.id)
    assert.equal(got.text, 'waiting for you')
    await delivered
    assert.equal((await a.history('bob'))[0].state, 'delivered')
    assert.deepEqual(await internals(a).store.outboxPeers(), [])
  })

  it('delivers from the outbox after the sender restarts', async () => {
    const dirA = env.cleanup.dir(await tempDir())
    const dirB = env.cleanup.dir(await tempDir())
    let b = await startChat({ bootstrapNode: env.boot, dataDir: dirB })
    const bId = b.peerId.toString()
    await b.stop()

    let a = await startChat({ bootstrapNode: env.boot, dataDir: dirA })
    await a.addContact(bId, 'bob')
    const sent = await a.send('bob', 'sent before a restart')
    await a.stop() // the message is only in a's outbox on disk now

    b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirB }))
    const got = waitFor<IncomingMessage>(b, 'message', m => m.id === sent.id)
    a = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirA }))
    const delivered = waitFor<StoredMessage>(a, 'delivered', m => m.id === sent.id)
    assert.equal((await got).text, 'sent before a restart')
    await delivered
  })

  it('shows presence: online when connected, offline with last seen after', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = await startChat({ bootstrapNode: env.boot })
    await a.addContact(b.peerId.toString(), 'bob')
    const online = waitFor(a, 'presence', (p: any) => p.name === 'bob' && p.online === true)
    await a.libp2p.dial(multiaddr(b.addresses()[0]))
    await online
    assert.equal((await a.contacts())[0].online, true)
    const offline = waitFor(a, 'presence', (p: any) => p.name === 'bob' && p.online === false)
    await b.stop()
    await offline
    const [bob] = await a.contacts()
    assert.equal(bob.online, false)
    assert.ok(bob.lastSeen != null && Date.now() - bob.lastSeen < 60_000)
  })

  describe('order', () => {
    /** Collects the texts `to` shows from `from`, in the order shown. */
    function shownBy (to: Chat, from: Chat): string[] {
      const shown: string[] = []
      to.addEventListener('message', (evt) => { if (evt.detail.peer === from.peerId.toString()) shown.push(evt.detail.text) })
      return shown
    }

    async function untilShown (shown: string[], n: number): Promise<void> {
      await until(() => shown.length >= n, 50_000, `${n} messages shown`)
    }

    const texts = (from: number, n: number, tag = 'm'): string[] => Array.from({ length: n }, (_, i) => `${tag} ${from + i}`)

    it('shows a burst of 3,000 messages in the order they were sent, live and in both histories', async () => {
      const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      await befriend(a, b)
      const shown = shownBy(b, a)
      const burst = texts(0, 3000)
      const sent = await Promise.all(burst.map(async t => await a.send('bob', t)))
      assert.deepEqual(sent.map(m => m.seq), burst.map((_, i) => i + 1), 'numbered in send order')
      await untilShown(shown, burst.length)
      assert.deepEqual(shown, burst)
      assert.deepEqual((await b.history('alice', 5000)).map(m => m.text), burst)
      await until(async () => (await internals(a).store.outboxPeers()).length === 0, 30_000, 'every message acknowledged')
      const mine = await a.history('bob', 5000)
      assert.deepEqual(mine.map(m => m.text), burst)
    })

    it('keeps the order when the sender restarts in the middle of a burst', async () => {
      const dirA = env.cleanup.dir(await tempDir())
      let a = await startChat({ bootstrapNode: env.boot, dataDir: dirA })
      const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      await befriend(a, b)
      const shown = shownBy(b, a)
      const first = texts(0, 1500)
      await Promise.all(first.map(async t => await a.send('bob', t)))
      await a.stop() // some delivered, the rest waits in the outbox on disk
      a = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirA }))
      const second = texts(1500, 500)
      await Promise.all(second.map(async t => await a.send('bob', t)))
      await untilShown(shown, 2000)
      assert.deepEqual(shown, [...first, ...second])
      assert.deepEqual((await b.history('alice', 5000)).map(m => m.text), [...first, ...second])
    })

    it('keeps the order when the recipient restarts in the middle of a burst', async () => {
      const dirB = env.cleanup.dir(await tempDir())
      const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
      let b = await startChat({ bootstrapNode: env.boot, dataDir: dirB })
      await befriend(a, b)
      let shown = shownBy(b, a)
      const all = texts(0, 2000)
      await Promise.all(all.map(async t => await a.send('bob', t)))
      await untilShown(shown, 1)
      await b.stop()
      const before = [...shown]
      b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirB }))
      shown = shownBy(b, a)
      await untilShown(shown, all.length - before.length)
      assert.deepEqual([...before, ...shown], all, 'each shown once, in order, across the restart')
      assert.deepEqual((await b.history('alice', 5000)).map(m => m.text), all)
    })
  })

  it('refuses bad input from the user with one clear error', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await assert.rejects(a.addContact('12D3KooWnotapeerid'), { name: 'InvalidPeerIdError' })
    await assert.rejects(a.addContact(a.peerId.toString()), { name: 'InvalidInputError' })
    await a.addContact(b.peerId.toString(), 'bob')
    await assert.rejects(a.addContact(b.peerId.toString(), 'bobby'), { name: 'DuplicateContactError' })
    await assert.rejects(a.send('nobody', 'hi'), { name: 'UnknownContactError' })
    await assert.rejects(a.send('bob', 'x'.repeat(64 * 1024 + 1)), { name: 'MessageTooLongError' })
    await assert.rejects(a.send('bob', '   '), { name: 'InvalidInputError' })
    // a message of exactly the limit goes through
    await sendAndDeliver(a, b, 'bob', 'é'.repeat(32 * 1024))
    assert.equal((await a.history('bob')).length, 1)
  })
})
