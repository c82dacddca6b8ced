/**
 * Calls between real chat nodes on loopback (through the real bootstrap node), with a stand-in for the
 * media: the signalling protocol, the call states on both sides, timeouts, crossed calls, busy, the
 * history, a node without media (the terminal client), and hostile signalling frames.
 * The real media (RTCPeerConnection in Chromium) is tested in web-calls.spec.ts.
 */
import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { CallSignal, MAX_OFFERS_PER_MINUTE, noMediaPath } from '../src/calls/index.js'
import { CALL_MEDIA_BURST, CALL_PROTOCOL } from '../src/constants.js'
import { eachTestWithBootstrap, fakeMedia, startChat, until, waitFor } from './fixtures.js'
import type { FakeLog } from './fixtures.js'
import type { CallInfo, CallRecord, Chat, ChatInit, MediaFactory } from '../src/index.js'
import { internals } from '../src/internals.js'

const WAIT_MS = 20_000

describe('calls between two nodes', function () {
  this.timeout(60_000)
  const env = eachTestWithBootstrap()

  async function pair (a: Partial<ChatInit> = {}, b: Partial<ChatInit> = {}): Promise<[Chat, Chat]> {
    const alice = env.cleanup.add(await startChat({ bootstrapNode: env.boot, callMedia: fakeMedia(), ...a }))
    const bob = env.cleanup.add(await startChat({ bootstrapNode: env.boot, callMedia: fakeMedia(), ...b }))
    await alice.addContact(bob.peerId.toString(), 'bob')
    await bob.addContact(alice.peerId.toString(), 'alice')
    return [alice, bob]
  }

  const state = (s: CallInfo['state']) => (c: CallInfo) => c.state === s

  /** alice calls bob (voice), bob answers; resolves once alice's side of the call is `reached` */
  async function answered (alice: Chat, bob: Chat, reached: CallInfo['state']): Promise<CallInfo> {
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob', { video: false })
    await ringing
    const there = waitFor(alice, 'call', state(reached), WAIT_MS)
    await bob.accept(call.id)
    await there
    return call
  }
  const ended = async (chat: Chat, id: string): Promise<CallRecord> => await waitFor<CallRecord>(chat, 'call:ended', r => r.id === id, WAIT_MS)

  it('connects a call both ways, trickles candidates after the description, and hangs up on both sides', async () => {
    const aliceLog: FakeLog = { events: [], closed: 0 }
    const bobLog: FakeLog = { events: [], closed: 0 }
    const [alice, bob] = await pair({ callMedia: fakeMedia(aliceLog) }, { callMedia: fakeMedia(bobLog) })
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const heardRing = waitFor<CallInfo>(alice, 'call', state('ringing'), WAIT_MS)
    const call = await alice.call('bob', { video: true })
    assert.equal(call.direction, 'out')
    const incoming = await ringing
    assert.equal(incoming.id, call.id)
    assert.equal(incoming.peer, alice.peerId.toString())
    assert.equal(incoming.video, true)
    await heardRing

    const connected = Promise.all([waitFor(alice, 'call', state('connected'), WAIT_MS), waitFor(bob, 'call', state('connected'), WAIT_MS)])
    await bob.accept(call.id)
    await connected
    // the callee got the offer as sent, then the caller's candidates; never a candidate before a description
    assert.deepEqual(bobLog.events.slice(0, 4), ['media video=true', `offer v=0 offer of ${call.id}`, 'candidate candidate:1 1 udp 2122260223 10.77.0.1 5000 typ host', 'end of candidates'])
    assert.deepEqual(aliceLog.events.slice(0, 3), ['media video=true', `answer v=0 answer to ${call.id}`, 'candidate candidate:1 1 udp 2122260223 10.77.0.1 6000 typ host'])
    assert.equal(internals(alice).calls.get(call.id)?.state, 'connected')

    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await alice.hangup(call.id)
    const [mine, theirs] = await records
    assert.equal(mine.outcome, 'answered')
    assert.equal(theirs.outcome, 'answered')
    assert.ok(mine.connectedAt != null && theirs.connectedAt != null)
    assert.equal(mine.direction, 'out')
    assert.equal(theirs.direction, 'in')
    assert.equal(aliceLog.closed, 1)
    assert.equal(bobLog.closed, 1)
    assert.deepEqual(alice.calls(), [])
    assert.deepEqual(bob.calls(), [])
    // kept in the history of both
    assert.deepEqual((await alice.callHistory('bob')).map(r => [r.id, r.outcome]), [[call.id, 'answered']])
    assert.deepEqual((await bob.callHistory('alice')).map(r => [r.id, r.outcome]), [[call.id, 'answered']])
  })

  it('keeps a connected call\'s record in the store while it runs (a page that dies keeps it), replaced by the final one', async () => {
    const [alice, bob] = await pair()
    const reported: CallRecord[] = []
    alice.addEventListener('call:ended', (evt) => { reported.push(evt.detail) })
    internals(alice).calls.recordInterval = 100
    const call = await answered(alice, bob, 'connected')
    const stored = async (chat: Chat, peer: string): Promise<CallRecord[]> => (await chat.callHistory(peer)).filter(r => r.id === call.id)
    await until(async () => (await stored(alice, 'bob')).length > 0 && (await stored(bob, 'alice')).length > 0, WAIT_MS, 'the running call stored on both sides')
    const [running] = await stored(alice, 'bob')
    assert.equal(running.outcome, 'answered')
    assert.ok(running.connectedAt != null && running.endedAt >= running.connectedAt, JSON.stringify(running))
    assert.equal(internals(alice).calls.get(call.id)?.state, 'connected')
    assert.deepEqual(reported, [], 'not reported as ended')
    // while it runs, the record's end moves on
    await until(async () => (await stored(alice, 'bob'))[0].endedAt > running.endedAt, WAIT_MS, 'the running record refreshed')

    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await alice.hangup(call.id)
    const [mine] = await records
    assert.deepEqual(reported, [mine])
    assert.deepEqual(await alice.callHistory('bob'), [mine], 'one record, the final one')
    assert.deepEqual((await bob.callHistory('alice')).map(r => [r.id, r.outcome]), [[call.id, 'answered']])
  })

  it('tells the other side when the camera or the microphone goes off or on', async () => {
    const aliceLog: FakeLog = { events: [], closed: 0, sessions: [] }
    const bobLog: FakeLog = { events: [], closed: 0, sessions: [] }
    const [alice, bob] = await pair({ callMedia: fakeMedia(aliceLog) }, { callMedia: fakeMedia(bobLog) })
    // each learns the other's state from the offer and the answer
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob', { video: true })
    const incoming = await ringing
    assert.deepEqual([incoming.remoteCamera, incoming.remoteMic], [true, true])
    const connected = Promise.all([waitFor(alice, 'call', state('connected'), WAIT_MS), waitFor(bob, 'call', state('connected'), WAIT_MS)])
    await bob.accept(call.id, { video: false })
    await connected
    const info = internals(alice).calls.get(call.id)
    assert.deepEqual([info?.remoteCamera, info?.remoteMic], [false, true], 'bob answered without his camera')

    const [aliceMedia] = aliceLog.sessions ?? []
    const [bobMedia] = bobLog.sessions ?? []
    const sees = async (chat: Chat, camera: boolean, mic: boolean): Promise<CallInfo> =>
      await waitFor<CallInfo>(chat, 'call', c => c.id === call.id && c.remoteCamera === camera && c.remoteMic === mic, WAIT_MS)
    let seen = sees(bob, true, false)
    aliceMedia.sending({ camera: true, mic: false })
    await seen
    seen = sees(bob, false, false)
    aliceMedia.sending({ camera: false, mic: false })
    await seen
    seen = sees(alice, true, true)
    bobMedia.sending({ camera: true, mic: true })
    await seen
    // the same state again says nothing; a burst of changes goes out as at most two frames, ending with the last state
    const stats = bob.libp2p.services.calls.stats
    const before = stats.received
    aliceMedia.sending({ camera: false, mic: false })
    seen = sees(bob, true, true)
    for (let i = 1; i < 50; i++) aliceMedia.sending({ camera: i % 2 === 0, mic: i % 3 === 0 })
    aliceMedia.sending({ camera: true, mic: true })
    await seen
    assert.ok(stats.received - before <= 2, `${stats.received - before} frames for a burst of changes`)
    assert.equal(internals(alice).calls.get(call.id)?.state, 'connected')
    assert.equal(internals(bob).calls.get(call.id)?.state, 'connected')
  })

  it('sends no media state to an older client (its offer said none), which would refuse the frame', async () => {
    const bobLog: FakeLog = { events: [], closed: 0, sessions: [] }
    const [alice, bob] = await pair({}, { callMedia: fakeMedia(bobLog) })
    const connection = await internals(alice).reach.connect(bob.peerId)
    const lp = lpStream(await connection.newStream(CALL_PROTOCOL))
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    await lp.write(CallSignal.encode({ callId: crypto.getRandomValues(new Uint8Array(16)), type: CallSignal.Type.OFFER, sdp: 'v=0 an older client', video: false, reason: CallSignal.Reason.NORMAL }))
    const incoming = await ringing
    assert.equal(incoming.remoteCamera, undefined)
    await bob.accept(incoming.id)
    bobLog.sessions?.[0].sending({ camera: false, mic: false })
    await bob.hangup(incoming.id)
    const types: CallSignal.Type[] = []
    while (types.at(-1) !== CallSignal.Type.HANGUP) types.push(CallSignal.decode(await lp.read()).type)
    assert.ok(!types.includes(CallSignal.Type.MEDIA), types.join())
  })

  it('refuses media state frames that come too fast or say nothing, and the call goes on', async () => {
    const [alice, bob] = await pair()
    const call = await answered(alice, bob, 'connected')
    const connection = await internals(alice).reach.connect(bob.peerId)
    const stats = bob.libp2p.services.calls.stats
    const callId = Uint8Array.from(Buffer.from(call.id, 'hex'))
    const media = (camera: boolean): Uint8Array => CallSignal.encode({ callId, type: CallSignal.Type.MEDIA, video: false, reason: CallSignal.Reason.NORMAL, media: { camera, mic: true } })
    await lpStream(await connection.newStream(CALL_PROTOCOL)).write(CallSignal.encode({ callId, type: CallSignal.Type.MEDIA, video: false, reason: CallSignal.Reason.NORMAL }))
    await until(() => stats.malformed === 1, WAIT_MS, 'a media frame without a state counted as malformed')
    const before = stats.received
    const lp = lpStream(await connection.newStream(CALL_PROTOCOL))
    for (let i = 0; i <= CALL_MEDIA_BURST; i++) await lp.write(media(i % 2 === 1)).catch(() => {})
    await until(() => stats.malformed === 2, WAIT_MS, 'a flood of media frames refused')
    assert.equal(stats.received - before, CALL_MEDIA_BURST)
    const info = internals(bob).calls.get(call.id)
    assert.deepEqual([info?.state, info?.remoteCamera], ['connected', true], 'the last state taken')
  })

  it('ends the call on both sides when the callee hangs up', async () => {
    const [alice, bob] = await pair()
    const call = await answered(alice, bob, 'connected')
    // bob's media may connect a moment after alice's (a call hung up while connecting is a failed one)
    await until(() => internals(bob).calls.get(call.id)?.state === 'connected', WAIT_MS, 'bob connected too')
    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await bob.hangup(call.id)
    assert.deepEqual((await records).map(r => r.outcome), ['answered', 'answered'])
  })

  it('a call hung up while it was still connecting is kept as failed on both sides, not as answered', async () => {
    // media that never connects (ICE that never finds a path)
    const stuck = (): MediaFactory => async (call, events, options) => await fakeMedia()(call, { ...events, connected: () => {} }, options)
    const [alice, bob] = await pair({ callMedia: stuck() }, { callMedia: stuck() })
    const call = await answered(alice, bob, 'connecting')
    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await alice.hangup(call.id)
    const [mine, theirs] = await records
    assert.deepEqual([mine.outcome, mine.reason], ['failed', 'you hung up before it connected'])
    assert.deepEqual([theirs.outcome, theirs.reason], ['failed', 'they hung up before it connected'])
    assert.equal(mine.connectedAt, undefined)
  })

  it('a call whose media finds no path says on both sides what would help: a TURN server (--turn), unless there was one', async () => {
    // media whose ICE finds no path: it fails as rtc.ts does, with noMediaPath() of the ICE servers it was given
    const noPath = (fail: boolean): MediaFactory => async (call, events, options) =>
      await fakeMedia()(call, { ...events, connected: () => { if (fail) events.failed(noMediaPath(options.iceServers)) } }, options)
    const turn = [{ urls: 'stun:203.0.113.9:3478' }, { urls: ['turn:203.0.113.9:3479?transport=udp'], username: 'u', credential: 'c' }]
    for (const iceServers of [undefined, turn]) {
      const [alice, bob] = await pair({ callMedia: noPath(true), iceServers }, { callMedia: noPath(false), iceServers })
      const records = Promise.all([waitFor<CallRecord>(alice, 'call:ended', () => true, WAIT_MS), waitFor<CallRecord>(bob, 'call:ended', () => true, WAIT_MS)])
      await answered(alice, bob, 'connecting')
      const [mine, theirs] = await records
      assert.deepEqual([mine.outcome, theirs.outcome], ['failed', 'failed'])
      assert.equal(mine.reason, noMediaPath(iceServers), 'the side whose ICE failed')
      assert.equal(theirs.reason, noMediaPath(iceServers), 'the other side, told FAILED before any media flowed')
      assert.equal(/--turn/.test(mine.reason ?? ''), iceServers == null)
    }
    // nor does the connect timeout blame anything else
    const stuck = (): MediaFactory => async (call, events, options) => await fakeMedia()(call, { ...events, connected: () => {} }, options)
    const [alice, bob] = await pair({ callMedia: stuck() }, { callMedia: stuck() })
    internals(alice).calls.connectTimeout = 200
    const call = await answered(alice, bob, 'connecting')
    assert.match((await ended(alice, call.id)).reason ?? '', /no TURN server to relay the call \(a bootstrap node runs one with --turn\)/)
  })

  it('a callee whose microphone cannot start says so to the caller, not that no media path exists', async () => {
    // the camera and microphone refused when bob answers (the media factory fails), and later in a call
    // (the devices fail after the media started, as rtc.ts reports a refused getUserMedia)
    const refused: MediaFactory = async () => { throw new Error('Permission denied') }
    const lateRefusal: MediaFactory = async (call, events, options) => {
      const session = await fakeMedia()(call, events, options)
      setTimeout(() => { events.failed('the microphone is not allowed', true) }, 0)
      return session
    }
    for (const callMedia of [refused, lateRefusal]) {
      const [alice, bob] = await pair({}, { callMedia })
      const records = Promise.all([waitFor<CallRecord>(alice, 'call:ended', () => true, WAIT_MS), waitFor<CallRecord>(bob, 'call:ended', () => true, WAIT_MS)])
      const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
      const call = await alice.call('bob', { video: false })
      await ringing
      await bob.accept(call.id).catch(() => {})
      const [mine, theirs] = await records
      assert.equal(mine.reason, 'the call failed on their side: their microphone could not start')
      assert.match(theirs.reason ?? '', /Permission denied|not allowed/)
    }
  })

  it('sets the callee\'s media up while the call rings, and starts the camera and microphone only when answered', async () => {
    // bob's media as rtc.ts makes it for a ringing call: made with `ringing`, the offer taken, devices on accept
    const seen: string[] = []
    const ringing: MediaFactory = async (call, events, options) => {
      const inner = await fakeMedia()(call, events, options)
      seen.push(`media ringing=${String(options.ringing)}`)
      return {
        ...inner,
        async takeOffer (offer: string) { seen.push(`takeOffer ${offer}`) },
        startDevices (o: { video: boolean }) { seen.push(`devices video=${String(o.video)}`) }
      }
    }
    const [alice, bob] = await pair({}, { callMedia: ringing })
    for (const answer of [false, true]) {
      seen.length = 0
      const incoming = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
      const call = await alice.call('bob', { video: true })
      await incoming
      await until(() => seen.length >= 2, WAIT_MS, 'bob to take the offer while it rings')
      assert.deepEqual(seen, ['media ringing=true', `takeOffer v=0 offer of ${call.id}`], 'no camera or microphone while it rings')
      const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
      if (!answer) {
        await bob.decline(call.id)
        assert.deepEqual((await records).map(r => r.outcome), ['declined', 'declined'])
        assert.equal(seen.length, 2, 'a declined call never started the devices')
        continue
      }
      const connected = waitFor(alice, 'call', state('connected'), WAIT_MS)
      await bob.accept(call.id, { video: false })
      await connected
      assert.deepEqual(seen, ['media ringing=true', `takeOffer v=0 offer of ${call.id}`, 'devices video=false'], 'the same media answers, with the devices started')
      // bob's media may connect a moment after alice's (a call hung up while connecting is a failed one)
      await until(() => internals(bob).calls.get(call.id)?.state === 'connected', WAIT_MS, 'bob connected too')
      await alice.hangup(call.id)
      assert.deepEqual((await records).map(r => r.outcome), ['answered', 'answered'])
    }
  })

  it('declines: the caller hears it, both keep it as declined', async () => {
    const [alice, bob] = await pair()
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    await ringing
    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await bob.decline(call.id)
    assert.deepEqual((await records).map(r => r.outcome), ['declined', 'declined'])
  })

  it('a call nobody answers becomes a missed call on both sides', async () => {
    const [alice, bob] = await pair({ ringTimeout: 1500 }, { ringTimeout: 1500 })
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    await ringing
    const [mine, theirs] = await Promise.all([ended(alice, call.id), ended(bob, call.id)])
    assert.equal(mine.outcome, 'missed')
    assert.equal(mine.reason, 'no answer')
    assert.equal(theirs.outcome, 'missed')
    assert.equal(theirs.direction, 'in')
  })

  it('a call the caller gives up on is a missed call for the callee', async () => {
    const [alice, bob] = await pair()
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    await ringing
    const theirs = ended(bob, call.id)
    await alice.hangup(call.id)
    assert.equal((await theirs).outcome, 'missed')
  })

  it('sets the call up over a direct connection first, and over the relayed one when the direct one opens no stream', async () => {
    const [alice, bob] = await pair()
    // besides their direct TCP connection, a relayed one through the bootstrap node
    await until(() => bob.addresses().some(a => a.includes('/p2p-circuit')), WAIT_MS, 'bob holds a relay reservation')
    const relayAddr = bob.addresses().find(a => a.includes('/p2p-circuit')) as string
    // (a dial by peer ID joins one under way to that peer, and gets the direct connection that one makes)
    await until(() => alice.libp2p.getConnections(bob.peerId).some(c => c.direct) && !alice.libp2p.getDialQueue().some(d => d.peerId?.equals(bob.peerId) === true), WAIT_MS, 'the direct connection, and no dial to bob under way')
    await alice.libp2p.dial(multiaddr(relayAddr), { force: true })
    await until(() => alice.libp2p.getConnections(bob.peerId).some(c => !c.direct) && alice.libp2p.getConnections(bob.peerId).some(c => c.direct), WAIT_MS, 'a direct and a relayed connection')
    const service = alice.libp2p.services.calls
    const open = service.open.bind(service)
    const tried: string[] = []
    let deadDirect = false
    service.open = async (connection, options) => {
      const kind = connection.direct ? 'direct' : 'relayed'
      tried.push(kind)
      if (kind === 'direct' && deadDirect) {
        // a WebRTC connection whose data channels never open: nothing comes back until given up
        await new Promise((resolve, reject) => { options?.signal?.addEventListener('abort', () => { reject(new Error('aborted')) }) })
      }
      return await open(connection, options)
    }

    // a working direct connection: the relayed one is not even tried
    const first = await alice.call('bob', { video: false })
    await waitFor(bob, 'call', state('incoming'), WAIT_MS)
    // (two nodes that dialled each other at once may have two direct connections)
    assert.ok(tried.length > 0 && tried.every(k => k === 'direct'), tried.join())
    const over = Promise.all([ended(alice, first.id), ended(bob, first.id)])
    await alice.hangup(first.id)
    await over

    // a dead one: the relayed connection takes over
    tried.length = 0
    deadDirect = true
    const second = await alice.call('bob', { video: false })
    const rings = await waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    assert.equal(rings.id, second.id)
    assert.equal(tried.at(-1), 'relayed', tried.join())
    assert.ok(tried.slice(0, -1).length > 0 && tried.slice(0, -1).every(k => k === 'direct'), tried.join())
    const connected = Promise.all([waitFor(alice, 'call', state('connected'), WAIT_MS), waitFor(bob, 'call', state('connected'), WAIT_MS)])
    await bob.accept(second.id)
    await connected
  })

  it('a signalling stream opened ahead carries the call, and is kept only for a while', async () => {
    const [alice, bob] = await pair()
    await until(() => alice.isOnline(bob.peerId.toString()), WAIT_MS, 'alice connected to bob')
    const service = alice.libp2p.services.calls
    const open = service.open.bind(service)
    let opened = 0
    service.open = async (connection, options) => {
      opened++
      return await open(connection, options)
    }
    alice.prepareCall('bob')
    await until(() => internals(alice).calls.isPrepared(bob.peerId), WAIT_MS, 'a prepared stream')
    const before = opened
    assert.ok(before > 0)
    alice.prepareCall('bob') // again while it is open: nothing new
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob', { video: false })
    assert.equal((await ringing).id, call.id)
    assert.equal(opened, before, 'the call opened no stream of its own')
    assert.equal(internals(alice).calls.isPrepared(bob.peerId), false, 'the prepared stream went to the call')
    const connected = Promise.all([waitFor(alice, 'call', state('connected'), WAIT_MS), waitFor(bob, 'call', state('connected'), WAIT_MS)])
    await bob.accept(call.id)
    await connected
    // nothing is prepared during a call
    alice.prepareCall('bob')
    assert.equal(internals(alice).calls.isPrepared(bob.peerId), false)
    const over = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await alice.hangup(call.id)
    await over

    // a prepared stream is closed after preparedTimeout, on both ends
    internals(alice).calls.preparedTimeout = 300
    const bobChannels = (bob.libp2p.services.calls as any).channels as Set<unknown>
    await until(() => bobChannels.size === 0, WAIT_MS, 'the call\'s stream closed at bob')
    alice.prepareCall('bob')
    await until(() => internals(alice).calls.isPrepared(bob.peerId) && bobChannels.size === 1, WAIT_MS, 'a prepared stream at both ends')
    await until(() => !internals(alice).calls.isPrepared(bob.peerId) && bobChannels.size === 0, WAIT_MS, 'the prepared stream closed when it expired')
  })

  it('a prepared stream the other side closed is not used: the call opens its own', async () => {
    const [alice, bob] = await pair()
    await until(() => alice.isOnline(bob.peerId.toString()), WAIT_MS, 'alice connected to bob')
    alice.prepareCall('bob')
    await until(() => internals(alice).calls.isPrepared(bob.peerId), WAIT_MS, 'a prepared stream')
    // bob's end goes away, as an older client's does after 10 s of silence
    const bobChannels = (bob.libp2p.services.calls as any).channels as Set<{ abort: (err: Error) => void }>
    for (const c of bobChannels) c.abort(new Error('silent for too long'))
    await until(() => !internals(alice).calls.isPrepared(bob.peerId), WAIT_MS, 'alice saw the stream end')
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob', { video: false })
    assert.equal((await ringing).id, call.id)
  })

  it('calling a contact who is offline fails with a clear message and is kept as a failed call', async () => {
    const [alice, bob] = await pair({ findTimeout: 2000 })
    await bob.stop()
    await until(() => !alice.isOnline(bob.peerId.toString()), WAIT_MS, 'bob gone')
    await assert.rejects(alice.call('bob'), (err: Error) => {
      assert.equal(err.name, 'CallError')
      assert.match(err.message, /offline/)
      return true
    })
    const history = await alice.callHistory('bob')
    assert.deepEqual(history.map(r => r.outcome), ['failed'])
    assert.deepEqual(alice.calls(), [])
  })

  it('when both call each other at once, one call is kept: the lower peer ID\'s', async () => {
    const [alice, bob] = await pair()
    const connected = Promise.all([waitFor<CallInfo>(alice, 'call', state('connected'), WAIT_MS), waitFor<CallInfo>(bob, 'call', state('connected'), WAIT_MS)])
    const [fromAlice, fromBob] = await Promise.all([alice.call('bob'), bob.call('alice')])
    const [a, b] = await connected
    assert.equal(a.id, b.id)
    const lower = alice.peerId.toString() < bob.peerId.toString() ? fromAlice : fromBob
    assert.equal(a.id, lower.id)
    await until(() => alice.calls().length === 1 && bob.calls().length === 1, WAIT_MS, 'one call each')
    assert.equal(alice.calls()[0].id, lower.id)
    assert.equal(bob.calls()[0].id, lower.id)
    // the call that gave way never rang, so it is not in the history
    const records = Promise.all([ended(alice, lower.id), ended(bob, lower.id)])
    await alice.hangup(lower.id)
    await records
    assert.deepEqual((await alice.callHistory('bob')).map(r => r.id), [lower.id])
    assert.deepEqual((await bob.callHistory('alice')).map(r => r.id), [lower.id])
  })

  it('answers busy while in another call, and keeps that as a missed call', async () => {
    const [alice, bob] = await pair()
    const carol = env.cleanup.add(await startChat({ bootstrapNode: env.boot, callMedia: fakeMedia() }))
    await carol.addContact(bob.peerId.toString(), 'bob')
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    await ringing
    const connected = waitFor(bob, 'call', state('connected'), WAIT_MS)
    await bob.accept(call.id)
    await connected
    const missed = waitFor<CallRecord>(bob, 'call:ended', r => r.peer === carol.peerId.toString(), WAIT_MS)
    const second = await carol.call('bob')
    const busy = await ended(carol, second.id)
    assert.equal(busy.outcome, 'busy')
    assert.equal((await missed).outcome, 'missed')
    assert.equal(bob.calls().length, 1, 'the first call goes on')
    assert.equal(bob.calls()[0].state, 'connected')
  })

  it('a node without media (the terminal client) rings, cannot answer, and can decline', async () => {
    const [alice, bob] = await pair({}, { callMedia: undefined })
    await assert.rejects(bob.call('alice'), /needs the web app/)
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const heardRing = waitFor<CallInfo>(alice, 'call', state('ringing'), WAIT_MS)
    const call = await alice.call('bob')
    await Promise.all([ringing, heardRing])
    await assert.rejects(bob.accept(call.id), /needs the web app/)
    assert.equal(internals(bob).calls.get(call.id)?.state, 'incoming', 'still ringing after the failed answer')
    const records = Promise.all([ended(alice, call.id), ended(bob, call.id)])
    await bob.decline(call.id)
    assert.deepEqual((await records).map(r => r.outcome), ['declined', 'declined'])
  })

  it('a call from someone who is not a contact arrives with their peer ID', async () => {
    const alice = env.cleanup.add(await startChat({ bootstrapNode: env.boot, callMedia: fakeMedia() }))
    const stranger = env.cleanup.add(await startChat({ bootstrapNode: env.boot, callMedia: fakeMedia() }))
    const ringing = waitFor<CallInfo>(alice, 'call', state('incoming'), WAIT_MS)
    await stranger.call(alice.peerId.toString())
    const call = await ringing
    assert.equal(call.peer, stranger.peerId.toString())
    assert.equal(alice.contactFor(call.peer), undefined)
  })

  it('sends the offer again on a fresh stream when the one it went on ends before the callee rang (its connection went)', async () => {
    const [alice, bob] = await pair()
    await alice.libp2p.dial(bob.peerId)
    // the first call stream bob gets dies unread, as one does on a connection that is closed under it
    // (libp2p aborts a duplicate connection the other side has just opened a stream on)
    const signalling = (bob.libp2p.services as any).calls
    await bob.libp2p.unhandle(CALL_PROTOCOL)
    let lost = 0
    await bob.libp2p.handle(CALL_PROTOCOL, async (stream) => {
      // the service takes the protocol back (stop() lets this handler go too), for the calls again
      await signalling.stop()
      await signalling.listen(internals(bob).calls)
      await lpStream(stream).read() // the offer came, and is lost
      lost++
      stream.abort(new Error('lost with its connection'))
    }, { runOnLimitedConnection: true })
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const heardRing = waitFor<CallInfo>(alice, 'call', state('ringing'), WAIT_MS)
    const call = await alice.call('bob', { video: false })
    assert.equal((await ringing).id, call.id)
    await heardRing
    assert.equal(lost, 1)
    assert.equal(bob.calls().length, 1, 'one call, not two')
  })

  it('drops signalling frames that are not strictly what call.proto says: wire types, UTF-8', async () => {
    const [alice, bob] = await pair()
    const connection = await internals(alice).reach.connect(bob.peerId)
    const stats = bob.libp2p.services.calls.stats
    const callId = [0x0a, 16, ...new Uint8Array(16).fill(5)]
    const bad: Array<[string, number[]]> = [
      ['an offer whose sdp is not UTF-8', [...callId, 0x1a, 4, 0x76, 0x3d, 0x30, 0xff]],
      ['a type with the wire type of a length', [...callId, 0x12, 1, 0, 0x1a, 3, 0x76, 0x3d, 0x30]],
      ['a candidate line with a lone surrogate', [...callId, 0x10, 2, 0x2a, 5, 0x0a, 3, 0xed, 0xa0, 0x80]]
    ]
    for (const [i, [what, bytes]] of bad.entries()) {
      const stream = await connection.newStream('/megachat/call/1.0.0')
      await lpStream(stream).write(Uint8Array.from(bytes))
      await until(() => stats.malformed === i + 1, WAIT_MS, `${what} counted as malformed`)
    }
    assert.equal(stats.received, 0)
    assert.deepEqual(bob.calls(), [])
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    assert.equal((await ringing).id, call.id)
  })

  it('drops hostile signalling frames, counts them, and keeps working', async () => {
    const [alice, bob] = await pair()
    const connection = await internals(alice).reach.connect(bob.peerId)
    const stats = bob.libp2p.services.calls.stats
    // garbage inside a well-formed length prefix
    let stream = await connection.newStream('/megachat/call/1.0.0')
    await lpStream(stream).write(Uint8Array.from({ length: 40 }, (_, i) => (i * 97 + 13) & 0xff))
    await until(() => stats.malformed === 1, WAIT_MS, 'malformed count')
    // a frame over the size limit
    stream = await connection.newStream('/megachat/call/1.0.0')
    await lpStream(stream).write(new Uint8Array(64 * 1024)).catch(() => {})
    await until(() => stats.oversized === 1, WAIT_MS, 'oversized count')
    // a short call id
    stream = await connection.newStream('/megachat/call/1.0.0')
    await lpStream(stream).write(CallSignal.encode({ callId: new Uint8Array(3), type: CallSignal.Type.OFFER, sdp: 'v=0', video: false, reason: CallSignal.Reason.NORMAL }))
    await until(() => stats.malformed === 2, WAIT_MS, 'bad call id counted')
    // a hang-up for a call that does not exist is ignored
    stream = await connection.newStream('/megachat/call/1.0.0')
    await lpStream(stream).write(CallSignal.encode({ callId: new Uint8Array(16), type: CallSignal.Type.HANGUP, video: false, reason: CallSignal.Reason.NORMAL }))
    await until(() => stats.received === 1, WAIT_MS, 'stray hang-up read')
    assert.deepEqual(bob.calls(), [])
    // and a real call still works
    const ringing = waitFor<CallInfo>(bob, 'call', state('incoming'), WAIT_MS)
    const call = await alice.call('bob')
    assert.equal((await ringing).id, call.id)
    await alice.hangup(call.id)
    // every signalling stream ends, the stray one left half open by this side too (it is reset)
    const callStreams = (): number => bob.libp2p.getConnections(alice.peerId).reduce((n, c) => n + c.streams.filter(x => x.protocol === '/megachat/call/1.0.0').length, 0)
    await until(() => callStreams() === 0, WAIT_MS, 'no signalling stream left open')

    // a flood of offers: a few ring (each replacing the last), the rest are answered busy and not kept
    const before = stats.received
    const offers = MAX_OFFERS_PER_MINUTE + 4
    const allowed = MAX_OFFERS_PER_MINUTE - 1 // the real call above was one
    for (let i = 0; i < offers; i++) {
      // one at a time: a connection may hold only 4 open signalling streams
      await until(() => stats.received === before + i && callStreams() === 0, WAIT_MS, 'the last offer handled')
      stream = await connection.newStream('/megachat/call/1.0.0')
      const callId = crypto.getRandomValues(new Uint8Array(16))
      await lpStream(stream).write(CallSignal.encode({ callId, type: CallSignal.Type.OFFER, sdp: 'v=0', video: false, reason: CallSignal.Reason.NORMAL }))
      await stream.close()
    }
    await until(() => internals(bob).calls.floods === offers - allowed, WAIT_MS, 'offers over the limit refused')
    // the first real call, and those that rang until the next replaced them; the last one still rings
    await until(async () => (await bob.callHistory('alice')).length === allowed, WAIT_MS, 'the calls that rang, in the history')
    assert.equal(bob.calls().length, 1)
    await bob.decline(bob.calls()[0].id)
    assert.equal((await bob.callHistory('alice')).length, allowed + 1)
  })
})
