/**
 * Many small encoded records written into one shared buffer, each handed out as a view of it.
 *
 * A burst of direct messages needs an encoded frame per message on the wire and a record per message in
 * the store. Allocating a buffer for each (TextEncoder.encode, a protons writer) costs more than writing
 * the bytes: every ArrayBuffer is external memory the garbage collector tracks, and LevelDB's batch takes
 * fresh buffers several times slower than views of one. A Slab allocates a buffer at a time and never
 * writes over what it handed out (a record that does not fit goes to a new buffer), so views stay valid
 * for as long as anyone holds them; they also keep their whole buffer alive, so hand them only to
 * something that copies them (a stream, LevelDB) or copy them first (`slice()`).
 *
 * Writing: `start(most)` with the most bytes the record can take, then the fields in order, then `end()`
 * for the view. Protobuf fields are written by hand here, as the .proto beside the code declares them.
 */
import { hexInto } from './hex.js'

const DEFAULT_SIZE = 256 * 1024
const encoder = new TextEncoder()

export class Slab {
  private buf: Uint8Array<ArrayBuffer>
  private at = 0
  private begin = 0
  private readonly size: number

  constructor (size = DEFAULT_SIZE) {
    this.size = size
    this.buf = new Uint8Array(0)
  }

  /** Starts a record of at most `most` bytes. */
  start (most: number): this {
    if (this.at + most > this.buf.byteLength) {
      this.buf = new Uint8Array(Math.max(this.size, most))
      this.at = 0
    }
    this.begin = this.at
    return this
  }

  /**
   * Leaves room for the tag (a field number below 16) and length (up to 2 MiB) of a message field that
   * holds the rest of the record: endNested() writes them once the length is known.
   */
  nested (): this {
    this.at += 4
    return this
  }

  /** The record, its body (all written since nested()) behind the tag and length of field `tag`. */
  endNested (tag: number): Uint8Array<ArrayBuffer> {
    const body = this.begin + 4
    const length = this.at - body
    const header = 1 + varintLength(length)
    if (header > 4) throw new RangeError('nested field too long for a slab record')
    const end = this.at
    this.at = body - header
    this.varint(tag).varint(length)
    this.at = end
    this.begin = body - header
    return this.end()
  }

  /** The record written since start(), as a view. */
  end (): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(this.begin, this.at)
  }

  /** A varint of a non-negative safe integer (up to 8 bytes for 2^53). */
  varint (n: number): this {
    this.at = putVarint(this.buf, this.at, n)
    return this
  }

  bytes (b: Uint8Array): this {
    this.buf.set(b, this.at)
    this.at += b.byteLength
    return this
  }

  /** Hex text (see src/hex.ts) as its bytes. */
  hex (text: string): this {
    this.at += hexInto(text, this.buf, this.at)
    return this
  }

  /** `text` as UTF-8, without a length (start() must have room for 3 bytes per UTF-16 unit). */
  utf8 (text: string): this {
    this.at += encoder.encodeInto(text, this.buf.subarray(this.at)).written
    return this
  }

  /**
   * A protobuf length-delimited field holding `text` as UTF-8: the tag, the length, the text. The text is
   * encoded in place (start() must have room for 3 bytes per UTF-16 unit, plus 8).
   */
  utf8Field (tag: number, text: string): this {
    this.varint(tag)
    // the length comes before the text and takes 1-3 bytes (texts up to 2 MiB): encode the text after
    // the longest, then move it up if the length took fewer
    const room = 3
    const { written } = encoder.encodeInto(text, this.buf.subarray(this.at + room))
    const lengthAt = this.at
    this.varint(written)
    const used = this.at - lengthAt
    if (used > room) throw new RangeError('text too long for a slab field')
    if (used < room) this.buf.copyWithin(this.at, lengthAt + room, lengthAt + room + written)
    this.at += written
    return this
  }
}

/** Writes a varint of a non-negative safe integer into `buf` at `at`; returns where it ends. */
export function putVarint (buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[at++] = n
  return at
}

/** The bytes a varint of `n` takes. */
export function varintLength (n: number): number {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}
