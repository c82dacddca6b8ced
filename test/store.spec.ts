/**
 * ChatStore: contacts, conversations and the outbox over any Datastore. Unit tests run over a
 * MemoryDatastore; one suite runs the same checks over LevelDB on disk, and one closes and reopens it.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { levelStoreOptions } from '../src/platform.js'
import { ChatStore, byTime } from '../src/store/index.js'
import { Cleanup, tempDir } from './fixtures.js'
import type { ChatStoreOptions, Contact, StoredMessage, StoredRoomMessage } from '../src/store/index.js'
import type { Datastore } from 'interface-datastore'

// peer ids are opaque strings to the store
const ALICE = '12D3KooWAliceAliceAliceAliceAliceAliceAliceAlice01'
const BOB = '12D3KooWBobBobBobBobBobBobBobBobBobBobBobBobBob0002'
const CAROL = '12D3KooWCarolCarolCarolCarolCarolCarolCarolCaro03'

let seq = 0
/** A message with a fresh 32-hex id. */
function msg (peer: string, direction: 'in' | 'out', timestamp: number, text = `text ${timestamp}`): StoredMessage {
  const id = (++seq).toString(16).padStart(32, '0')
  return direction === 'out'
    ? { id, peer, direction, text, timestamp, state: 'pending' }
    : { id, peer, direction, text, timestamp, receivedAt: timestamp + 5 }
}

const ids = (ms: StoredMessage[]): string[] => ms.map(m => m.id)

interface Backend {
  name: string
  open(cleanup: Cleanup): Promise<Datastore>
  /** LevelDB copies what it writes: the store hands it views of shared buffers */
  copiesValues?: boolean
  /** LevelDB's own batch and reverse reads under the datastore, as in the Node client: the direct
   * messages' writes go to its batch, a history's last messages are read from the end */
  level?: boolean
}

async function openLevelDatastore (cleanup: Cleanup): Promise<LevelDatastore> {
  const ds = new LevelDatastore(join(cleanup.dir(await tempDir('megachat-store-')), 'db'))
  await ds.open()
  cleanup.add({ stop: async () => { await ds.close() } })
  return ds
}

/** The store's options for a backend's datastore. */
function options (backend: Backend, datastore: Datastore): ChatStoreOptions {
  return backend.level === true ? levelStoreOptions(datastore as LevelDatastore) : { copiesValues: backend.copiesValues }
}

const backends: Backend[] = [
  { name: 'MemoryDatastore', open: async () => new MemoryDatastore() },
  { name: 'LevelDatastore', copiesValues: true, open: openLevelDatastore },
  // everything written through LevelDB's own batch is read back through the datastore, and histories
  // from the end of LevelDB
  { name: 'LevelDatastore with LevelDB\'s batch and reverse reads', copiesValues: true, level: true, open: openLevelDatastore }
]

for (const backend of backends) {
  describe(`ChatStore over ${backend.name}`, function () {
    this.timeout(10_000)
    const cleanup = new Cleanup()
    let store: ChatStore

    beforeEach(async () => {
      const datastore = await backend.open(cleanup)
      store = new ChatStore(datastore, options(backend, datastore))
    })

    afterEach(async () => { await cleanup.run() })

    describe('contacts', () => {
      it('puts, gets, lists and deletes contacts', async () => {
        assert.equal(await store.getContact(BOB), undefined)
        assert.deepEqual(await store.listContacts(), [])

        const bob: Contact = { peerId: BOB, name: 'bob', addedAt: 1000 }
        const carol: Contact = { peerId: CAROL, name: 'carol', addedAt: 2000, lastSeen: 2500 }
        await store.putContact(bob)
        await store.putContact(carol)
        assert.deepEqual(await store.getContact(BOB), bob)
        assert.deepEqual(await store.getContact(CAROL), carol)
        const listed = await store.listContacts()
        assert.deepEqual(listed.sort((a, b) => a.name.localeCompare(b.name)), [bob, carol])

        // put again overwrites (last seen is updated this way)
        const seen = { ...bob, lastSeen: 9999 }
        await store.putContact(seen)
        assert.deepEqual(await store.getContact(BOB), seen)
        assert.equal((await store.listContacts()).length, 2)

        await store.deleteContact(BOB)
        assert.equal(await store.getContact(BOB), undefined)
        assert.deepEqual(await store.listContacts(), [carol])
        // deleting what is not there is fine
        await store.deleteContact(BOB)
        assert.deepEqual(await store.listContacts(), [carol])
      })

      it('throws CorruptDataError for a contact record that is not JSON', async () => {
        await store.datastore.put(new Key(`/megachat/contact/${BOB}`), new TextEncoder().encode('{"peerId":'))
        await assert.rejects(store.getContact(BOB), { name: 'CorruptDataError' })
        await assert.rejects(store.listContacts(), { name: 'CorruptDataError' })
      })
    })

    describe('messages', () => {
      it('addOutgoing stores the message in the history and in the outbox, numbered per peer', async () => {
        const m = msg(BOB, 'out', 1000, 'hello')
        await store.addOutgoing(m)
        assert.equal(m.seq, 1)
        assert.ok(m.order != null && m.order >= Date.now() * 1000 - 60_000_000, 'ordered by this device\'s clock')
        assert.deepEqual(await store.getMessage(BOB, m.id), m)
        assert.deepEqual(await store.history(BOB), [m])
        assert.deepEqual(await store.outbox(BOB), [m])
        assert.deepEqual(await store.outboxPeers(), [BOB])
        // nothing leaks into another conversation
        assert.deepEqual(await store.history(CAROL), [])
        assert.deepEqual(await store.outbox(CAROL), [])
        assert.equal(await store.getMessage(CAROL, m.id), undefined)
        // numbers count per peer, and several messages go in one batch in the order given
        const [toCarol, second, third] = [msg(CAROL, 'out', 1), msg(BOB, 'out', 1), msg(BOB, 'out', 1)]
        await store.addOutgoing(toCarol, second, third)
        assert.deepEqual([toCarol.seq, second.seq, third.seq], [1, 2, 3])
        assert.deepEqual(ids(await store.outbox(BOB)), ids([m, second, third]))
      })

      it('markDelivered takes messages out of the outbox and marks them delivered, once', async () => {
        const first = msg(BOB, 'out', 1000)
        const second = msg(BOB, 'out', 2000)
        await store.addOutgoing(first)
        await store.addOutgoing(second)
        assert.deepEqual(ids(await store.outbox(BOB)), [first.id, second.id])

        const delivered = await store.markDelivered([first])
        assert.deepEqual(delivered, [{ ...first, state: 'delivered' }])
        assert.deepEqual(ids(await store.outbox(BOB)), [second.id])
        assert.equal((await store.getMessage(BOB, first.id))?.state, 'delivered')
        const history = await store.history(BOB)
        assert.deepEqual(history.map(m => [m.id, m.state]), [[first.id, 'delivered'], [second.id, 'pending']])
        assert.deepEqual(await store.markDelivered(delivered), [], 'a delivered copy changes nothing')
        assert.deepEqual(ids(await store.outbox(BOB)), [second.id])
        assert.deepEqual(await store.markDelivered([second]), [{ ...second, state: 'delivered' }])
        assert.deepEqual(await store.outboxPeers(), [])
      })

      it('markDelivered ignores incoming messages', async () => {
        const m = msg(BOB, 'in', 1000)
        assert.deepEqual(await store.addIncoming(BOB, [m]), [m])
        assert.deepEqual(await store.markDelivered([m]), [])
        assert.deepEqual(await store.getMessage(BOB, m.id), m)
      })

      it('addIncoming stores a message once: a duplicate is left out and not stored again', async () => {
        const m = msg(BOB, 'in', 1000, 'hi')
        assert.deepEqual(await store.addIncoming(BOB, [m]), [m])
        assert.deepEqual(await store.addIncoming(BOB, [{ ...m }]), [])
        // same id, different timestamp and text (a replay or a confused sender): still a duplicate
        assert.deepEqual(await store.addIncoming(BOB, [{ ...m, timestamp: 5000, text: 'changed' }]), [])
        // twice in one batch: once
        const twice = msg(BOB, 'in', 1001)
        assert.deepEqual(ids(await store.addIncoming(BOB, [twice, { ...twice }])), [twice.id])
        assert.deepEqual(ids(await store.history(BOB)), [m.id, twice.id])
        assert.deepEqual(await store.outbox(BOB), [], 'incoming messages never go into the outbox')
        assert.deepEqual(await store.outboxPeers(), [])

        // the same id from another peer is another message
        assert.equal((await store.addIncoming(CAROL, [{ ...m, peer: CAROL }])).length, 1)
        assert.equal((await store.history(CAROL)).length, 1)
        // a message that names another peer than the one it came from is not stored
        assert.deepEqual(await store.addIncoming(BOB, [msg(CAROL, 'in', 1)]), [])
      })

      it('addIncoming and addRoomMessage store a message once even when it arrives twice at the same time', async () => {
        const m = msg(BOB, 'in', 1000, 'twice at once')
        const results = await Promise.all([store.addIncoming(BOB, [m]), store.addIncoming(BOB, [{ ...m }]), store.addIncoming(BOB, [{ ...m }])])
        assert.deepEqual(results.map(r => r.length), [1, 0, 0])
        assert.equal((await store.history(BOB)).length, 1)
        const r = { id: 'ab'.repeat(16), roomId: 'cd'.repeat(32), author: BOB, timestamp: 1000, text: 'room', receivedAt: 1001, sealed: 'AA==' }
        const roomResults = await Promise.all([store.addRoomMessage(r), store.addRoomMessage({ ...r })])
        assert.deepEqual(roomResults.filter(Boolean), [true])
        assert.equal((await store.roomHistory(r.roomId)).length, 1)
      })

      it('history returns the last n messages, oldest first, in the order they were sent and arrived (not by the authors\' clocks)', async () => {
        // authors' clocks disagree: the conversation still reads in the order things happened here
        const t = [5000, 1000, 3000, 2000, 4000, 10_000_000_000_000, 900]
        const stored: StoredMessage[] = []
        for (const [i, ts] of t.entries()) {
          const m = msg(BOB, i % 2 === 0 ? 'out' : 'in', ts)
          if (m.direction === 'out') await store.addOutgoing(m)
          else assert.equal((await store.addIncoming(BOB, [m])).length, 1)
          stored.push(m)
        }
        await store.addOutgoing(msg(CAROL, 'out', 2500))

        assert.deepEqual(ids(await store.history(BOB)), ids(stored))
        assert.deepEqual(ids(await store.history(BOB, 3)), ids(stored.slice(-3)))
        assert.deepEqual(ids(await store.history(BOB, 1)), ids(stored.slice(-1)))
        assert.equal((await store.history(CAROL)).length, 1)
      })

      it('a burst of messages in one millisecond keeps its order', async () => {
        const burst = Array.from({ length: 500 }, () => msg(BOB, 'out', 1000))
        await store.addOutgoing(...burst)
        const arrived = Array.from({ length: 500 }, () => msg(BOB, 'in', 1000))
        await store.addIncoming(BOB, arrived)
        assert.deepEqual(ids(await store.history(BOB, 1000)), ids([...burst, ...arrived]))
        assert.deepEqual(ids(await store.outbox(BOB)), ids(burst))
        assert.deepEqual(ids(await store.outbox(BOB, 10)), ids(burst.slice(0, 10)))
      })

      it('messages stored before there was an order sort by their timestamp, before newer ones', async () => {
        const old = msg(BOB, 'in', 1_600_000_000_000)
        const key = `/megachat/msg/${BOB}/${String(old.timestamp).padStart(16, '0')}-${old.id}`
        await store.datastore.put(new Key(key), new TextEncoder().encode(JSON.stringify(old)))
        const now = msg(BOB, 'out', 1)
        await store.addOutgoing(now)
        assert.deepEqual(ids(await store.history(BOB)), [old.id, now.id])
      })

      it('reads back the JSON records and outbox entries that earlier versions wrote, beside new ones', async () => {
        // written exactly as the version before the binary records did: the message as JSON, the id index
        // and the outbox entry pointing at its key, and the peer's seq counter
        const legacy = async (m: StoredMessage, order: number, seq?: number, waiting = false): Promise<StoredMessage> => {
          const stored = { ...m, order, ...(seq != null ? { seq } : {}) }
          const key = `/megachat/msg/${m.peer}/${String(order).padStart(16, '0')}-${m.id}`
          const batch = store.datastore.batch()
          batch.put(new Key(key), new TextEncoder().encode(JSON.stringify(stored)))
          batch.put(new Key(`/megachat/msgid/${m.peer}/${m.id}`), new TextEncoder().encode(key))
          if (waiting) batch.put(new Key(`/megachat/outbox/${m.peer}/${String(order).padStart(16, '0')}-${m.id}`), new TextEncoder().encode(key))
          if (seq != null && m.direction === 'out') batch.put(new Key(`/megachat/seq/${m.peer}`), new TextEncoder().encode(String(seq)))
          await batch.commit()
          return stored
        }
        // one from before seq, still waiting in the outbox
        const ancient = await legacy(msg(BOB, 'out', 1_600_000_000_000, 'from before seq'), 1_600_000_000_000_000, undefined, true)
        const oldIn = await legacy(msg(BOB, 'in', 1_700_000_000_000, 'old and arrived'), 1_700_000_000_000_000)
        const oldDelivered = await legacy(msg(BOB, 'out', 1_700_000_000_001), 1_700_000_000_001_000, 1)
        const oldOut = await legacy(msg(BOB, 'out', 1_700_000_000_002, 'old and waiting ✓'), 1_700_000_000_002_000, 2, true)
        const newOut = msg(BOB, 'out', 1_700_000_000_003, 'new ✓ émoji 🎉')
        await store.addOutgoing(newOut)
        assert.equal(newOut.seq, 3, 'numbering goes on from the old counter')
        const newIn = msg(BOB, 'in', 1_700_000_000_004, 'new and arrived')
        await store.addIncoming(BOB, [{ ...newIn, seq: 7 }])

        const history = await store.history(BOB)
        assert.deepEqual(ids(history), ids([ancient, oldIn, oldDelivered, oldOut, newOut, newIn]))
        assert.deepEqual(history.map(m => m.text), [ancient.text, oldIn.text, oldDelivered.text, oldOut.text, newOut.text, newIn.text])
        assert.deepEqual(history.map(m => m.state), ['pending', undefined, 'delivered', 'pending', 'pending', undefined])
        // the last ones alone, across old records and new
        const three = await store.history(BOB, 3)
        assert.deepEqual(ids(three), ids([oldOut, newOut, newIn]))
        assert.deepEqual(three.map(m => m.state), ['pending', 'pending', undefined])
        assert.deepEqual(history[1], oldIn)
        assert.deepEqual(history[5], { ...newIn, seq: 7, order: history[5].order })
        assert.deepEqual(await store.getMessage(BOB, oldOut.id), oldOut)
        assert.deepEqual(await store.getMessage(BOB, newOut.id), newOut)
        // the outbox: the message from before seq (its entry), the old one waiting and the new one
        assert.deepEqual(await store.outbox(BOB), [ancient, oldOut, newOut])
        assert.deepEqual(await store.outbox(BOB, 10, oldOut), [newOut])
        assert.deepEqual(await store.outbox(BOB, 2), [ancient, oldOut])
        assert.equal(await store.outboxCount(BOB), 3)
        // the old entry with a seq became the mark; the one without stays until it is delivered
        const entries = async (): Promise<number> => { let n = 0; for await (const _ of store.datastore.queryKeys({ prefix: '/megachat/outbox/' })) n++; return n }
        assert.equal(await entries(), 1)
        // an old message arriving again is still recognised by its id
        assert.deepEqual(await store.addIncoming(BOB, [{ ...oldIn }]), [])
        assert.deepEqual(ids(await store.markDelivered([ancient, oldOut, newOut])), ids([ancient, oldOut, newOut]))
        assert.deepEqual(await store.outbox(BOB), [])
        assert.equal(await entries(), 0)
        assert.deepEqual(await store.outboxPeers(), [])
        assert.deepEqual((await store.history(BOB)).map(m => m.state), ['delivered', undefined, 'delivered', 'delivered', 'delivered', undefined])
      })

      it('sending writes the message alone (no outbox or id entry), and an ack one mark per peer', async () => {
        const count = async (prefix: string): Promise<number> => { let n = 0; for await (const _ of store.datastore.queryKeys({ prefix })) n++; return n }
        const burst = Array.from({ length: 20 }, (_, i) => msg(BOB, 'out', 1000 + i))
        await store.addOutgoing(...burst)
        assert.equal(await count('/megachat/msg/'), 20)
        assert.equal(await count('/megachat/outbox/'), 0)
        assert.equal(await count('/megachat/msgid/'), 0)
        assert.deepEqual(await store.markDelivered(burst.slice(0, 5)), burst.slice(0, 5).map(m => ({ ...m, state: 'delivered' })))
        assert.equal(await count('/megachat/acked/'), 1)
        assert.deepEqual(ids(await store.outbox(BOB)), ids(burst.slice(5)))
        assert.equal(await store.outboxCount(BOB), 15)
      })

      it('markDelivered moves on only in order: one after a gap stays waiting', async () => {
        const [a, b, c] = [msg(BOB, 'out', 1000), msg(BOB, 'out', 1001), msg(BOB, 'out', 1002)]
        await store.addOutgoing(a, b, c)
        assert.deepEqual(await store.markDelivered([c]), [], 'the ones before it are not delivered')
        assert.deepEqual(ids(await store.outbox(BOB)), ids([a, b, c]))
        assert.deepEqual(ids(await store.markDelivered([b, a])), ids([a, b]), 'given out of order, taken in order')
        assert.deepEqual(ids(await store.outbox(BOB)), ids([c]))
        assert.deepEqual((await store.history(BOB)).map(m => m.state), ['delivered', 'delivered', 'pending'])
      })

      it('the outbox skips what the peer sent meanwhile, and reads on after a page', async () => {
        const mine = Array.from({ length: 6 }, (_, i) => msg(BOB, 'out', 1000 + i))
        for (const [i, m] of mine.entries()) {
          await store.addOutgoing(m)
          await store.addIncoming(BOB, [msg(BOB, 'in', 2000 + i)])
        }
        await store.markDelivered(mine.slice(0, 2))
        assert.deepEqual(ids(await store.outbox(BOB)), ids(mine.slice(2)))
        const page = await store.outbox(BOB, 2)
        assert.deepEqual(ids(page), ids(mine.slice(2, 4)))
        assert.deepEqual(ids(await store.outbox(BOB, 2, page[1])), ids(mine.slice(4)))
      })

      it('blocking a peer leaves nothing waiting for them', async () => {
        await store.addOutgoing(msg(BOB, 'out', 1000), msg(BOB, 'out', 1001))
        await store.block({ peerId: BOB, blockedAt: 5 })
        assert.deepEqual(await store.outbox(BOB), [])
        assert.deepEqual(await store.outboxPeers(), [])
        assert.equal(await store.outboxCount(BOB), 0)
        const after = msg(BOB, 'out', 1002)
        await store.addOutgoing(after)
        assert.equal(after.seq, 3, 'numbering goes on')
        assert.deepEqual(ids(await store.outbox(BOB)), [after.id])
      })

      it('a message record that does not decode is a CorruptDataError', async () => {
        const m = msg(BOB, 'in', 1000)
        await store.addIncoming(BOB, [m])
        let key: Key | undefined
        for await (const k of store.datastore.queryKeys({ prefix: `/megachat/msg/${BOB}/` })) key = k
        assert.ok(key != null)
        // field 2 (the text) says 127 bytes and has one
        await store.datastore.put(key, Uint8Array.of(0x12, 0x7f, 0x01))
        await assert.rejects(store.history(BOB), { name: 'CorruptDataError' })
      })

      it('outboxPeers lists only the peers with messages waiting', async () => {
        assert.deepEqual(await store.outboxPeers(), [])
        const toBob = msg(BOB, 'out', 1000)
        const toBob2 = msg(BOB, 'out', 1100)
        const toCarol = msg(CAROL, 'out', 1200)
        await store.addOutgoing(toBob, toBob2, toCarol)
        assert.equal((await store.addIncoming(ALICE, [msg(ALICE, 'in', 1300)])).length, 1)
        assert.deepEqual((await store.outboxPeers()).sort(), [BOB, CAROL].sort())

        await store.markDelivered([toCarol])
        assert.deepEqual(await store.outboxPeers(), [BOB])
        await store.markDelivered([toBob])
        assert.deepEqual(await store.outboxPeers(), [BOB], 'one message to bob still waits')
        await store.markDelivered([toBob2])
        assert.deepEqual(await store.outboxPeers(), [])
      })
    })

    describe('rooms', () => {
      const ROOM = 'cd'.repeat(32)
      const roomMsg = (timestamp: number): StoredRoomMessage => {
        const m = msg(BOB, 'in', timestamp)
        return { id: m.id, roomId: ROOM, author: BOB, timestamp, text: m.text, receivedAt: timestamp, sealed: 'AA==' }
      }

      it('roomItems lists the newest messages of a room as (timestamp, id), oldest first, from the keys', async () => {
        // stored out of time order; one timestamp twice (the id decides); another room beside it
        const stored = [5000, 1000, 3000, 3000, 2000, 9_000_000_000_000_000, 0].map(roomMsg)
        for (const m of stored) assert.equal(await store.addRoomMessage(m), true)
        await store.addRoomMessage({ ...roomMsg(4000), roomId: 'ef'.repeat(32) })
        const items = stored.map(({ timestamp, id }) => ({ timestamp, id })).sort(byTime)

        assert.deepEqual(await store.roomItems(ROOM, 100), items)
        assert.deepEqual(await store.roomItems(ROOM, 3), items.slice(-3))
        assert.deepEqual(await store.roomItems(ROOM, 100, 2000, 5000), items.filter(i => i.timestamp >= 2000 && i.timestamp <= 5000))
        assert.deepEqual(await store.roomItems(ROOM, 2, 0, 5000), items.filter(i => i.timestamp <= 5000).slice(-2))
        assert.deepEqual(await store.roomItems('00'.repeat(32), 100), [])
      })

      it('roomHistory gives the last messages at or after `since`, oldest first', async () => {
        const stored = [5000, 1000, 3000, 3000, 2000, 0].map(roomMsg)
        for (const m of stored) assert.equal(await store.addRoomMessage(m), true)
        await store.addRoomMessage({ ...roomMsg(4000), roomId: 'ef'.repeat(32) })
        const sorted = [...stored].sort(byTime)
        const roomIds = (ms: StoredRoomMessage[]): string[] => ms.map(m => m.id)
        assert.deepEqual(roomIds(await store.roomHistory(ROOM, 100)), roomIds(sorted))
        assert.deepEqual(roomIds(await store.roomHistory(ROOM, 2)), roomIds(sorted.slice(-2)))
        assert.deepEqual(roomIds(await store.roomHistory(ROOM, 100, 3000)), roomIds(sorted.filter(m => m.timestamp >= 3000)))
        assert.deepEqual(roomIds(await store.roomHistory(ROOM, 2, 3000)), roomIds(sorted.filter(m => m.timestamp >= 3000).slice(-2)))
        assert.deepEqual(roomIds(await store.roomHistory(ROOM, 5, 6000)), [])
        assert.deepEqual(await store.roomHistory('00'.repeat(32)), [])
      })

      it('getRoomMessage finds a room message by its item', async () => {
        const m = roomMsg(7000)
        await store.addRoomMessage(m)
        assert.deepEqual(await store.getRoomMessage(ROOM, { timestamp: 7000, id: m.id }), m)
        assert.equal(await store.getRoomMessage(ROOM, { timestamp: 7001, id: m.id }), undefined)
        assert.equal(await store.getRoomMessage('00'.repeat(32), { timestamp: 7000, id: m.id }), undefined)
      })
    })
  })
}

describe('ChatStore over LevelDB on disk', function () {
  this.timeout(10_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('keeps contacts, history, the outbox, sequence numbers and order across close and reopen', async () => {
    const path = join(cleanup.dir(await tempDir('megachat-store-')), 'db')
    const first = new LevelDatastore(path)
    await first.open()
    const store = new ChatStore(first, levelStoreOptions(first))
    const bob: Contact = { peerId: BOB, name: 'bob', addedAt: 1000 }
    const sent = msg(BOB, 'out', 1000, 'hello bob')
    const received = msg(BOB, 'in', 2000, 'hi alice')
    const waiting = msg(BOB, 'out', 3000, 'are you there?')
    await store.putContact(bob)
    await store.addOutgoing(sent)
    assert.equal((await store.addIncoming(BOB, [received])).length, 1)
    await store.addOutgoing(waiting)
    await store.markDelivered([sent])
    // the clock ran ahead (then the system clock was set back): order must still go forward after a restart
    await first.put(new Key('/megachat/clock'), new TextEncoder().encode(String((Date.now() + 3_600_000) * 1000)))
    await first.close()

    const second = new LevelDatastore(path)
    await second.open()
    cleanup.add({ stop: async () => { await second.close() } })
    const reopened = new ChatStore(second, { copiesValues: true })
    assert.deepEqual(await reopened.listContacts(), [bob])
    assert.deepEqual(await reopened.history(BOB), [{ ...sent, state: 'delivered' }, received, waiting])
    assert.deepEqual(await reopened.outbox(BOB), [waiting])
    assert.deepEqual(await reopened.outboxPeers(), [BOB])
    assert.deepEqual(await reopened.addIncoming(BOB, [received]), [], 'the dedupe index survives too')
    const next = msg(BOB, 'out', 1)
    await reopened.addOutgoing(next)
    assert.equal(next.seq, 3, 'numbering goes on where it stopped')
    assert.deepEqual(ids(await reopened.history(BOB)), [sent.id, received.id, waiting.id, next.id])
    assert.deepEqual(await reopened.markDelivered([waiting]), [{ ...waiting, state: 'delivered' }])
    assert.deepEqual(ids(await reopened.outbox(BOB)), [next.id])
  })
})

describe('ChatStore values', () => {
  it('without copiesValues, every value written is a buffer of its own (IndexedDB stores a view\'s whole buffer)', async () => {
    const datastore = new MemoryDatastore()
    const store = new ChatStore(datastore)
    await store.addOutgoing(...Array.from({ length: 20 }, (_, i) => msg(BOB, 'out', 1000 + i, 'x'.repeat(100))))
    await store.addIncoming(BOB, Array.from({ length: 20 }, (_, i) => msg(BOB, 'in', 2000 + i)))
    let values = 0
    for await (const { value } of datastore.query({ prefix: '/megachat/' })) {
      assert.equal(value.buffer.byteLength, value.byteLength, 'a value shares its buffer')
      values++
    }
    assert.ok(values >= 60, `${values} values`) // 40 records, the 20 id entries of those received, the counters
    assert.equal((await store.history(BOB, 100)).length, 40)
  })
})
