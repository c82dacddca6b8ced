/**
 * Fuzzed input for MegaChat's decoders and protocols, shared by test/fuzz.spec.ts (briefly, in `npm test`)
 * and bench/soak.ts (at length, `npm run soak`): fast-check arbitraries for valid frames of each protocol,
 * mutations of them, random bytes and length prefixes that never end; and a raw attacker's stream session
 * that writes such frames on a protocol and waits until the victim has ended the stream.
 */
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import { toString as toHex } from 'uint8arrays/to-string'
import { encodeSignal, CallSignal } from '../src/calls/signalling.js'
import { MAX_CLOCK_AHEAD_MS, MIN_TIMESTAMP } from '../src/constants.js'
import { encodeInvite } from '../src/crypto/invite.js'
import { roomSyncAuth } from '../src/crypto/room.js'
import { encodeDirectMessage } from '../src/direct/index.js'
import { encodeOffer } from '../src/files/offer.js'
import type { FileOffer } from '../src/files/types.js'
import { SyncRequest, SyncWant } from '../src/rooms/pb/room.js'
import { startChat, waitFor } from './fixtures.js'
import type { Signal } from '../src/calls/signalling.js'
import type { RoomKeys } from '../src/crypto/room.js'
import type { DirectMessage } from '../src/direct/index.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Chat, IncomingMessage } from '../src/index.js'
import type { Cleanup } from './fixtures.js'

/** How many runs a property makes: `base` scaled by FUZZ_RUNS (a factor, default 1). */
export function runs (base: number): number {
  const factor = Number(process.env.FUZZ_RUNS ?? 1)
  return Math.max(1, Math.round(base * (Number.isFinite(factor) && factor > 0 ? factor : 1)))
}

/** A varint, as protobuf and lpStream write it. */
export function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80)
  return [...out, n]
}

/** A frame with its length prefix. */
export function lengthPrefixed (frame: Uint8Array): Uint8Array {
  return Uint8Array.from([...varint(frame.byteLength), ...frame])
}

// ---- mutations

type Mutation =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, value: number }
  | { op: 'delete', at: number, length: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'truncate', at: number }
  | { op: 'repeat', at: number, length: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 0x7f, 0x80, 0xff), fc.nat(255)) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) })
)

function apply (bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.byteLength
  const at = n === 0 ? 0 : m.at % (n + 1)
  switch (m.op) {
    case 'flip': {
      if (n === 0) return bytes
      const out = new Uint8Array(bytes)
      out[m.at % n] ^= 1 << m.bit
      return out
    }
    case 'set': {
      if (n === 0) return bytes
      const out = new Uint8Array(bytes)
      out[m.at % n] = m.value
      return out
    }
    case 'delete': return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.length)])
    case 'insert': return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)])
    case 'truncate': return bytes.subarray(0, at)
    case 'repeat': return Uint8Array.from([...bytes.subarray(0, at + m.length), ...bytes.subarray(at)])
  }
}

/** `bytes` with one to four mutations (bit flips, byte changes, deletions, insertions, a cut, a repeat). */
export function mutated (bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(bytes, fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([b, ms]) => ms.reduce(apply, b))
}

/** Valid frames, mutations of them and random bytes, in equal parts. */
export function fuzzed (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(valid, mutated(valid), fc.uint8Array({ maxLength: 200 }))
}

// ---- direct messages

const id16 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b => toHex(b, 'base16'))
/** text as people write it (any code points, so UTF-8 of every length), never empty */
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 })

// ---- file offers

/** An offer a sender may make: sizes within the limits, in chunks of an accepted size. */
export const fileOffer: fc.Arbitrary<FileOffer> = fc.record({
  id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  size: fc.integer({ min: 0, max: 64 * 2 ** 30 }),
  type: fc.constantFrom('', 'image/jpeg', 'application/octet-stream'),
  chunkSize: fc.constantFrom(2 ** 20, 4 * 2 ** 20),
  manifest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  thumbnail: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  key: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined })
}, { requiredKeys: ['id', 'name', 'size', 'type', 'chunkSize', 'manifest'] })

export const offerBytes: fc.Arbitrary<Uint8Array> = fileOffer.map(encodeOffer)

/** A message a sender may send: a timestamp from 2020 to a day ahead, sometimes with a file offer. */
export const directMessage: fc.Arbitrary<DirectMessage> = fc.record({
  id: id16,
  timestamp: fc.integer({ min: MIN_TIMESTAMP, max: Date.now() + MAX_CLOCK_AHEAD_MS - 3600_000 }),
  text,
  seq: fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
  file: fc.option(offerBytes, { freq: 4, nil: undefined })
}, { requiredKeys: ['id', 'timestamp', 'text'] })

export const dmFrame: fc.Arbitrary<Uint8Array> = directMessage.map(encodeDirectMessage)

// ---- call signalling

const sdp = fc.string({ minLength: 1, maxLength: 300 })
const candidate = fc.record({
  candidate: fc.string({ maxLength: 120 }),
  sdpMid: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
  sdpMLineIndex: fc.option(fc.nat(16), { nil: undefined }),
  usernameFragment: fc.option(fc.string({ maxLength: 16 }), { nil: undefined })
}, { requiredKeys: ['candidate'] })

/** A signal a peer may send, of every type. */
export const signal: fc.Arbitrary<Signal> = fc.oneof(
  fc.record({ callId: id16, type: fc.constantFrom(CallSignal.Type.OFFER, CallSignal.Type.ANSWER), sdp, video: fc.boolean() }),
  fc.record({ callId: id16, type: fc.constant(CallSignal.Type.CANDIDATE), candidate: fc.option(candidate, { nil: null }) }),
  fc.record({ callId: id16, type: fc.constant(CallSignal.Type.HANGUP), reason: fc.constantFrom(CallSignal.Reason.NORMAL, CallSignal.Reason.NO_ANSWER, CallSignal.Reason.GLARE, CallSignal.Reason.FAILED, CallSignal.Reason.DEVICES) }),
  fc.record({ callId: id16, type: fc.constantFrom(CallSignal.Type.RINGING, CallSignal.Type.ACCEPT, CallSignal.Type.DECLINE, CallSignal.Type.BUSY) })
)

export const callFrame: fc.Arbitrary<Uint8Array> = signal.map(encodeSignal)

// ---- room sync (the asker's frames, which a responder reads)

/** A request with the right proof for `keys` from `asker` to `responder`, or a wrong one, or another room. */
export function syncRequest (keys: RoomKeys, asker: PeerId, responder: PeerId): fc.Arbitrary<Uint8Array> {
  const good = { roomId: keys.roomId as Uint8Array<ArrayBuffer>, auth: roomSyncAuth(keys, asker, responder) as Uint8Array<ArrayBuffer> }
  return fc.oneof(
    fc.constant(SyncRequest.encode(good)),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map(auth => SyncRequest.encode({ ...good, auth })),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map(roomId => SyncRequest.encode({ ...good, roomId }))
  )
}

const item = fc.uint8Array({ minLength: 24, maxLength: 24 })
export const syncWant: fc.Arbitrary<Uint8Array> = fc.record({
  whole: fc.array(fc.nat(60), { maxLength: 4 }),
  list: fc.array(fc.nat(60), { maxLength: 4 }),
  items: fc.array(item, { maxLength: 4 }),
  done: fc.boolean()
}).map(w => SyncWant.encode(w))

// ---- invites

/** A room name decodeInvite takes (letters, digits, spaces, emoji; 1..64 code points, not blank). */
export const roomName = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }).filter(n => n.trim().length > 0)

export const invite: fc.Arbitrary<string> = fc.record({
  name: roomName,
  secret: fc.uint8Array({ minLength: 32, maxLength: 32 })
}).map(i => encodeInvite(i))

/** Valid links, links with characters changed, cut or added, and arbitrary text. */
export const fuzzedInvite: fc.Arbitrary<string> = fc.oneof(
  invite,
  fc.tuple(invite, fc.nat(), fc.nat(), fc.string({ maxLength: 4 })).map(([link, at, cut, added]) => {
    const i = at % (link.length + 1)
    return link.slice(0, i) + added + link.slice(i + (cut % 4))
  }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 })
)

// ---- a raw attacker on the wire

/** Ways a length prefix can be wrong: never ending (0x80 …), or announcing more than any frame may have. */
export const badPrefix: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.integer({ min: 4, max: 64 }).map(n => new Uint8Array(n).fill(0x80)),
  fc.integer({ min: 2 ** 21, max: 2 ** 31 }).map(n => Uint8Array.from(varint(n)))
)

/** A plain libp2p node on loopback (TCP, Noise, yamux) with no protocols of its own. */
export async function startAttacker (): Promise<Libp2p> {
  return await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

export interface Attacked {
  victim: Chat
  /** a contact of the victim's, connected to it */
  friend: Chat
  /** a raw node connected to the victim, not a contact */
  attacker: Libp2p
  /** the friend sends `text` to the victim; resolves once the victim has it from the friend */
  honestDm(text: string): Promise<void>
}

/** A victim client with a friend (contacts of each other) and a raw attacker node, all connected; stopped by `cleanup`. */
export async function underAttack (cleanup: Cleanup): Promise<Attacked> {
  const victim = cleanup.add(await startChat())
  const friend = cleanup.add(await startChat())
  await victim.addContact(friend.peerId.toString(), 'friend')
  await friend.addContact(victim.peerId.toString(), 'victim')
  await friend.libp2p.dial(victim.libp2p.getMultiaddrs()[0])
  const attacker = await startAttacker()
  cleanup.add({ stop: async () => { await attacker.stop() } })
  await attacker.dial(victim.libp2p.getMultiaddrs()[0])
  return {
    victim,
    friend,
    attacker,
    honestDm: async (text) => {
      const got = waitFor<IncomingMessage>(victim, 'message', m => m.text === text && m.peer === friend.peerId.toString(), 20_000)
      await friend.send('victim', text)
      await got
    }
  }
}

/** Resolves once the stream has closed or been reset; rejects if it is still open after `ms`. */
export async function streamEnded (stream: Stream, ms: number): Promise<void> {
  if (stream.status !== 'open' && stream.status !== 'closing') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`the victim kept the stream ${stream.status} for ${ms} ms`)) }, ms)
    stream.addEventListener('close', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

/**
 * One attack: opens a stream on `protocol` (on the connection already open to `victim`), writes `bytes`,
 * closes the writing side and drops whatever comes back, then waits until the victim has ended the
 * stream (answered and closed, or aborted). Rejects if the victim keeps it open past `ms`.
 */
export async function attack (attacker: Libp2p, victim: PeerId, protocol: string, bytes: Uint8Array[], ms = 10_000): Promise<void> {
  const stream = await attacker.dialProtocol(victim, protocol, { signal: AbortSignal.timeout(ms) })
  const ended = streamEnded(stream, ms)
  stream.addEventListener('message', () => {})
  for (const chunk of bytes) {
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') break
    if (!stream.send(chunk)) await new Promise<void>(resolve => {
      const done = (): void => { stream.removeEventListener('drain', done); stream.removeEventListener('close', done); resolve() }
      stream.addEventListener('drain', done)
      stream.addEventListener('close', done)
    })
  }
  if (stream.writeStatus === 'writable') await stream.close({ signal: AbortSignal.timeout(ms) }).catch(() => {})
  await ended
}
