/**
 * src/node/frames.ts on an in-memory stream pair: the bounded length prefix (which relies on lpStream
 * taking a RangeError from the length decoder as "more bytes needed": pinned here).
 */
import assert from 'node:assert/strict'
import { lpStream, streamPair } from '@libp2p/utils'
import { boundedLpStream, frameLimits } from '../src/node/frames.js'

const SIGNAL = AbortSignal.timeout.bind(AbortSignal)

/** A varint, as protobuf and lpStream write it. */
function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

describe('frames', () => {
  describe('bounded length prefix', () => {
    it('needs as many prefix bytes as the frame limit does', () => {
      assert.equal(frameLimits(127).maxLengthLength, 1)
      assert.equal(frameLimits(128).maxLengthLength, 2)
      assert.equal(frameLimits(64 * 1024 + 256).maxLengthLength, 3)
    })

    it('reads frames whose prefix arrives a byte at a time, up to the limit', async () => {
      const [a, b] = await streamPair()
      const reader = boundedLpStream(b, 300)
      const frame = new Uint8Array(300).fill(7)
      const bytes = Uint8Array.from([...varint(300), ...frame, ...varint(1), 9])
      for (const byte of bytes) a.send(Uint8Array.of(byte))
      assert.deepEqual((await reader.read({ signal: SIGNAL(5000) })).subarray(), frame)
      assert.deepEqual((await reader.read({ signal: SIGNAL(5000) })).subarray(), Uint8Array.of(9))
      // and what the library writes, it reads
      await lpStream(a).write(frame.subarray(0, 200))
      assert.equal((await reader.read({ signal: SIGNAL(5000) })).byteLength, 200)
    })

    it('refuses a prefix that does not end by the byte the limit needs, without waiting for more', async () => {
      const [a, b] = await streamPair()
      const reader = boundedLpStream(b, 64 * 1024)
      a.send(Uint8Array.of(0x80, 0x80, 0x80)) // three bytes and nothing after them
      await assert.rejects(reader.read({ signal: SIGNAL(5000) }), { name: 'InvalidDataLengthLengthError' })
    })

    it('refuses a complete prefix over the limit', async () => {
      const [a, b] = await streamPair()
      a.send(Uint8Array.from(varint(301)))
      await assert.rejects(boundedLpStream(b, 300).read({ signal: SIGNAL(5000) }), { name: 'InvalidDataLengthError' })
    })
  })
})
