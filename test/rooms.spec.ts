/**
 * Integration: encrypted rooms over gossipsub with real nodes and the real bootstrap node.
 */
import assert from 'node:assert/strict'
import { pbStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { toString as toHex } from 'uint8arrays/to-string'
import { decodeInvite } from '../src/crypto/invite.js'
import { deriveRoomKeys, roomSyncAuth, sealRoomMessage } from '../src/crypto/room.js'
import { ROOM_SYNC_PROTOCOL, SYNC_MAX_BYTES, SYNC_RANGE_ITEMS, encodeItem } from '../src/rooms/sync.js'
import { RATE_LIMIT } from '../src/rooms/index.js'
import { SyncFrame, SyncRequest, SyncSummary, SyncWant } from '../src/rooms/pb/room.js'
import { eachTestWithBootstrap, startChat, startPlainGossipNode, tempDir, until, waitFor } from './fixtures.js'
import type { Chat, RoomInfo, RoomMembersEvent, RoomMessageEvent, StoredRoomMessage } from '../src/index.js'
import { internals } from '../src/internals.js'
import type { Message } from '@libp2p/gossipsub'
import type { Stream } from '@libp2p/interface'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

describe('rooms', function () {
  this.timeout(120_000)
  const env = eachTestWithBootstrap()

  /** Resolves when `chat` has accepted a room message with this text. */
  async function receives (chat: Chat, text: string, ms = 30_000): Promise<RoomMessageEvent> {
    return await waitFor<RoomMessageEvent>(chat, 'room:message', m => m.text === text, ms)
  }

  /** Waits until every chat sees all the others subscribed to the room (the mesh can form). */
  async function meshed (chats: Chat[], room: string): Promise<void> {
    await until(() => chats.every(c => c.members(room).length === chats.length), 60_000, 'all members online in the room')
  }

  /**
   * a creates room `name` and b joins it. With `dirB`, b keeps its store there and is left for the test
   * to stop (and restart).
   */
  async function inRoom (name: string, dirB?: string): Promise<{ a: Chat, b: Chat, room: RoomInfo }> {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = dirB != null ? await startChat({ bootstrapNode: env.boot, dataDir: dirB }) : env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom(name)
    await b.joinRoom(room.invite)
    await meshed([a, b], name)
    return { a, b, room }
  }

  /**
   * Messages of the room `invite` leads to, written by `author` at `times` (ms since the epoch), as a
   * member who was there then holds them. Stored in each of `holders`, returned as stored.
   */
  async function written (author: Chat, invite: string, times: number[], holders: Chat[], text = (i: number) => `written at ${times[i]} (#${i})`): Promise<StoredRoomMessage[]> {
    const keys = deriveRoomKeys(decodeInvite(invite).secret)
    const out: StoredRoomMessage[] = []
    for (const [i, timestamp] of times.entries()) {
      const sealed = await sealRoomMessage(keys, internals(author).privateKey, { text: text(i), timestamp })
      const stored: StoredRoomMessage = {
        id: sealed.message.idHex,
        roomId: keys.roomIdHex,
        author: author.peerId.toString(),
        timestamp,
        text: sealed.message.text,
        receivedAt: timestamp,
        sealed: Buffer.from(sealed.bytes).toString('base64')
      }
      for (const holder of holders) assert.equal(await internals(holder).store.addRoomMessage(stored), true)
      out.push(stored)
    }
    return out
  }

  /** `count` times spread over the last `span` ms before `before`, oldest first. */
  function timesBefore (before: number, span: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => Math.floor(before - span + (i * span) / count))
  }

  const sortedTexts = (messages: Array<{ text: string }>): string[] => messages.map(m => m.text).sort()

  it('says when the number of members online changes: someone joins, someone goes', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => env.cleanup.add(await startChat({ bootstrapNode: env.boot }))))
    const room = await a.createRoom('friends')
    const joined = waitFor<RoomMembersEvent>(a, 'room:members', m => m.roomId === room.roomId && m.online === 2, 60_000)
    await b.joinRoom(room.invite)
    assert.equal((await joined).name, 'friends')
    assert.equal(a.listRooms()[0].online, 2)
    const gone = waitFor<RoomMembersEvent>(a, 'room:members', m => m.roomId === room.roomId && m.online === 1, 60_000)
    await b.stop()
    await gone
    assert.equal(a.listRooms()[0].online, 1)
  })

  it('creates a room, joins by invite and delivers every message to every member', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => env.cleanup.add(await startChat({ bootstrapNode: env.boot }))))
    const room = await a.createRoom('friends')
    assert.match(room.invite, /^megachat:\/\/room\/[A-Za-z0-9_-]+$/)
    assert.equal(decodeInvite(room.invite).creator, a.peerId.toString())
    await b.joinRoom(room.invite)
    await c.joinRoom(room.invite)
    await meshed([a, b, c], 'friends')

    for (const [author, text] of [[a, 'hi from a'], [b, 'hi from b'], [c, 'hi from c']] as const) {
      const others = [a, b, c].filter(x => x !== author)
      const got = Promise.all(others.map(async o => await receives(o, text)))
      await author.say('friends', text)
      for (const m of await got) {
        assert.equal(m.from, author.peerId.toString())
        assert.equal(m.room, 'friends')
        assert.equal(m.synced, false)
      }
    }
    for (const chat of [a, b, c]) {
      assert.deepEqual((await chat.roomHistory('friends')).map(m => m.text).sort(), ['hi from a', 'hi from b', 'hi from c'])
    }
    assert.deepEqual(a.listRooms().map(r => r.name), ['friends'])
  })

  it('keeps messages flowing both ways when the connection the room\'s streams were on closes and another stays open', async () => {
    const { a, b } = await inRoom('pair')
    // beside their direct connection, a relayed one through the bootstrap node
    await until(() => b.addresses().some(x => x.includes('/p2p-circuit')), 20_000, 'b holds a relay reservation')
    await until(() => !a.libp2p.getDialQueue().some(d => d.peerId?.equals(b.peerId) === true), 20_000, 'no dial to b under way')
    const relayed = await a.libp2p.dial(multiaddr(b.addresses().find(x => x.includes('/p2p-circuit')) as string), { force: true })
    assert.ok(relayed.limits != null, 'a relayed connection')
    // the streams gossipsub opened went on the connection it heard of first: end every other one abruptly,
    // as a relay does at its limits or a network at a NAT rebinding (gossipsub drops a peer whose stream fails)
    for (const c of a.libp2p.getConnections(b.peerId).filter(c => c !== relayed)) c.abort(new Error('connection lost'))
    await until(() => b.libp2p.getConnections(a.peerId).length === 1, 20_000, 'b to see one connection left')
    // both still see each other in the room
    await until(() => a.members('pair').length === 2 && b.members('pair').length === 2, 10_000, 'both to see the other in the room')

    // (within the few seconds a member's arrival takes, not at the next periodic sync)
    const toB = receives(b, 'still here', 10_000)
    await a.say('pair', 'still here')
    await toB
    const toA = receives(a, 'me too', 10_000)
    await b.say('pair', 'me too')
    await toA
    assert.equal(a.members('pair').length, 2)
    assert.equal(b.members('pair').length, 2)
  })

  it('gives a late joiner the history, verified', async () => {
    const { a, b, room } = await inRoom('club')
    const got = receives(b, 'second')
    await a.say('club', 'first')
    await b.say('club', 'from b')
    await a.say('club', 'second')
    await got

    const late = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const synced: RoomMessageEvent[] = []
    late.addEventListener('room:message', (evt) => { synced.push(evt.detail) })
    await late.joinRoom(room.invite)
    await until(() => synced.length === 3, 30_000, 'three synced messages')
    assert.deepEqual(synced.map(m => m.text).sort(), ['first', 'from b', 'second'])
    assert.ok(synced.every(m => m.synced))
    // history comes back ordered by time
    const history = await late.roomHistory('club')
    assert.equal(history.length, 3)
    assert.ok(history.every((m, i) => i === 0 || history[i - 1].timestamp <= m.timestamp))
  })

  it('shows a plain gossipsub node on the room topic only ciphertext, and rejects its forgeries', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom('secret-plans')
    await b.joinRoom(room.invite)
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)

    // an eavesdropper that somehow learnt the topic name (not the secret)
    const spy = env.cleanup.add(await startPlainGossipNode())
    const seen: Message[] = []
    spy.services.pubsub.addEventListener('message', (evt) => { seen.push(evt.detail) })
    spy.services.pubsub.subscribe(keys.topic)
    await spy.dial(multiaddr(a.addresses()[0]))
    await spy.dial(multiaddr(b.addresses()[0]))
    await meshed([a, b], 'secret-plans')
    await until(() => spy.services.pubsub.getSubscribers(keys.topic).length === 2, 30_000, 'spy sees both members')
    // subscriptions to topics of rooms a member is not in are not even tracked
    spy.services.pubsub.subscribe('/not-a-room-topic')
    await until(() => a.libp2p.services.pubsub.getSubscribers(keys.topic).some(p => p.equals(spy.peerId)), 30_000, 'a sees the spy in the room')
    assert.deepEqual(a.libp2p.services.pubsub.getSubscribers('/not-a-room-topic'), [])

    const text = 'the launch code is 0000'
    const got = receives(b, text)
    await a.say('secret-plans', text)
    await got
    await until(() => seen.length > 0, 30_000, 'spy receives the gossip')
    const wire = new TextDecoder('utf-8', { fatal: false }).decode(seen[0].data)
    assert.ok(!wire.includes('launch'), 'plaintext on the wire')
    assert.ok(!toHex(seen[0].data, 'base16').includes(toHex(new TextEncoder().encode('launch'), 'base16')))

    // the spy publishes garbage and a message sealed under a wrong key: both are rejected and counted
    const invalidBefore = internals(b).rooms.stats.invalid
    await spy.services.pubsub.publish(keys.topic, crypto.getRandomValues(new Uint8Array(200)))
    const wrong = deriveRoomKeys(crypto.getRandomValues(new Uint8Array(32)))
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const forged = await sealRoomMessage({ ...wrong, roomId: keys.roomId, topic: keys.topic }, await generateKeyPair('Ed25519'), { text: 'fake' })
    await spy.services.pubsub.publish(keys.topic, forged.bytes)
    await until(() => internals(b).rooms.stats.invalid >= invalidBefore + 2, 30_000, 'both forgeries rejected')
    assert.deepEqual((await b.roomHistory('secret-plans')).map(m => m.text), [text])
  })

  it('rejects a member forging another member', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => env.cleanup.add(await startChat({ bootstrapNode: env.boot }))))
    const room = await a.createRoom('trust')
    await b.joinRoom(room.invite)
    await c.joinRoom(room.invite)
    await meshed([a, b, c], 'trust')
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    const topic = keys.topic

    // c (a member, so it has the key) writes a message that claims a as its author
    const { RoomEnvelope } = await import('../src/rooms/pb/room.js')
    const { xchacha20poly1305 } = await import('@noble/ciphers/chacha.js')
    const real = await sealRoomMessage(keys, internals(c).privateKey, { text: 'I am a, honest' })
    const { openRoomMessage } = await import('../src/crypto/room.js')
    const opened = await openRoomMessage(keys, real.bytes)
    assert.ok(opened != null)
    const envelope = RoomEnvelope.encode({
      id: opened.id as Uint8Array<ArrayBuffer>,
      author: a.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      timestamp: BigInt(opened.timestamp),
      text: opened.text,
      signature: new Uint8Array(64) as Uint8Array<ArrayBuffer>
    })
    const nonce = crypto.getRandomValues(new Uint8Array(24))
    const forgedBytes = new Uint8Array([...nonce, ...xchacha20poly1305(keys.messageKey, nonce, keys.roomId).encrypt(envelope)])
    const before = internals(b).rooms.stats.invalid
    await c.libp2p.services.pubsub.publish(topic, forgedBytes)
    await until(() => internals(b).rooms.stats.invalid > before, 30_000, 'the forgery is rejected')

    assert.equal((await b.roomHistory('trust')).some(m => m.text === 'I am a, honest'), false)
  })

  it('takes at most RATE_LIMIT messages per author in RATE_WINDOW_MS, counts the rest, and still hears the others', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => env.cleanup.add(await startChat({ bootstrapNode: env.boot }))))
    const room = await a.createRoom('flood')
    await b.joinRoom(room.invite)
    await c.joinRoom(room.invite)
    await meshed([a, b, c], 'flood')
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    // c, a member, publishes well-formed messages of its own far faster than the limit allows
    const flood = RATE_LIMIT + 10
    for (let i = 0; i < flood; i++) {
      const sealed = await sealRoomMessage(keys, internals(c).privateKey, { text: `flood #${i}` })
      await c.libp2p.services.pubsub.publish(keys.topic, sealed.bytes)
    }
    const fromC = async (): Promise<number> => (await b.roomHistory('flood', 1000)).filter(m => m.author === c.peerId.toString()).length
    await until(() => internals(b).rooms.stats.rateLimited >= flood - RATE_LIMIT, 30_000, 'the messages over the limit counted')
    assert.equal(internals(b).rooms.stats.rateLimited, flood - RATE_LIMIT)
    assert.equal(await fromC(), RATE_LIMIT)
    // another member is not held back by c's flood
    const got = receives(b, 'a is still heard')
    await a.say('flood', 'a is still heard')
    await got
  })

  it('shows a replayed message once, even after gossip has forgotten it', async () => {
    const dirB = env.cleanup.dir(await tempDir())
    const { a, b: first, room } = await inRoom('echo', dirB)
    let b = first
    const got = receives(b, 'only once')
    const sent = await a.say('echo', 'only once')
    await got
    // a restart empties gossipsub's seen-cache; only the persistent id store remembers now
    await b.stop()
    b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirB }))
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    const replayer = env.cleanup.add(await startPlainGossipNode())
    replayer.services.pubsub.subscribe(keys.topic)
    await replayer.dial(multiaddr(b.addresses()[0]))
    await until(() => replayer.services.pubsub.getSubscribers(keys.topic).some(p => p.equals(b.peerId)), 30_000, 'replayer sees b in the room')
    let shown = 0
    b.addEventListener('room:message', (evt) => { if (evt.detail.id === sent.id) shown++ })
    const before = internals(b).rooms.stats.replayed
    await replayer.services.pubsub.publish(keys.topic, new Uint8Array(Buffer.from(sent.sealed, 'base64')))
    await until(() => internals(b).rooms.stats.replayed > before, 30_000, 'the replay is recognised')
    assert.equal(shown, 0)
    assert.equal((await b.roomHistory('echo')).filter(m => m.text === 'only once').length, 1)
  })

  it('delivers every message to every member in a room of twenty', async () => {
    const chats = await Promise.all(Array.from({ length: 20 }, async () => env.cleanup.add(await startChat({ bootstrapNode: env.boot, webrtc: false }))))
    const room = await chats[0].createRoom('twenty')
    await Promise.all(chats.slice(1).map(async c => await c.joinRoom(room.invite)))
    // members found each other through the DHT alone
    await until(() => chats.every(c => c.members('twenty').length >= 3), 90_000, 'every member connected to others in the room')
    for (const author of [chats[0], chats[7], chats[19]]) {
      const text = `hello twenty from ${author.peerId.toString().slice(-6)}`
      const others = chats.filter(c => c !== author)
      const got = Promise.all(others.map(async o => await receives(o, text, 60_000)))
      await author.say('twenty', text)
      assert.equal((await got).length, 19)
    }
  })

  it('gives a member who leaves and joins again with the same invite the whole history back, old messages too', async () => {
    const { a, b, room } = await inRoom('again')
    // b has asked a for the history on joining (there was none)
    await until(() => b.libp2p.services.roomSync.stats.completed === 1, 30_000, 'b synced from a')
    // written an hour and a day ago, while both were in the room
    const now = Date.now()
    const old = [
      ...await written(a, room.invite, timesBefore(now - HOUR, 2 * MINUTE, 3), [a, b]),
      ...await written(b, room.invite, timesBefore(now - 24 * HOUR, HOUR, 3), [a, b])
    ]
    const got = receives(a, 'from b, live')
    await b.say('again', 'from b, live')
    await got
    const all = [...old.map(m => m.text), 'from b, live']

    await b.leaveRoom('again')
    assert.deepEqual(await internals(b).store.roomHistory(room.roomId), [], 'leaving forgets the messages')
    // still connected to a: joining again asks a for the history
    assert.ok(b.isOnline(a.peerId.toString()))
    await b.joinRoom(room.invite)
    await until(async () => (await b.roomHistory('again', 100)).length === all.length, 30_000, 'the history back')
    const history = await b.roomHistory('again', 100)
    assert.deepEqual(sortedTexts(history), all.sort())
    assert.ok(history.filter(m => m.timestamp < now - 10 * MINUTE).length === old.length)
  })

  it('gives a member who restarts what it lacks, old messages too, and nothing it holds already', async () => {
    const dirB = env.cleanup.dir(await tempDir())
    const { a, b: first, room } = await inRoom('restart', dirB)
    let b = first
    // two days of history both hold: more than one range of a sync summary
    const now = Date.now()
    const common = await written(a, room.invite, timesBefore(now - HOUR, 2 * 24 * HOUR, SYNC_RANGE_ITEMS + 60), [a, b])
    await b.stop()

    // while b was away a came to hold messages b lacks, written long before b's last time there (a
    // member's late delivery, another member's history), and one said now
    const lacking = [
      ...await written(a, room.invite, timesBefore(now - 3 * HOUR, 2 * 24 * HOUR, 30), [a]),
      ...await written(a, room.invite, timesBefore(now - 20 * MINUTE, 5 * MINUTE, 10), [a])
    ]
    await a.say('restart', 'while you were away')

    b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dirB, start: false }))
    const missed = receives(b, 'while you were away')
    await b.start()
    assert.deepEqual(b.listRooms().map(r => r.name), ['restart'])
    assert.equal((await missed).synced, true)
    const expected = common.length + lacking.length + 1
    await until(async () => (await b.roomHistory('restart', 1000)).length === expected, 30_000, 'what b lacked')
    const history = await b.roomHistory('restart', 1000)
    assert.deepEqual(sortedTexts(history), sortedTexts([...common, ...lacking, { text: 'while you were away' }]))
    assert.ok(history.every((m, i) => i === 0 || history[i - 1].timestamp <= m.timestamp), 'in order of time')
    // only what b lacked travelled
    assert.equal(b.libp2p.services.roomSync.stats.received, lacking.length + 1)
    assert.equal(b.libp2p.services.roomSync.stats.refused, 0)
  })

  it('brings a history bigger than one sync exchange in several', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom('big')
    // 60 kB texts: more than SYNC_MAX_BYTES in all
    const count = Math.ceil(SYNC_MAX_BYTES / 60_000) + 10
    await written(a, room.invite, timesBefore(Date.now(), HOUR, count), [a], (i) => `${i} `.padEnd(60_000, 'x'))
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await b.joinRoom(room.invite)
    await until(async () => (await b.roomHistory('big', 1000)).length === count, 60_000, 'the whole history')
    assert.equal(b.libp2p.services.roomSync.stats.received, count)
    assert.equal(b.libp2p.services.roomSync.stats.refused, 0)
  })

  /**
   * A peer on the room topic that answers sync requests with `answer`, for `victim` to ask. Resolves
   * once the victim has seen it in the room.
   */
  async function hostileResponder (victim: Chat, invite: string, answer: (stream: Stream) => Promise<void>): Promise<void> {
    const keys = deriveRoomKeys(decodeInvite(invite).secret)
    const evil = env.cleanup.add(await startPlainGossipNode())
    await evil.handle(ROOM_SYNC_PROTOCOL, async (stream) => {
      await answer(stream).catch((err: Error) => { stream.abort(err) })
    })
    evil.services.pubsub.subscribe(keys.topic)
    await evil.dial(multiaddr(victim.addresses()[0]))
    await until(() => victim.members(decodeInvite(invite).name).includes(evil.peerId.toString()), 30_000, 'the victim sees the hostile peer')
  }

  /** A summary of one range of `count` items from timestamp 1 to 10^12, which the victim lacks all of. */
  const oneRange = (count: number): SyncSummary => ({
    first: encodeItem({ timestamp: 1, id: '00'.repeat(16) }),
    ranges: [{ last: encodeItem({ timestamp: 1e12, id: 'ff'.repeat(16) }), count, fingerprint: new Uint8Array(16) }]
  })

  it('refuses and counts a sync answer with messages not asked for, or more than SYNC_MAX_BYTES', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom('hostile')
    const sync = a.libp2p.services.roomSync
    const before = { ...sync.stats }

    // asked for the one message of a range, it sends three
    await hostileResponder(a, room.invite, async (stream) => {
      const pb = pbStream(stream)
      await pb.read(SyncRequest)
      await pb.write(oneRange(1), SyncSummary)
      const want = await pb.read(SyncWant)
      assert.deepEqual(want.whole, [0])
      for (let i = 0; i < 3; i++) await pb.write({ message: new Uint8Array(100), item: encodeItem({ timestamp: 2 + i, id: 'ab'.repeat(16) }) }, SyncFrame)
      await pb.write({ end: true }, SyncFrame)
    })
    await until(() => sync.stats.refused === before.refused + 1, 30_000, 'the answer refused')

    // a range of SYNC_RANGE_ITEMS messages of 20 kB each: more bytes than one answer may carry
    await hostileResponder(a, room.invite, async (stream) => {
      const pb = pbStream(stream)
      await pb.read(SyncRequest)
      await pb.write(oneRange(SYNC_RANGE_ITEMS), SyncSummary)
      await pb.read(SyncWant)
      for (let i = 0; i < SYNC_RANGE_ITEMS; i++) await pb.write({ message: new Uint8Array(20_000), item: encodeItem({ timestamp: 2 + i, id: 'cd'.repeat(16) }) }, SyncFrame)
      await pb.write({ end: true }, SyncFrame)
    })
    await until(() => sync.stats.refused === before.refused + 2, 30_000, 'the second answer refused')
    // what came before the refusal was opened and dropped (it is not sealed for the room), never stored
    assert.ok(sync.stats.received - before.received <= 1 + Math.floor(SYNC_MAX_BYTES / 20_000))
    assert.ok(internals(a).rooms.stats.invalid > 0)
    assert.deepEqual(await a.roomHistory('hostile'), [])
    // and the node goes on: a member joins and gets what a says
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    await b.joinRoom(room.invite)
    await until(() => a.members('hostile').includes(b.peerId.toString()) && b.members('hostile').includes(a.peerId.toString()), 30_000, 'a and b in the room')
    const got = receives(b, 'still here')
    await a.say('hostile', 'still here')
    await got
  })

  it('drops and counts a sync request that wants what was not offered, and stays the same to outsiders', async () => {
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom('asked')
    await a.say('asked', 'not for outsiders')
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    const outsider = env.cleanup.add(await startPlainGossipNode())
    const sync = a.libp2p.services.roomSync
    const ask = async (want: SyncWant, roomId: Uint8Array = keys.roomId, auth: Uint8Array = new Uint8Array(32)): Promise<SyncSummary> => {
      const stream = await outsider.dialProtocol(multiaddr(a.addresses()[0]), ROOM_SYNC_PROTOCOL)
      const pb = pbStream(stream)
      // no proof of membership (or, below, a member's proof, which is bound to that member's peer ID)
      await pb.write({ roomId: roomId as Uint8Array<ArrayBuffer>, auth: auth as Uint8Array<ArrayBuffer> }, SyncRequest)
      const summary = await pb.read(SyncSummary)
      await pb.write(want, SyncWant)
      await pb.read(SyncFrame).catch(() => {})
      await stream.close().catch(() => {}) // a's streams for the protocol are few at a time
      return summary
    }
    const before = { ...sync.stats }
    const done: SyncWant = { whole: [], list: [], items: [], done: true }
    // the answer about the room is the answer about a room a does not hold: nothing
    assert.deepEqual(await ask(done), await ask(done, crypto.getRandomValues(new Uint8Array(32))))
    assert.equal((await ask(done)).ranges.length, 0)
    // the proof a member would present, replayed by the outsider: refused, since Noise says who asks
    const member = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    assert.equal((await ask(done, keys.roomId, roomSyncAuth(keys, member.peerId, a.peerId))).ranges.length, 0)
    assert.equal(sync.stats.denied, before.denied + 4)
    await ask({ whole: [0], list: [], items: [], done: true })
    await until(() => sync.stats.failed === before.failed + 1, 10_000, 'the bad want counted')
    assert.equal(sync.stats.served, before.served)
  })

  /** who sees whom in the room and over which connections, with gossipsub's own streams (said when a join is not seen in time) */
  const seen = (fresh: Chat, members: Chat[]): string => {
    const short = (id: { toString: () => string }): string => id.toString().slice(-6)
    const state = (n: Chat): unknown => ({
      members: n.members('findme').map(short),
      connections: n.libp2p.getConnections().map(c => `${short(c.remotePeer)} ${c.direction} ${c.status}`),
      gossipStreamsTo: [...((n.libp2p.services.pubsub as any).streamsOutbound?.keys() ?? [])].map(short)
    })
    return [fresh, ...members].map(n => `${short(n.peerId)} ${JSON.stringify(state(n))}`).join('; ')
  }

  it('has a fresh client that joins by invite find the members online within seconds, twenty times in a row', async function () {
    this.timeout(240_000)
    const a = env.cleanup.add(await startChat({ bootstrapNode: env.boot }))
    const room = await a.createRoom('findme')
    const members = [env.cleanup.add(await startChat({ bootstrapNode: env.boot })), env.cleanup.add(await startChat({ bootstrapNode: env.boot }))]
    for (const m of members) await m.joinRoom(room.invite)
    await meshed([a, ...members], 'findme')
    // the invite's creator is gone: joiners find the members through the DHT alone
    await a.stop()
    await until(() => members.every(m => m.members('findme').length === 2), 30_000, 'the creator gone')

    const ids = members.map(m => m.peerId.toString()).sort()
    for (let i = 0; i < 20; i++) {
      // a new user: new identity, new data directory, joining as soon as the client has started
      const dir = env.cleanup.dir(await tempDir())
      const fresh = await startChat({ bootstrapNode: env.boot, dataDir: dir })
      try {
        await fresh.joinRoom(room.invite)
        await until(() => ids.every(id => fresh.members('findme').includes(id)), 10_000, `fresh client ${i} to see both members`)
          .catch((err: Error) => { throw new Error(`${err.message}: ${seen(fresh, members)}`) })
      } finally {
        await fresh.stop()
      }
    }
  })

  it('keeps rooms and refuses bad input', async () => {
    const dir = env.cleanup.dir(await tempDir())
    let a = await startChat({ bootstrapNode: env.boot, dataDir: dir })
    const room = await a.createRoom('mine')
    await assert.rejects(a.createRoom('mine'), { name: 'DuplicateRoomError' })
    await assert.rejects(a.createRoom('bad name with spaces'), { name: 'InvalidInputError' })
    await assert.rejects(a.joinRoom('megachat://room/not-an-invite'), { name: 'InvalidInviteError' })
    await assert.rejects(a.say('nope', 'hi'), { name: 'UnknownRoomError' })
    await assert.rejects(a.say('mine', 'x'.repeat(64 * 1024 + 1)), { name: 'MessageTooLongError' })
    await a.say('mine', 'note to self')
    // joining again is harmless
    assert.equal((await a.joinRoom(room.invite)).name, 'mine')
    await a.stop()
    a = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: dir }))
    assert.deepEqual(a.listRooms().map(r => [r.name, r.invite]), [['mine', room.invite]])
    assert.deepEqual((await a.roomHistory('mine')).map(m => m.text), ['note to self'])
    await a.leaveRoom('mine')
    assert.deepEqual(a.listRooms(), [])
  })
})
