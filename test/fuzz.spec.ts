/**
 * Property-based fuzzing (fast-check) of every decoder MegaChat owns and of its protocol handlers on real
 * streams. Brief here (FUZZ_RUNS scales every property's runs: FUZZ_RUNS=10 makes ten times as many);
 * `npm run soak` (bench/soak.ts) drives the same input at length against a client in a process of its own.
 *
 * Each property says what must happen, not only that nothing threw: the strict decoders give a value
 * that meets every rule of its protocol or a ProtocolViolationError; valid input round-trips; a sealed
 * room message that was changed in any way does not open as something else; an invite is valid or gets a
 * plain-words InvalidInviteError. On the wire, a raw attacker's streams are counted exactly as the pure
 * decoder predicts, every stream ends, and the victim still delivers a contact's DM afterwards.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import fc from 'fast-check'
import { equals } from 'uint8arrays/equals'
import { CallSignal, decodeSignal, encodeSignal } from '../src/calls/signalling.js'
import { CALL_PROTOCOL, DM_PROTOCOL, MAX_CLOCK_AHEAD_MS, MAX_SDP_BYTES, MAX_TEXT_BYTES, MIN_TIMESTAMP, overUtf8 } from '../src/constants.js'
import { decodeInvite, encodeInvite, INVITE_PROBLEMS, roomNameProblem } from '../src/crypto/invite.js'
import { deriveRoomKeys, openRoomMessageDetailed, roomSyncAuth, sealRoomMessage } from '../src/crypto/room.js'
import { decodeDirectMessage, encodeDirectMessage } from '../src/direct/index.js'
import { decodeOffer, encodeOffer } from '../src/files/offer.js'
import { FileRequest } from '../src/files/pb/file.js'
import { FILE_PROTOCOL, MAX_FILE_BYTES, MAX_FILE_CHUNKS } from '../src/constants.js'
import { DmFrame } from '../src/direct/pb/dm.js'
import { fromHex, toHex } from '../src/hex.js'
import { Slab } from '../src/slab.js'
import { SyncFrame, SyncItems, SyncRequest, SyncSummary, SyncWant } from '../src/rooms/pb/room.js'
import { ROOM_SYNC_PROTOCOL } from '../src/rooms/sync.js'
import { Cleanup, until } from './fixtures.js'
import { attack, badPrefix, callFrame, directMessage, dmFrame, fileOffer, offerBytes, fuzzed, fuzzedInvite, invite, lengthPrefixed, mutated, runs, signal, syncRequest, syncWant, underAttack } from './fuzz-frames.js'
import type { Invite } from '../src/crypto/invite.js'
import type { RoomKeys } from '../src/crypto/room.js'
import type { Chat } from '../src/index.js'
import { internals } from '../src/internals.js'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'

/** what protons-runtime's decoders throw for bytes that are not the message */
const PROTONS_ERRORS = new Set(['RangeError', 'MaxLengthError', 'Error'])

/** `value` without its undefined properties, at any depth (a decoder leaves absent fields undefined) */
function defined (value: unknown): unknown {
  if (value == null || typeof value !== 'object' || value instanceof Uint8Array) return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, defined(v)]))
}

/** Runs `decode`; its value, or undefined when it threw an error named in `allowed` (anything else fails). */
function decodedOrRefused<T> (decode: () => T, allowed: Set<string>): T | undefined {
  try {
    return decode()
  } catch (err: any) {
    assert.ok(allowed.has(err.name), `threw ${err.name}: ${err.message}`)
    return undefined
  }
}

const VIOLATION = new Set(['ProtocolViolationError'])

describe('fuzz: decoders', () => {
  describe('direct messages', () => {
    it('round-trips every message a sender may send', () => {
      fc.assert(fc.property(directMessage, (m) => {
        assert.deepEqual(decodeDirectMessage(encodeDirectMessage(m)), defined(m))
      }), { numRuns: runs(1000) })
    })

    it('writes the bytes protons writes, and frames written into one slab stay as they were', () => {
      // a small slab, so that frames also go to fresh buffers
      const slab = new Slab(512)
      const written: Array<{ frame: Uint8Array, expected: Uint8Array }> = []
      fc.assert(fc.property(directMessage, (m) => {
        const expected = DmFrame.encode({ message: { id: fromHex(m.id), timestamp: BigInt(m.timestamp), text: m.text, seq: BigInt(m.seq ?? 0), ...(m.file != null ? { file: m.file as Uint8Array<ArrayBuffer> } : {}) } })
        const frame = encodeDirectMessage(m, slab)
        assert.ok(equals(frame, expected))
        written.push({ frame, expected })
      }), { numRuns: runs(1000) })
      for (const { frame, expected } of written) assert.ok(equals(frame, expected))
    })

    it('hex ids round-trip, and anything but hex is refused', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const hex = toHex(bytes)
        assert.equal(hex, Buffer.from(bytes).toString('hex'))
        assert.ok(equals(fromHex(hex), bytes))
        assert.ok(equals(fromHex(hex.toUpperCase()), bytes))
        // a part of the bytes, as the message ids are taken from a pool of random bytes
        const [start, end] = [bytes.byteLength >> 2, bytes.byteLength - (bytes.byteLength >> 3)]
        assert.equal(toHex(bytes, start, end), Buffer.from(bytes.subarray(start, end)).toString('hex'))
      }), { numRuns: runs(500) })
      // longer than the piece it turns into characters at once
      const long = crypto.getRandomValues(new Uint8Array(2500))
      assert.equal(toHex(long), Buffer.from(long).toString('hex'))
      assert.equal(toHex(long, 1000, 2100), Buffer.from(long.subarray(1000, 2100)).toString('hex'))
      for (const bad of ['0', 'zz', '0g', '-1', ' 0']) assert.throws(() => fromHex(bad), { name: 'SyntaxError' })
    })

    it('reads arbitrary and mutated frames as a message that meets every rule, or refuses them', () => {
      fc.assert(fc.property(fuzzed(dmFrame), (bytes) => {
        const m = decodedOrRefused(() => decodeDirectMessage(bytes), VIOLATION)
        if (m == null) return
        assert.match(m.id, /^[0-9a-f]{32}$/)
        assert.ok((m.text.length > 0 || m.file != null) && m.text.isWellFormed() && !overUtf8(m.text, MAX_TEXT_BYTES), 'text is 1..64 KiB of well-formed Unicode (or none, with a file)')
        if (m.file != null) decodeOffer(m.file)
        assert.ok(Number.isSafeInteger(m.timestamp) && m.timestamp >= MIN_TIMESTAMP && m.timestamp <= Date.now() + MAX_CLOCK_AHEAD_MS)
        assert.ok(m.seq == null || (Number.isSafeInteger(m.seq) && m.seq > 0))
        // what was accepted is what a sender would have sent: it reads back the same
        assert.deepEqual(decodeDirectMessage(encodeDirectMessage(m)), m)
      }), { numRuns: runs(1500) })
    })
  })

  describe('file offers', () => {
    it('round-trips every offer a sender may make', () => {
      fc.assert(fc.property(fileOffer, (o) => {
        assert.deepEqual(defined(decodeOffer(encodeOffer(o))), defined(o))
      }), { numRuns: runs(1000) })
    })

    it('reads arbitrary and mutated offers as one within every limit, or refuses them', () => {
      fc.assert(fc.property(fuzzed(offerBytes), (bytes) => {
        const o = decodedOrRefused(() => decodeOffer(bytes), VIOLATION)
        if (o == null) return
        assert.equal(o.id.byteLength, 16)
        assert.equal(o.manifest.byteLength, 32)
        assert.ok(o.name.length > 0 && o.name.isWellFormed())
        assert.ok(Number.isSafeInteger(o.size) && o.size >= 0 && o.size <= MAX_FILE_BYTES)
        assert.ok(Math.ceil(o.size / o.chunkSize) <= MAX_FILE_CHUNKS)
        assert.ok(o.key == null || o.key.byteLength === 32)
        assert.deepEqual(defined(decodeOffer(encodeOffer(o))), defined(o))
      }), { numRuns: runs(1500) })
    })
  })

  describe('call signalling', () => {
    it('round-trips every signal a peer may send', () => {
      fc.assert(fc.property(signal, (s) => {
        const back = decodeSignal(encodeSignal(s))
        assert.deepEqual(defined(back), defined({ ...s, ...(s.sdp != null ? { video: s.video ?? false } : {}) }))
      }), { numRuns: runs(1000) })
    })

    it('reads arbitrary and mutated frames as a signal that meets every rule, or refuses them', () => {
      fc.assert(fc.property(fuzzed(callFrame), (bytes) => {
        const s = decodedOrRefused(() => decodeSignal(bytes), VIOLATION)
        if (s == null) return
        assert.match(s.callId, /^[0-9a-f]{32}$/)
        if (s.type === CallSignal.Type.OFFER || s.type === CallSignal.Type.ANSWER) {
          assert.ok(s.sdp != null && s.sdp.length > 0 && s.sdp.length <= MAX_SDP_BYTES && s.sdp.isWellFormed())
        } else {
          assert.equal(s.sdp, undefined, 'an sdp only with an offer or answer')
        }
        if (s.candidate != null) assert.ok(s.candidate.candidate.length <= 1024 && s.candidate.candidate.isWellFormed())
        assert.deepEqual(defined(decodeSignal(encodeSignal(s))), defined(s))
      }), { numRuns: runs(1500) })
    })
  })

  describe('room sync frames (with the limits the handlers read them with)', () => {
    const codecs: Array<[string, { encode: (v: any) => Uint8Array, decode: (b: Uint8Array, o?: any) => any }, fc.Arbitrary<Uint8Array>, Record<string, number>]> = [
      ['SyncRequest', SyncRequest, fc.record({ roomId: fc.uint8Array({ maxLength: 40 }), auth: fc.uint8Array({ maxLength: 40 }) }).map(v => SyncRequest.encode(v)), {}],
      ['SyncSummary', SyncSummary, fc.record({
        first: fc.uint8Array({ maxLength: 24 }),
        ranges: fc.array(fc.record({ last: fc.uint8Array({ maxLength: 24 }), count: fc.nat(300), fingerprint: fc.uint8Array({ maxLength: 16 }) }), { maxLength: 5 })
      }).map(v => SyncSummary.encode(v)), { ranges: 40 }],
      ['SyncWant', SyncWant, syncWant, { whole: 40, list: 40, items: 250 }],
      ['SyncItems', SyncItems, fc.array(fc.uint8Array({ maxLength: 24 }), { maxLength: 5 }).map(items => SyncItems.encode({ items })), { items: 250 }],
      ['SyncFrame', SyncFrame, fc.record({
        message: fc.option(fc.uint8Array({ maxLength: 60 }), { nil: undefined }),
        item: fc.option(fc.uint8Array({ maxLength: 24 }), { nil: undefined }),
        end: fc.option(fc.boolean(), { nil: undefined }),
        more: fc.option(fc.boolean(), { nil: undefined })
      }).map(v => SyncFrame.encode(v)), {}]
    ]
    for (const [name, codec, valid, limits] of codecs) {
      it(`${name}: valid frames round-trip; arbitrary ones decode within the limits or throw a decode error`, () => {
        fc.assert(fc.property(valid, (bytes) => {
          assert.deepEqual(codec.encode(codec.decode(bytes)), bytes)
        }), { numRuns: runs(300) })
        fc.assert(fc.property(fuzzed(valid), (bytes) => {
          const value = decodedOrRefused(() => codec.decode(bytes, { limits }), PROTONS_ERRORS)
          if (value == null) return
          for (const [field, max] of Object.entries(limits)) assert.ok(value[field].length <= max, `${field} within its limit`)
        }), { numRuns: runs(500) })
      })
    }
  })

  describe('room envelopes', () => {
    let keys: RoomKeys
    let author: PrivateKey
    before(async () => {
      keys = deriveRoomKeys(crypto.getRandomValues(new Uint8Array(32)))
      author = await generateKeyPair('Ed25519')
    })

    const input = fc.record({ text: fc.string({ unit: 'grapheme', maxLength: 60 }), timestamp: fc.nat(Number.MAX_SAFE_INTEGER) })

    it('opens what was sealed as it was written', async () => {
      await fc.assert(fc.asyncProperty(input, async (msg) => {
        const sealed = await sealRoomMessage(keys, author, msg)
        const opened = await openRoomMessageDetailed(keys, sealed.bytes)
        assert.ok(opened.ok)
        assert.deepEqual({ ...opened.message, author: opened.message.author.toString() }, { ...sealed.message, author: sealed.message.author.toString() })
      }), { numRuns: runs(300) })
    })

    it('never throws, and never opens changed or arbitrary bytes as a message', async () => {
      await fc.assert(fc.asyncProperty(input, fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 300 }), async (msg, flips, random) => {
        const sealed = await sealRoomMessage(keys, author, msg)
        const changed = new Uint8Array(sealed.bytes)
        for (const [at, bit] of flips) changed[at % changed.byteLength] ^= 1 << bit
        const opened = await openRoomMessageDetailed(keys, changed)
        if (equals(changed, sealed.bytes)) assert.ok(opened.ok) // the flips undid each other
        else assert.deepEqual(opened, { ok: false, reason: changed.byteLength === sealed.bytes.byteLength ? 'decrypt' : 'size' })
        assert.equal((await openRoomMessageDetailed(keys, random)).ok, false)
      }), { numRuns: runs(300) })
    })

    it('refuses an envelope a member changed and sealed again: only the author\'s own encoding opens', async () => {
      await fc.assert(fc.asyncProperty(input, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), async (msg, edits) => {
        const sealed = await sealRoomMessage(keys, author, msg)
        const nonce = sealed.bytes.subarray(0, 24)
        const plaintext = xchacha20poly1305(keys.messageKey, nonce, keys.roomId).decrypt(sealed.bytes.subarray(24))
        // a member holds the key: it can change the plaintext anywhere and seal it again
        const forged = new Uint8Array(plaintext)
        for (const [at, value] of edits) forged[at % forged.byteLength] = value
        const resealed = new Uint8Array([...nonce, ...xchacha20poly1305(keys.messageKey, nonce, keys.roomId).encrypt(forged)])
        const opened = await openRoomMessageDetailed(keys, resealed)
        if (opened.ok) assert.deepEqual(forged, plaintext, 'a changed envelope opened')
        else assert.ok(['decode', 'author', 'signature'].includes(opened.reason), opened.reason)
      }), { numRuns: runs(300) })
    })
  })

  describe('invites', () => {
    const problems = new Set<string>(Object.values(INVITE_PROBLEMS))

    it('reads every valid invite back as written', () => {
      fc.assert(fc.property(invite, (link) => {
        const read = decodeInvite(link)
        assert.equal(encodeInvite(read), link)
      }), { numRuns: runs(500) })
    })

    it('reads arbitrary and changed text as a valid invite, or refuses it in plain words', () => {
      fc.assert(fc.property(fuzzedInvite, (text) => {
        let read: Invite
        try {
          read = decodeInvite(text)
        } catch (err: any) {
          assert.equal(err.name, 'InvalidInviteError', err.stack)
          assert.ok(problems.has(err.message), `an unexpected message: ${err.message}`)
          return
        }
        assert.equal(read.secret.byteLength, 32)
        assert.equal(roomNameProblem(read.name), undefined)
        assert.deepEqual(decodeInvite(encodeInvite(read)), read)
      }), { numRuns: runs(1500) })
    })
  })
})

describe('fuzz: protocol handlers on the wire', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  let victim: Chat
  let attacker: Libp2p
  let honestDm: (text: string) => Promise<void>
  let keys: RoomKeys
  let honest = 0

  before(async () => {
    ({ victim, attacker, honestDm } = await underAttack(cleanup))
    // what is fuzzed here is the decoding: the attacker is a contact, so that no message request stops it
    await victim.addContact(attacker.peerId.toString(), 'attacker')
    const room = await victim.createRoom('fuzzed')
    keys = deriveRoomKeys(decodeInvite(room.invite).secret)
    for (let i = 0; i < 3; i++) await victim.say('fuzzed', `history ${i}`)
  })

  after(async () => { await cleanup.run() })

  // after every property: the victim still takes a contact's DM
  afterEach(async () => { await honestDm(`honest ${honest++}`) })

  interface Counts { received: number, oversized: number, malformed: number, failedStreams: number }
  const delta = (after: Counts, before: Counts): Counts => ({
    received: after.received - before.received,
    oversized: after.oversized - before.oversized,
    malformed: after.malformed - before.malformed,
    failedStreams: after.failedStreams - before.failedStreams
  })
  const total = (c: Counts): number => c.received + c.oversized + c.malformed + c.failedStreams

  /**
   * What a length-prefixed protocol's handler counts for these frames, by the pure decoder: the frames up
   * to the first it refuses are received, that one is malformed; with none refused, a bad prefix after
   * them is oversized.
   */
  function predict (frames: Uint8Array[], prefix: Uint8Array | null, decode: (b: Uint8Array) => unknown): Counts {
    const refused = frames.findIndex(f => decodedOrRefused(() => decode(f), VIOLATION) == null)
    const received = refused < 0 ? frames.length : refused
    return { received, oversized: refused < 0 && prefix != null ? 1 : 0, malformed: refused < 0 ? 0 : 1, failedStreams: 0 }
  }

  const handlers: Array<{ name: string, protocol: string, frame: fc.Arbitrary<Uint8Array>, decode: (b: Uint8Array) => unknown, stats: () => Counts }> = [
    { name: 'direct messages', protocol: DM_PROTOCOL, frame: dmFrame, decode: decodeDirectMessage, stats: () => ({ ...victim.libp2p.services.dm.stats }) },
    { name: 'call signalling', protocol: CALL_PROTOCOL, frame: callFrame, decode: decodeSignal, stats: () => ({ ...victim.libp2p.services.calls.stats }) }
  ]
  for (const { name, protocol, frame, decode, stats } of handlers) {
    it(`${name}: every stream of fuzzed frames ends, counted as the strict decoder says`, async () => {
      const start = stats()
      let sessions = 0
      await fc.assert(fc.asyncProperty(fc.array(fuzzed(frame), { minLength: 1, maxLength: 5 }), fc.option(badPrefix), async (frames, prefix) => {
        const before = stats()
        const expected = predict(frames, prefix, decode)
        await attack(attacker, victim.peerId, protocol, [...frames.map(lengthPrefixed), ...(prefix != null ? [prefix] : [])])
        sessions++
        await until(() => total(delta(stats(), before)) >= total(expected), 10_000, 'the stream to be counted')
        assert.deepEqual(delta(stats(), before), expected)
      }), { numRuns: runs(150), endOnFailure: true })
      const counted = delta(stats(), start)
      assert.ok(counted.malformed + counted.oversized > 0 && counted.received > 0, `the counters rose: ${JSON.stringify(counted)}`)
      assert.ok(sessions >= runs(150))
    })
  }

  it('files: every stream of fuzzed requests ends, refused or counted once', async () => {
    const files = victim.libp2p.services.files
    const counted = (): number => files.stats.refused + files.stats.malformed + files.stats.oversized + files.stats.failedStreams
    const request = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(id => FileRequest.encode({ id }))
    const start = { ...files.stats }
    await fc.assert(fc.asyncProperty(fc.array(fuzzed(request), { minLength: 1, maxLength: 3 }), fc.option(badPrefix), async (frames, prefix) => {
      const before = counted()
      await attack(attacker, victim.peerId, FILE_PROTOCOL, [...frames.map(lengthPrefixed), ...(prefix != null ? [prefix] : [])])
      await until(() => counted() > before, 15_000, 'the stream to be counted')
      assert.equal(counted(), before + 1)
    }), { numRuns: runs(100), endOnFailure: true })
    assert.ok(files.stats.refused > start.refused && files.stats.malformed > start.malformed, JSON.stringify(files.stats))
    assert.equal(files.stats.served, start.served)
  })

  it('room sync, answering: every request is served, denied or failed as the decoder and the proof say', async () => {
    const sync = victim.libp2p.services.roomSync
    const start = { ...sync.stats }
    const request = syncRequest(keys, attacker.peerId, victim.peerId)
    await fc.assert(fc.asyncProperty(fc.oneof(request, mutated(request), fc.uint8Array({ maxLength: 80 })), fc.array(fuzzed(syncWant), { maxLength: 3 }), async (first, wants) => {
      const before = { ...sync.stats }
      const req = decodedOrRefused(() => SyncRequest.decode(first), PROTONS_ERRORS)
      const member = req != null && equals(req.roomId, keys.roomId) && equals(req.auth, roomSyncAuth(keys, attacker.peerId, victim.peerId))
      await attack(attacker, victim.peerId, ROOM_SYNC_PROTOCOL, [first, ...wants].map(lengthPrefixed))
      const served = sync.stats.served - before.served
      const denied = sync.stats.denied - before.denied
      const failed = sync.stats.failed - before.failed
      assert.deepEqual({ served, denied }, { served: member ? 1 : 0, denied: req != null && !member ? 1 : 0 })
      assert.ok(req != null ? failed <= 1 : failed === 1, `failed ${failed}`)
    }), { numRuns: runs(150), endOnFailure: true })
    assert.ok(sync.stats.served > start.served && sync.stats.denied > start.denied && sync.stats.failed > start.failed, JSON.stringify(sync.stats))
  })

  it('room sync, asking: every answer from a hostile member is taken within the rules or refused and counted', async () => {
    const sync = victim.libp2p.services.roomSync
    const source = internals(victim).rooms.syncSource(keys.roomIdHex)
    assert.ok(source != null)
    const item = fc.uint8Array({ minLength: 24, maxLength: 24 })
    const summary = fc.record({
      first: item,
      ranges: fc.array(fc.record({ last: item, count: fc.integer({ min: 1, max: 3 }), fingerprint: fc.uint8Array({ minLength: 16, maxLength: 16 }) }), { maxLength: 3 })
    }).map(s => SyncSummary.encode(s))
    const answer = fc.oneof(
      fc.array(item, { maxLength: 3 }).map(items => SyncItems.encode({ items })),
      fc.record({ message: fc.uint8Array({ maxLength: 60 }), item }).map(f => SyncFrame.encode(f)),
      fc.constant(SyncFrame.encode({ end: true }))
    )
    let frames: Uint8Array[] = []
    await attacker.handle(ROOM_SYNC_PROTOCOL, async (stream: Stream) => {
      stream.addEventListener('message', () => {})
      for (const f of frames) stream.send(lengthPrefixed(f))
      await stream.close().catch(() => {})
    })
    // the stream ended under the asker (the responder hung up or reset it): not the responder's frames' fault
    const hungUp = new Set(['UnexpectedEOFError', 'StreamResetError', 'StreamAbortedError', 'StreamClosedError'])
    const refusals = new Set(['ProtocolViolationError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'MaxLengthError', 'RangeError'])
    try {
      await fc.assert(fc.asyncProperty(fuzzed(summary), fc.array(fuzzed(answer), { maxLength: 4 }), async (first, rest) => {
        frames = [first, ...rest]
        const before = { ...sync.stats }
        let taken = 0
        const outcome = await sync.request(attacker.peerId, source, {
          signal: AbortSignal.timeout(10_000),
          onMessage: async () => { taken++ }
        }).then(result => ({ result }), (err: Error) => ({ err }))
        assert.ok(taken <= rest.length, 'no message taken that was not sent')
        if ('result' in outcome) {
          assert.equal(outcome.result.received, taken)
          assert.equal(sync.stats.completed, before.completed + 1)
          return
        }
        const { err } = outcome
        assert.ok(refusals.has(err.name) || hungUp.has(err.name), `the asker failed with ${err.name}: ${err.message}`)
        assert.equal(sync.stats.refused - before.refused, refusals.has(err.name) ? 1 : 0, `${err.name} counted as refused`)
      }), { numRuns: runs(150), endOnFailure: true })
    } finally {
      await attacker.unhandle(ROOM_SYNC_PROTOCOL)
    }
  })
})
