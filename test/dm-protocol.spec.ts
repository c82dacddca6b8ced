/**
 * The direct-message protocol (/megachat/dm/2.0.0): the frame codec, acks that follow storage, a window of
 * messages in flight, and
 * hostile input from a peer (garbage, oversized or malformed frames, too many streams), on two real
 * libp2p nodes over loopback TCP.
 */
import assert from 'node:assert/strict'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { fromString as fromHex } from 'uint8arrays/from-string'
import { toString as toHex } from 'uint8arrays/to-string'
import { DM_MAX_INBOUND_STREAMS, DM_MAX_UNSTORED, DM_WINDOW, DM_PROTOCOL, MAX_CLOCK_AHEAD_MS, MAX_DM_FRAME_BYTES, MAX_TEXT_BYTES, MIN_TIMESTAMP } from '../src/constants.js'
import { directMessages } from '../src/direct/index.js'
import { DmFrame } from '../src/direct/pb/dm.js'
import { Cleanup, until } from './fixtures.js'
import type { DirectMessage, DirectMessages, DirectMessagesInit } from '../src/direct/index.js'
import type { Connection, Libp2p, PeerId, Stream, StreamCloseEvent } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

type Node = Libp2p<{ dm: DirectMessages, ping: Ping }>

interface Received { from: PeerId, message: DirectMessage, connection: Connection }

const WAIT_MS = 10_000

let counter = 0
/** A message with a fresh 32-hex (16-byte) id. */
function message (text = 'hello'): DirectMessage {
  const id = toHex(crypto.getRandomValues(new Uint8Array(16)), 'base16')
  return { id, timestamp: Date.now() + counter++, text }
}

/** One frame's bytes, encoded as the sender would, with any field overridden. */
function frame (m: Partial<{ id: Uint8Array<ArrayBuffer>, timestamp: bigint, text: string, seq: bigint }>): Uint8Array {
  return DmFrame.encode({ message: { id: crypto.getRandomValues(new Uint8Array(16)), timestamp: BigInt(Date.now()), text: 'x', ...m } })
}

/** A varint, as protobuf writes it. */
function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80)
  return [...out, n]
}

/** A promise with its resolve and reject, for a `receive` that waits until the test lets it go. */
function deferred<T = void> (): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>()
}

/** Resolves when the stream is closed, reset or aborted (at once if it already is); rejects after `ms`. */
async function closed (stream: Stream, ms = WAIT_MS): Promise<{ status: string, error?: Error }> {
  if (stream.status !== 'open' && stream.status !== 'closing') return { status: stream.status }
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`stream still ${stream.status} after ${ms} ms`)) }, ms)
    stream.addEventListener('close', (evt) => {
      clearTimeout(timer)
      resolve({ status: stream.status, error: (evt as StreamCloseEvent).error })
    }, { once: true })
  })
}

/** Settles within `ms`, or rejects: for promises that must end one way or the other. */
async function settle<T> (p: Promise<T>, ms = WAIT_MS): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const result = await Promise.race([
    Promise.allSettled([p]).then(([r]) => r),
    new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`not settled after ${ms} ms`)) }, ms) })
  ])
  clearTimeout(timer)
  return result
}

describe('direct messages', function () {
  this.timeout(30_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  /** A node on loopback with the dm service; `receive` records every call unless replaced. */
  async function startNode (init: Partial<DirectMessagesInit> = {}): Promise<{ node: Node, received: Received[] }> {
    const received: Received[] = []
    const receive = init.receive ?? (async (from, ms, connection) => { for (const m of ms) received.push({ from, message: m, connection }) })
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        dm: directMessages({ ...init, receive }),
        ping: ping()
      }
    })
    cleanup.add({ stop: async () => { await node.stop() } })
    return { node, received }
  }

  /** A sender and a receiver, already connected. */
  async function pair (receiverInit: Partial<DirectMessagesInit> = {}, senderInit: Partial<DirectMessagesInit> = {}): Promise<{ sender: Node, receiver: Node, received: Received[] }> {
    const { node: receiver, received } = await startNode(receiverInit)
    const { node: sender } = await startNode(senderInit)
    await sender.dial(receiver.getMultiaddrs()[0])
    return { sender, receiver, received }
  }

  /** A raw stream from sender to receiver on the dm protocol, to write whatever bytes a test wants. */
  async function rawStream (sender: Node, receiver: Node): Promise<Stream> {
    return await sender.dialProtocol(receiver.peerId, DM_PROTOCOL, { signal: AbortSignal.timeout(WAIT_MS) })
  }

  describe('frame codec', () => {
    it('round-trips a message frame', () => {
      const id = crypto.getRandomValues(new Uint8Array(16))
      const text = 'hello ✓ — ünïcödé 👋'
      const decoded = DmFrame.decode(DmFrame.encode({ message: { id, timestamp: 1_700_000_000_123n, text } }))
      assert.equal(decoded.ack, undefined)
      assert.deepEqual(decoded.message?.id, id)
      assert.equal(decoded.message?.timestamp, 1_700_000_000_123n)
      assert.equal(decoded.message?.text, text)
    })

    it('round-trips an ack frame and a sequence number', () => {
      const decoded = DmFrame.decode(DmFrame.encode({ ack: { count: 300n } }))
      assert.equal(decoded.message, undefined)
      assert.equal(decoded.ack?.count, 300n)
      const id = crypto.getRandomValues(new Uint8Array(16))
      assert.equal(DmFrame.decode(DmFrame.encode({ message: { id, timestamp: 5n, text: 'x', seq: 42n } })).message?.seq, 42n)
    })

    it('round-trips the largest text and timestamp', () => {
      const text = 'a'.repeat(MAX_TEXT_BYTES)
      const id = new Uint8Array(16).fill(0xff)
      const bytes = DmFrame.encode({ message: { id, timestamp: BigInt(Number.MAX_SAFE_INTEGER), text } })
      assert.ok(bytes.byteLength <= MAX_DM_FRAME_BYTES, `a full frame (${bytes.byteLength} bytes) fits the frame limit`)
      const decoded = DmFrame.decode(bytes)
      assert.equal(decoded.message?.text, text)
      assert.equal(decoded.message?.timestamp, BigInt(Number.MAX_SAFE_INTEGER))
    })

    it('decodes defaults for fields left out, and skips unknown fields', () => {
      const empty = DmFrame.decode(DmFrame.encode({ message: { id: new Uint8Array(0), timestamp: 0n, text: '' } }))
      assert.equal(empty.message?.id.byteLength, 0)
      assert.equal(empty.message?.timestamp, 0n)
      assert.equal(empty.message?.text, '')
      // field 15, varint 1, before a real ack
      const withUnknown = Uint8Array.from([0x78, 0x01, ...DmFrame.encode({ ack: { count: 7n } })])
      assert.equal(DmFrame.decode(withUnknown).ack?.count, 7n)
    })

    it('throws on truncated bytes', () => {
      const bytes = DmFrame.encode({ message: { id: new Uint8Array(16), timestamp: 5n, text: 'truncated' } })
      assert.throws(() => DmFrame.decode(bytes.subarray(0, bytes.byteLength - 3)))
    })
  })

  describe('service', () => {
    it('delivers messages with the connection\'s peer as author, and reports each ack in order', async () => {
      const { sender, receiver, received } = await pair()
      const messages = [message('one'), message('two'), message('three')]
      const acks: string[] = []
      await sender.services.dm.send(receiver.peerId, messages, { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(acks, messages.map(m => m.id))
      assert.deepEqual(received.map(r => r.message), messages)
      for (const r of received) {
        assert.equal(r.from.toString(), sender.peerId.toString())
        assert.equal(r.connection.remotePeer.toString(), sender.peerId.toString())
      }
      assert.deepEqual(receiver.services.dm.stats, { received: 3, oversized: 0, malformed: 0, refused: 0, failedStreams: 0 })
      assert.equal(receiver.services.dm.protocol, DM_PROTOCOL)
    })

    it('offers the protocol only once listen() gave it a receiver, and takes streams from then on', async () => {
      const received: DirectMessage[] = []
      const receiver = await createLibp2p({
        start: false,
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { dm: directMessages({}), ping: ping() }
      })
      cleanup.add({ stop: async () => { await receiver.stop() } })
      await receiver.start()
      const { node: sender } = await startNode()
      await sender.dial(receiver.getMultiaddrs()[0])
      // no receiver yet: the protocol is not offered, so a sender keeps its messages
      await assert.rejects(sender.services.dm.send(receiver.peerId, [message('early')], { signal: AbortSignal.timeout(WAIT_MS) }), (err: Error) => err.name === 'UnsupportedProtocolError')
      await receiver.services.dm.listen(async (_from, ms) => { received.push(...ms) })
      await assert.rejects(receiver.services.dm.listen(async () => {}), 'one receiver only')
      const m = message('after listen')
      await sender.services.dm.send(receiver.peerId, [m], { signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(received, [m])
    })

    it('sends more than a window on one kept-open stream and keeps the order', async () => {
      const { sender, receiver, received } = await pair()
      const connection = sender.getConnections(receiver.peerId)[0]
      const dmStreams = (): number => connection.streams.filter(s => s.protocol === DM_PROTOCOL).length
      let most = 0
      const messages = Array.from({ length: DM_WINDOW * 2 + 3 }, (_, i) => message(`m${i}`))
      const acks: string[] = []
      await sender.services.dm.send(receiver.peerId, messages, {
        onAck: (ids) => {
          acks.push(...ids)
          most = Math.max(most, dmStreams())
        },
        signal: AbortSignal.timeout(WAIT_MS)
      })
      assert.deepEqual(acks, messages.map(m => m.id))
      assert.deepEqual(received.map(r => r.message.id), messages.map(m => m.id))
      assert.equal(most, 1, 'one stream for all of them')
      assert.equal(dmStreams(), 1, 'the stream is kept for the next message')
      // the next message reuses it
      await sender.services.dm.send(receiver.peerId, [message('one more')], { signal: AbortSignal.timeout(WAIT_MS) })
      assert.equal(dmStreams(), 1)
      assert.equal(receiver.services.dm.stats.received, messages.length + 1)
      assert.equal(receiver.services.dm.stats.failedStreams, 0)
    })

    it('closes a kept stream once it has been idle, cleanly on both sides', async () => {
      const { sender, receiver } = await pair({}, { streamIdleTimeout: 200 })
      const connection = sender.getConnections(receiver.peerId)[0]
      await sender.services.dm.send(receiver.peerId, [message('hi')], { signal: AbortSignal.timeout(WAIT_MS) })
      assert.equal(connection.streams.filter(s => s.protocol === DM_PROTOCOL).length, 1)
      await until(() => connection.streams.every(s => s.protocol !== DM_PROTOCOL), WAIT_MS, 'the idle stream to close')
      await sender.services.dm.send(receiver.peerId, [message('again')], { signal: AbortSignal.timeout(WAIT_MS) })
      assert.equal(receiver.services.dm.stats.received, 2)
      assert.equal(receiver.services.dm.stats.failedStreams, 0)
    })

    it('acknowledges messages only after receive resolved, and reads on meanwhile', async () => {
      const gate = deferred()
      const batches: string[][] = []
      const { sender, receiver } = await pair({
        receive: async (_from, ms) => {
          batches.push(ms.map(m => m.id))
          if (batches.length === 1) await gate.promise
        }
      })
      const first = message('first')
      const later = [message('second'), message('third')]
      const acks: string[] = []
      const sending = sender.services.dm.send(receiver.peerId, [first], { onAck: (ids) => { acks.push(...ids) }, more: () => later.splice(0), signal: AbortSignal.timeout(WAIT_MS) })
      let sent = false
      void sending.then(() => { sent = true }, () => { sent = true })

      await until(() => batches.length === 1, WAIT_MS, 'receive of the first message')
      // Two ping round trips on the same connection: an ack written before them would have arrived first.
      await sender.services.ping.ping(receiver.peerId)
      await sender.services.ping.ping(receiver.peerId)
      assert.deepEqual(acks, [], 'no ack for a message whose receive has not resolved')
      assert.equal(sent, false)
      assert.equal(receiver.services.dm.stats.received, 0)

      gate.resolve()
      await sending
      assert.deepEqual(acks, [first.id, ...batches.slice(1).flat()])
      assert.deepEqual(batches.flat(), acks, 'each message stored once, in order')
      assert.equal(receiver.services.dm.stats.received, 3)
    })

    it('stores a burst in batches and acknowledges each batch with one ack', async () => {
      let calls = 0
      const { sender, receiver, received } = await pair({
        receive: async (_from, ms) => {
          calls++
          for (const m of ms) received.push({ from: sender.peerId, message: m, connection: undefined as any })
          // as a disk write takes a moment: frames that arrive meanwhile make the next batch
          await new Promise(resolve => setTimeout(resolve, 1))
        }
      })
      const messages = Array.from({ length: 2000 }, (_, i) => ({ ...message(`burst ${i}`), seq: i + 1 }))
      let ackFrames = 0
      await sender.services.dm.send(receiver.peerId, messages, { onAck: () => { ackFrames++ }, signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(received.map(r => r.message), messages, 'every message, in order, with its sequence number')
      assert.ok(calls < messages.length / 4, `${calls} store calls for ${messages.length} messages`)
      assert.equal(ackFrames, calls, 'one ack per stored batch')
    })

    it(`holds at most ${DM_MAX_UNSTORED} unstored messages while receive is slow`, async () => {
      const gate = deferred()
      let largest = 0
      const { sender, receiver } = await pair({
        receive: async (_from, ms) => {
          largest = Math.max(largest, ms.length)
          await gate.promise
        }
      })
      const messages = Array.from({ length: DM_MAX_UNSTORED * 3 }, (_, i) => message(`m${i}`))
      const sending = sender.services.dm.send(receiver.peerId, messages, { signal: AbortSignal.timeout(WAIT_MS) })
      await until(() => largest > 0, WAIT_MS, 'the first receive')
      // the reader goes on until DM_MAX_UNSTORED wait, then stops reading (yamux holds the rest back)
      await sender.services.ping.ping(receiver.peerId)
      gate.resolve()
      await sending
      assert.ok(largest <= DM_MAX_UNSTORED, `a batch of ${largest}`)
      assert.equal(receiver.services.dm.stats.received, messages.length)
    })

    it('gives a stream up with AckTimeoutError when no ack comes', async () => {
      const gate = deferred()
      const { sender, receiver } = await pair({ receive: async () => { await gate.promise } }, { ackTimeout: 300 })
      await assert.rejects(sender.services.dm.send(receiver.peerId, [message()], { signal: AbortSignal.timeout(WAIT_MS) }), { name: 'AckTimeoutError' })
      gate.resolve()
    })

    it('sends no ack when receive throws, and the sender rejects', async () => {
      const { sender, receiver } = await pair({
        receive: async () => { throw new Error('disk full') }
      })
      const acks: string[] = []
      const result = await settle(sender.services.dm.send(receiver.peerId, [message()], { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(result.status, 'rejected')
      assert.deepEqual(acks, [])
      assert.deepEqual(receiver.services.dm.stats, { received: 0, oversized: 0, malformed: 0, refused: 0, failedStreams: 1 })
    })

    it('acknowledges only what receive took, ends the stream, and counts the rest as refused', async () => {
      // room for two messages in all, however they come in batches
      let room = 2
      const { sender, receiver } = await pair({
        receive: async (_from, messages) => {
          const taken = Math.min(messages.length, room)
          room -= taken
          return taken
        }
      })
      const acks: string[] = []
      const list = ['a', 'b', 'c', 'd', 'e'].map(id => message(id))
      const result = await settle(sender.services.dm.send(receiver.peerId, list, { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(result.status, 'rejected')
      assert.equal((result as PromiseRejectedResult).reason.acked, 2)
      assert.deepEqual(acks, list.slice(0, 2).map(m => m.id))
      assert.equal(receiver.services.dm.stats.received, 2)
      assert.ok(receiver.services.dm.stats.refused >= 1, JSON.stringify(receiver.services.dm.stats))
      assert.equal(receiver.services.dm.stats.failedStreams, 0)
      // nothing taken: no ack at all
      const none = await pair({ receive: async () => 0 })
      const nothing: string[] = []
      const refused = await settle(none.sender.services.dm.send(none.receiver.peerId, [message('f')], { onAck: (ids) => { nothing.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(refused.status, 'rejected')
      assert.deepEqual(nothing, [])
      assert.deepEqual(none.receiver.services.dm.stats, { received: 0, oversized: 0, malformed: 0, refused: 1, failedStreams: 0 })
    })

    it('reports a reset stream to the sender as a stream error, not as a protocol violation', async () => {
      const { sender, receiver } = await pair({
        receive: async () => { throw new Error('disk full') }
      })
      const result = await settle(sender.services.dm.send(receiver.peerId, [message()], { signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(result.status, 'rejected')
      assert.equal((result as PromiseRejectedResult).reason.name, 'StreamResetError')
    })

    it('stops at the first failure and keeps the acks already reported', async () => {
      let calls = 0
      const { sender, receiver } = await pair({
        receive: async () => { if (++calls >= 2) throw new Error('disk full') }
      })
      const acks: string[] = []
      const first = message('a')
      await sender.services.dm.send(receiver.peerId, [first], { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) })
      const result = await settle(sender.services.dm.send(receiver.peerId, [message('b'), message('c')], { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(result.status, 'rejected')
      assert.deepEqual(acks, [first.id])
      assert.equal(receiver.services.dm.stats.received, 1)
    })

    it('rejects an ack that counts more than was sent with ProtocolViolationError', async () => {
      const { node: receiver } = await startNode()
      // replace the real handler with one that acknowledges something else
      await receiver.unhandle(DM_PROTOCOL)
      await receiver.handle(DM_PROTOCOL, async (stream) => {
        const lp = lpStream(stream)
        await lp.read()
        await lp.write(DmFrame.encode({ ack: { count: 2n } }))
      })
      const { node: sender } = await startNode()
      await sender.dial(receiver.getMultiaddrs()[0])
      const acks: string[] = []
      await assert.rejects(
        sender.services.dm.send(receiver.peerId, [message()], { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) }),
        { name: 'ProtocolViolationError' }
      )
      assert.deepEqual(acks, [])
    })
  })

  describe('hostile input', () => {
    /** Sends a good message and expects it acknowledged: the node is still serving. */
    async function stillServes (sender: Node, receiver: Node): Promise<void> {
      const m = message('still there?')
      const acks: string[] = []
      await sender.services.dm.send(receiver.peerId, [m], { onAck: (ids) => { acks.push(...ids) }, signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(acks, [m.id])
    }

    it('drops garbage bytes, counts them as malformed, aborts the stream and serves the next one', async () => {
      const { sender, receiver, received } = await pair()
      const garbage = Uint8Array.from({ length: 40 }, (_, i) => (i * 97 + 13) & 0xff)
      // garbage inside a well-formed length prefix reaches the protobuf decoder
      const stream = await rawStream(sender, receiver)
      await lpStream(stream).write(garbage)
      const end = await closed(stream)
      assert.notEqual(end.status, 'closed', 'the receiver aborted the stream')
      assert.ok(end.error != null)
      await until(() => receiver.services.dm.stats.malformed === 1, WAIT_MS, 'malformed count')
      assert.deepEqual(received, [])

      await stillServes(sender, receiver)
      assert.deepEqual(receiver.services.dm.stats, { received: 1, oversized: 0, malformed: 1, refused: 0, failedStreams: 0 })
    })

    it('drops a frame longer than MAX_DM_FRAME_BYTES as oversized', async () => {
      const { sender, receiver, received } = await pair()
      const stream = await rawStream(sender, receiver)
      const big = new Uint8Array(MAX_DM_FRAME_BYTES + 1).fill(0x61)
      void lpStream(stream).write(big).catch(() => {})
      const end = await closed(stream)
      assert.notEqual(end.status, 'closed')
      await until(() => receiver.services.dm.stats.oversized === 1, WAIT_MS, 'oversized count')
      assert.deepEqual(received, [])

      // a length prefix alone (no body) that announces too much is refused as soon as it is read
      const prefixOnly = await rawStream(sender, receiver)
      prefixOnly.send(Uint8Array.from([0xff, 0xff, 0xff, 0x7f]))
      await closed(prefixOnly)
      await until(() => receiver.services.dm.stats.oversized === 2, WAIT_MS, 'second oversized count')

      await stillServes(sender, receiver)
      assert.deepEqual(receiver.services.dm.stats, { received: 1, oversized: 2, malformed: 0, refused: 0, failedStreams: 0 })
    })

    it('accepts a frame with the longest allowed text', async () => {
      const { sender, receiver, received } = await pair()
      const m = message('é'.repeat(MAX_TEXT_BYTES / 2))
      await sender.services.dm.send(receiver.peerId, [m], { signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(received.map(r => r.message), [m])
      const over = message('x'.repeat(MAX_TEXT_BYTES + 1))
      await assert.rejects(sender.services.dm.send(receiver.peerId, [over], { signal: AbortSignal.timeout(WAIT_MS) }))
      // (sent on the kept stream, refused, then once more on a fresh one: refused again)
      await until(() => receiver.services.dm.stats.malformed >= 1, WAIT_MS, 'text over the limit is malformed')
      assert.equal(received.length, 1)
    })

    it('drops malformed frames: no id or a 15-byte one, empty text, a zero timestamp, an ack, an empty frame', async () => {
      const { sender, receiver, received } = await pair()
      const bad: Array<[string, Uint8Array]> = [
        ['no id', frame({ id: new Uint8Array(0) })],
        ['15-byte id', frame({ id: new Uint8Array(15).fill(1) })],
        ['17-byte id', frame({ id: new Uint8Array(17).fill(1) })],
        ['empty text', frame({ text: '' })],
        ['zero timestamp', frame({ timestamp: 0n })],
        ['timestamp past the safe integers', frame({ timestamp: 2n ** 60n })],
        ['an ack instead of a message', DmFrame.encode({ ack: { count: 1n } })],
        ['a message and an ack', DmFrame.encode({ message: { id: new Uint8Array(16).fill(2), timestamp: 5n, text: 'x' }, ack: { count: 1n } })],
        ['a sequence number past the safe integers', frame({ seq: 2n ** 60n })],
        ['an empty frame', new Uint8Array(0)]
      ]
      for (const [what, bytes] of bad) {
        const stream = await rawStream(sender, receiver)
        await lpStream(stream).write(bytes)
        const end = await closed(stream)
        assert.notEqual(end.status, 'closed', `${what}: the stream was aborted`)
      }
      await until(() => receiver.services.dm.stats.malformed === bad.length, WAIT_MS, 'malformed count')
      assert.deepEqual(received, [])
      await stillServes(sender, receiver)
      assert.deepEqual(receiver.services.dm.stats, { received: 1, oversized: 0, malformed: bad.length, refused: 0, failedStreams: 0 })
    })

    it('drops frames that are not strictly what dm.proto says: wire types, UTF-8, absurd timestamps', async () => {
      const { sender, receiver, received } = await pair()
      const id = [0x0a, 16, ...new Uint8Array(16).fill(3)]
      const now = [0x10, ...varint(Date.now())]
      /** a DmFrame{message} made of these message bytes */
      const raw = (bytes: number[]): Uint8Array => Uint8Array.from([0x0a, ...varint(bytes.length), ...bytes])
      const text = (utf8: number[]): number[] => [0x1a, utf8.length, ...utf8]
      const bad: Array<[string, Uint8Array]> = [
        ['text with the wire type of a varint (protons reads it as "a")', raw([...id, ...now, 0x18, 1, 0x61])],
        ['timestamp with the wire type of a length', raw([...id, 0x12, 1, 1, ...text([0x61])])],
        ['id with the wire type of a 64-bit field', raw([0x09, 1, 2, 3, 4, 5, 6, 7, 8, ...now, ...text([0x61])])],
        ['text that is not UTF-8 (an overlong "/")', raw([...id, ...now, ...text([0xc0, 0xaf])])],
        ['text with a lone surrogate', raw([...id, ...now, ...text([0x61, 0xed, 0xb0, 0x80])])],
        ['a timestamp of 2^53 - 1', frame({ timestamp: BigInt(Number.MAX_SAFE_INTEGER) })],
        ['a timestamp in 2019', frame({ timestamp: BigInt(Date.UTC(2019, 11, 31)) })],
        ['a timestamp more than a day ahead', frame({ timestamp: BigInt(Date.now() + MAX_CLOCK_AHEAD_MS + 60_000) })]
      ]
      for (const [i, [what, bytes]] of bad.entries()) {
        const stream = await rawStream(sender, receiver)
        await lpStream(stream).write(bytes)
        const end = await closed(stream)
        assert.notEqual(end.status, 'closed', `${what}: the stream was aborted`)
        await until(() => receiver.services.dm.stats.malformed === i + 1, WAIT_MS, `${what} counted as malformed`)
      }
      assert.equal(received.length, 0)
      // a clock some hours fast, or a message written on 2020-01-01, is no reason to refuse
      const fine = [Date.now() + MAX_CLOCK_AHEAD_MS - 3600_000, MIN_TIMESTAMP].map(timestamp => ({ ...message('on time enough'), timestamp }))
      await sender.services.dm.send(receiver.peerId, fine, { signal: AbortSignal.timeout(WAIT_MS) })
      assert.deepEqual(received.map(r => r.message), fine)
      assert.deepEqual(receiver.services.dm.stats, { received: 2, oversized: 0, malformed: bad.length, refused: 0, failedStreams: 0 })
    })

    it('drops a good frame followed by a bad one after acknowledging the good one', async () => {
      const { sender, receiver, received } = await pair()
      const stream = await rawStream(sender, receiver)
      const lp = lpStream(stream)
      const good = message('good')
      await lp.write(frame({ id: fromHex(good.id, 'base16'), timestamp: BigInt(good.timestamp), text: good.text }))
      const ack = DmFrame.decode(await lp.read({ signal: AbortSignal.timeout(WAIT_MS) }))
      assert.equal(ack.ack?.count, 1n)
      await lp.write(frame({ text: '' }))
      await closed(stream)
      await until(() => receiver.services.dm.stats.malformed === 1, WAIT_MS, 'malformed count')
      assert.deepEqual(received.map(r => r.message), [good])
    })

    it('closes a stream that stays silent past the idle timeout', async () => {
      const { sender, receiver } = await pair({ idleTimeout: 300 })
      const stream = await rawStream(sender, receiver)
      const end = await closed(stream)
      assert.notEqual(end.status, 'closed')
      await until(() => receiver.services.dm.stats.failedStreams === 1, WAIT_MS, 'failed stream count')
      await stillServes(sender, receiver)
    })

    it(`refuses streams beyond ${DM_MAX_INBOUND_STREAMS} per connection, and serves again once they end`, async () => {
      const gate = deferred()
      let entered = 0
      const { sender, receiver } = await pair({
        receive: async () => { entered++; await gate.promise }
      })
      const connection = sender.getConnections(receiver.peerId)[0]
      const open = async (): Promise<Stream> => await connection.newStream(DM_PROTOCOL, { maxOutboundStreams: 1000, signal: AbortSignal.timeout(WAIT_MS) })

      // one at a time, each held inside receive: exactly the limit is accepted
      const held: Array<{ stream: Stream, lp: ReturnType<typeof lpStream<Stream>> }> = []
      for (let i = 0; i < DM_MAX_INBOUND_STREAMS; i++) {
        const stream = await open()
        const lp = lpStream(stream)
        await lp.write(frame({}))
        await until(() => entered === i + 1, WAIT_MS, `receive on stream ${i + 1}`)
        held.push({ stream, lp })
      }
      const extra = await open().then(async s => (await closed(s)).status, (err: Error) => err.name)
      assert.notEqual(extra, 'closed', `stream ${DM_MAX_INBOUND_STREAMS + 1} is refused`)
      assert.equal(entered, DM_MAX_INBOUND_STREAMS)

      // let them go: every held message is acknowledged on the same connection
      gate.resolve()
      await Promise.all(held.map(async ({ stream, lp }) => {
        const ack = DmFrame.decode(await lp.read({ signal: AbortSignal.timeout(WAIT_MS) }))
        assert.ok(ack.ack != null)
        await stream.close()
      }))
      assert.equal(receiver.services.dm.stats.received, DM_MAX_INBOUND_STREAMS)
      assert.equal(sender.getConnections(receiver.peerId).length, 1, 'the connection survived')
      await stillServes(sender, receiver)
    })

    it('survives a peer opening 100 streams at once: at most the limit are served, and the node works after', async () => {
      const gate = deferred()
      let entered = 0
      const { sender, receiver } = await pair({
        receive: async () => { entered++; await gate.promise }
      })
      const connection = sender.getConnections(receiver.peerId)[0]
      const opened = await Promise.allSettled(Array.from({ length: 100 }, async () =>
        await connection.newStream(DM_PROTOCOL, { maxOutboundStreams: 1000, signal: AbortSignal.timeout(WAIT_MS) })))
      const streams = opened.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
      // Refused streams are reset right after the protocol is agreed. When the burst beats yamux's
      // early-stream allowance, yamux drops the whole connection instead: also a refusal.
      await until(() => connection.status !== 'open' || streams.filter(s => s.status === 'open').length <= DM_MAX_INBOUND_STREAMS,
        WAIT_MS, 'the extra streams to be refused')
      // A protocol negotiation round trip on the same connection: any reset sent before its answer has
      // arrived by now. A muxer that yamux already shut refuses the new stream at once.
      const alive = await connection.newStream('/ipfs/ping/1.0.0', { signal: AbortSignal.timeout(WAIT_MS) })
        .then((s) => { s.abort(new Error('probe done')); return true }, () => false)
      const survivors = alive ? streams.filter(s => s.status === 'open') : []
      if (!alive) connection.abort(new Error('muxer gone'))
      assert.ok(survivors.length <= DM_MAX_INBOUND_STREAMS, `${survivors.length} streams accepted`)

      // the survivors are real: each one's message reaches receive and is acknowledged
      const lps = survivors.map(s => lpStream(s))
      for (const lp of lps) await lp.write(frame({}))
      await until(() => entered === survivors.length, WAIT_MS, 'every accepted stream to reach receive')
      gate.resolve()
      await Promise.all(lps.map(async (lp, i) => {
        assert.ok(DmFrame.decode(await lp.read({ signal: AbortSignal.timeout(WAIT_MS) })).ack != null)
        await survivors[i].close()
      }))
      assert.equal(receiver.services.dm.stats.received, survivors.length)
      assert.equal(entered, survivors.length, 'nothing else reached receive')

      // the node still serves: the same peer (on a new connection if the old one was dropped), and another peer
      if (sender.getConnections(receiver.peerId).length === 0) await sender.dial(receiver.getMultiaddrs()[0])
      await stillServes(sender, receiver)
      const { node: other } = await startNode()
      await other.dial(receiver.getMultiaddrs()[0])
      await stillServes(other, receiver)
      assert.equal(receiver.services.dm.stats.received, survivors.length + 2)
    })
  })
})
