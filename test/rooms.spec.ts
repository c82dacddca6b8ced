/**
 * Integration: encrypted rooms over gossipsub with real nodes and the real bootstrap node.
 */
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { toString as toHex } from 'uint8arrays/to-string'
import { decodeInvite } from '../src/crypto/invite.js'
import { deriveRoomKeys, sealRoomMessage } from '../src/crypto/room.js'
import { Cleanup, startBootstrap, startChat, startPlainGossipNode, tempDir, until, waitFor } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Chat, RoomMembersEvent, RoomMessageEvent } from '../src/index.js'
import type { Message } from '@libp2p/gossipsub'

describe('rooms', function () {
  this.timeout(120_000)
  let cleanup: Cleanup
  let boot: BootstrapNode

  beforeEach(async () => {
    cleanup = new Cleanup()
    boot = cleanup.add(await startBootstrap())
  })

  afterEach(async () => {
    await cleanup.run()
  })

  /** Resolves when `chat` has accepted a room message with this text. */
  async function receives (chat: Chat, text: string, ms = 30_000): Promise<RoomMessageEvent> {
    return await waitFor<RoomMessageEvent>(chat, 'room:message', m => m.text === text, ms)
  }

  /** Waits until every chat sees all the others subscribed to the room (the mesh can form). */
  async function meshed (chats: Chat[], room: string): Promise<void> {
    await until(() => chats.every(c => c.members(room).length === chats.length), 60_000, 'all members online in the room')
  }

  it('says when the number of members online changes: someone joins, someone goes', async () => {
    const [a, b] = await Promise.all([0, 1].map(async () => cleanup.add(await startChat({ bootstrapNode: boot }))))
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
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => cleanup.add(await startChat({ bootstrapNode: boot }))))
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

  it('gives a late joiner the history, verified', async () => {
    const a = cleanup.add(await startChat({ bootstrapNode: boot }))
    const b = cleanup.add(await startChat({ bootstrapNode: boot }))
    const room = await a.createRoom('club')
    await b.joinRoom(room.invite)
    await meshed([a, b], 'club')
    const got = receives(b, 'second')
    await a.say('club', 'first')
    await b.say('club', 'from b')
    await a.say('club', 'second')
    await got

    const late = cleanup.add(await startChat({ bootstrapNode: boot }))
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

  it('lets a member that restarts get what it missed', async () => {
    const dirB = cleanup.dir(await tempDir())
    const a = cleanup.add(await startChat({ bootstrapNode: boot }))
    let b = await startChat({ bootstrapNode: boot, dataDir: dirB })
    const room = await a.createRoom('team')
    await b.joinRoom(room.invite)
    await meshed([a, b], 'team')
    const got = receives(b, 'before')
    await a.say('team', 'before')
    await got
    await b.stop()

    await a.say('team', 'while you were away')
    b = cleanup.add(await startChat({ bootstrapNode: boot, dataDir: dirB }))
    assert.deepEqual(b.listRooms().map(r => r.name), ['team'])
    const missed = await receives(b, 'while you were away')
    assert.equal(missed.synced, true)
    assert.deepEqual((await b.roomHistory('team')).map(m => m.text), ['before', 'while you were away'])
  })

  it('shows a plain gossipsub node on the room topic only ciphertext, and rejects its forgeries', async () => {
    const a = cleanup.add(await startChat({ bootstrapNode: boot }))
    const b = cleanup.add(await startChat({ bootstrapNode: boot }))
    const room = await a.createRoom('secret-plans')
    await b.joinRoom(room.invite)
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)

    // an eavesdropper that somehow learnt the topic name (not the secret)
    const spy = cleanup.add(await startPlainGossipNode())
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
    const invalidBefore = b.rooms.stats.invalid
    await spy.services.pubsub.publish(keys.topic, crypto.getRandomValues(new Uint8Array(200)))
    const wrong = deriveRoomKeys(crypto.getRandomValues(new Uint8Array(32)))
    const { generateKeyPair } = await import('@libp2p/crypto/keys')
    const forged = await sealRoomMessage({ ...wrong, roomId: keys.roomId, topic: keys.topic }, await generateKeyPair('Ed25519'), { text: 'fake' })
    await spy.services.pubsub.publish(keys.topic, forged.bytes)
    await until(() => b.rooms.stats.invalid >= invalidBefore + 2, 30_000, 'both forgeries rejected')
    assert.deepEqual((await b.roomHistory('secret-plans')).map(m => m.text), [text])
  })

  it('rejects a member forging another member', async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(async () => cleanup.add(await startChat({ bootstrapNode: boot }))))
    const room = await a.createRoom('trust')
    await b.joinRoom(room.invite)
    await c.joinRoom(room.invite)
    await meshed([a, b, c], 'trust')
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    const topic = keys.topic

    // c (a member, so it has the key) writes a message that claims a as its author
    const { RoomEnvelope } = await import('../src/rooms/pb/room.js')
    const { xchacha20poly1305 } = await import('@noble/ciphers/chacha.js')
    const real = await sealRoomMessage(keys, (c as any).init.privateKey, { text: 'I am a, honest' })
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
    const before = b.rooms.stats.invalid
    await c.libp2p.services.pubsub.publish(topic, forgedBytes)
    await until(() => b.rooms.stats.invalid > before, 30_000, 'the forgery is rejected')

    assert.equal((await b.roomHistory('trust')).some(m => m.text === 'I am a, honest'), false)
  })

  it('shows a replayed message once, even after gossip has forgotten it', async () => {
    const dirB = cleanup.dir(await tempDir())
    const a = cleanup.add(await startChat({ bootstrapNode: boot }))
    let b = await startChat({ bootstrapNode: boot, dataDir: dirB })
    const room = await a.createRoom('echo')
    await b.joinRoom(room.invite)
    await meshed([a, b], 'echo')
    const got = receives(b, 'only once')
    const sent = await a.say('echo', 'only once')
    await got
    // a restart empties gossipsub's seen-cache; only the persistent id store remembers now
    await b.stop()
    b = cleanup.add(await startChat({ bootstrapNode: boot, dataDir: dirB }))
    const keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    const replayer = cleanup.add(await startPlainGossipNode())
    replayer.services.pubsub.subscribe(keys.topic)
    await replayer.dial(multiaddr(b.addresses()[0]))
    await until(() => replayer.services.pubsub.getSubscribers(keys.topic).some(p => p.equals(b.peerId)), 30_000, 'replayer sees b in the room')
    let shown = 0
    b.addEventListener('room:message', (evt) => { if (evt.detail.id === sent.id) shown++ })
    const before = b.rooms.stats.replayed
    await replayer.services.pubsub.publish(keys.topic, new Uint8Array(Buffer.from(sent.sealed, 'base64')))
    await until(() => b.rooms.stats.replayed > before, 30_000, 'the replay is recognised')
    assert.equal(shown, 0)
    assert.equal((await b.roomHistory('echo')).filter(m => m.text === 'only once').length, 1)
  })

  it('delivers every message to every member in a room of twenty', async () => {
    const chats = await Promise.all(Array.from({ length: 20 }, async () => cleanup.add(await startChat({ bootstrapNode: boot, webrtc: false }))))
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

  it('keeps rooms and refuses bad input', async () => {
    const dir = cleanup.dir(await tempDir())
    let a = await startChat({ bootstrapNode: boot, dataDir: dir })
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
    a = cleanup.add(await startChat({ bootstrapNode: boot, dataDir: dir }))
    assert.deepEqual(a.listRooms().map(r => [r.name, r.invite]), [['mine', room.invite]])
    assert.deepEqual((await a.roomHistory('mine')).map(m => m.text), ['note to self'])
    await a.leaveRoom('mine')
    assert.deepEqual(a.listRooms(), [])
  })
})
