/**
 * Diagnostics: the NAT probe against STUN responders that answer as a cone or a symmetric NAT would, and
 * Chat.diagnose() with real nodes: a connected contact, one that went offline, one never seen.
 */
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { stun } from '../src/node/stun.js'
import { natReport, probeNat } from '../src/node/nat-probe.js'
import { stunTargets } from '../src/node/diagnose.js'
import { eachTestWithBootstrap, startBootstrap, startChat, until } from './fixtures.js'
import { internals } from '../src/internals.js'
import type { Socket } from 'node:dgram'

/** A STUN responder on loopback that says it saw the asker at `mapped()` (what a NAT in between would make of it). */
async function fakeStun (mapped: () => [string, number]): Promise<{ target: string, close: () => void }> {
  const socket: Socket = createSocket('udp4')
  socket.on('message', (msg, rinfo) => {
    const req = stun.decode(msg)
    const res = stun.createMessage(stun.constants.STUN_BINDING_RESPONSE, req.transactionId)
    res.addXorAddress(...mapped())
    socket.send(res.toBuffer(), rinfo.port, rinfo.address)
  })
  await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
  return { target: `127.0.0.1:${socket.address().port}`, close: () => { socket.close() } }
}

describe('diagnostics', function () {
  this.timeout(60_000)

  describe('the NAT probe', () => {
    it('tells a cone NAT (one mapping for both servers) from a symmetric one (a mapping per server)', async () => {
      let port = 40000
      const cone = [await fakeStun(() => ['203.0.113.11', 40000]), await fakeStun(() => ['203.0.113.11', 40000])]
      const symmetric = [await fakeStun(() => ['203.0.113.12', port++]), await fakeStun(() => ['203.0.113.12', port++])]
      try {
        const c = await probeNat(cone.map(s => s.target))
        assert.equal(c.mapping, 'cone', c.summary)
        assert.deepEqual(c.seen.map(s => s.mapped), ['203.0.113.11:40000', '203.0.113.11:40000'])
        const s = await probeNat(symmetric.map(x => x.target))
        assert.equal(s.mapping, 'symmetric', s.summary)
        assert.match(s.summary, /TURN/)
      } finally {
        for (const x of [...cone, ...symmetric]) x.close()
      }
    })

    it('says no NAT when a real STUN responder sees our own address, and unknown when nobody answers', async () => {
      const boot = await startBootstrap()
      try {
        const url = boot.stunUrl
        assert.ok(url != null)
        const open = await probeNat(stunTargets([{ urls: url }]))
        assert.equal(open.mapping, 'open', open.summary)
        assert.match(open.seen[0].mapped ?? '', /^127\.0\.0\.1:\d+$/)
      } finally {
        await boot.stop()
      }
      // a port nobody answers on
      const silent = createSocket('udp4')
      await new Promise<void>(resolve => { silent.bind(0, '127.0.0.1', resolve) })
      const none = await probeNat([`127.0.0.1:${silent.address().port}`], 300)
      silent.close()
      assert.equal(none.mapping, 'unknown')
      assert.match(none.seen[0].error ?? '', /no answer/)
      assert.match(none.summary, /UDP may be blocked/)
    })

    it('asks the STUN servers and the TURN servers over UDP (coturn answers STUN), not TURN over TCP', () => {
      assert.deepEqual(stunTargets([
        { urls: 'stun:203.0.113.1:3478' },
        { urls: ['turn:203.0.113.1:3479?transport=udp', 'turn:203.0.113.1:3479?transport=tcp'], username: 'u', credential: 'c' },
        { urls: 'stun:boot.example.org' }
      ]), ['203.0.113.1:3478', '203.0.113.1:3479', 'boot.example.org:3478'])
      assert.equal(natReport([], []).mapping, 'unknown')
    })
  })

  describe('Chat.diagnose', () => {
    const env = eachTestWithBootstrap()

    it('says how a contact is reached now, and why one who went offline or was never online cannot be', async () => {
      // the STUN server the terminal client and the web app take by default: the bootstrap node's
      const alice = env.cleanup.add(await startChat({ bootstrapNode: env.boot, iceServers: [{ urls: env.boot.stunUrl ?? '' }] }))
      const bob = await startChat({ bootstrapNode: env.boot })
      await alice.addContact(bob.peerId.toString(), 'bob')
      await alice.send('bob', 'hello')
      await internals(alice).reach.connect(bob.peerId)

      const now = await alice.diagnose('bob')
      assert.equal(now.peer?.name, 'bob')
      assert.equal(now.peer?.connections[0].path, 'direct')
      assert.match(now.peer?.summary ?? '', /^connected to bob directly/)
      assert.equal(now.bootstrap.length, 1)
      assert.equal(now.bootstrap[0].connected, true)
      assert.equal(now.nat.mapping, 'open', now.nat.summary)
      assert.deepEqual(now.advice, [])
      // the reservation on the bootstrap node, and when it is renewed
      await until(() => alice.libp2p.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 20_000, 'a relay reservation')
      const reserved = await alice.diagnose()
      assert.equal(reserved.reservations.length, 1, JSON.stringify(reserved.reservations))
      assert.equal(reserved.reservations[0].relay, env.boot.peerId.toString())
      assert.ok(reserved.reservations[0].renews > Date.now() && reserved.reservations[0].renews < reserved.reservations[0].expires)

      // bob goes offline: a fresh attempt, each step with why it failed
      await bob.stop()
      await until(() => !alice.isOnline(bob.peerId.toString()), 10_000, 'alice to see bob gone')
      const gone = await alice.diagnose('bob')
      assert.deepEqual(gone.peer?.connections, [])
      const attempt = gone.peer?.lastAttempt
      assert.ok(attempt != null)
      assert.equal(attempt.outcome, 'unreachable', JSON.stringify(attempt))
      assert.ok(attempt.steps.some(s => s.what === 'dial' && !s.ok && /refused: nothing listens there/.test(s.detail)), JSON.stringify(attempt.steps))
      assert.match(gone.peer?.summary ?? '', /^bob was found but could not be reached: refused: nothing listens there/)

      // someone the network has never seen
      const stranger = await startChat({ bootstrapNode: env.boot, listen: [] })
      const id = stranger.peerId.toString()
      await stranger.stop()
      const never = await alice.diagnose(id)
      assert.equal(never.peer?.lastAttempt?.outcome, 'not found', JSON.stringify(never.peer?.lastAttempt))
      assert.ok(never.peer?.lastAttempt?.steps.some(s => s.what === 'lookup' && !s.ok))
      assert.match(never.peer?.summary ?? '', /was not found: they are offline/)
    })

    it('says what is missing when no bootstrap node is configured', async () => {
      const lonely = env.cleanup.add(await startChat({}))
      const d = await lonely.diagnose()
      assert.equal(d.peer, undefined)
      assert.ok(d.advice.some(a => a.startsWith('No bootstrap node is configured')), d.advice.join('\n'))
      assert.equal(d.nat.mapping, 'unknown')
    })
  })
})
