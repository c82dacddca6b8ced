/**
 * Reading our protocols' frames strictly: a length prefix no longer than the frame limit needs, and
 * protobuf fields of the wire type their declaration gives, strings in valid UTF-8.
 *
 * Length prefixes. `lpStream` (@libp2p/utils) reads a varint prefix a byte at a time and takes the
 * RangeError that uint8-varint throws for an unfinished varint as "more bytes needed" before it compares
 * the prefix's length with `maxLengthLength`, so a prefix that never ends (0x80 0x80 …) is read and kept
 * without bound. {@link boundedLpStream} gives lpStream a length decoder that refuses a prefix as soon as
 * it is longer than a length up to `maxDataLength` can need (3 bytes for 64 KiB), with lpStream's own
 * InvalidDataLengthLengthError, so a handler counts it as an oversized frame.
 *
 * Decoding. {@link boundedPbStream} turns every error of a protons decoder into ProtocolViolationError.
 *
 * Fields. The protons-generated decoders look only at field numbers: a string field sent as a varint is
 * read as garbage, and invalid UTF-8 becomes lone surrogates. {@link checkFields} scans a frame against a
 * {@link Shape} first (one pass over the tags; strings are checked by the platform's UTF-8 decoder).
 */
import { InvalidDataLengthLengthError, lpStream, pbStream } from '@libp2p/utils'
import { reader } from 'protons-runtime'
import { ProtocolViolationError } from '../errors.js'
import { putVarint, varintLength } from '../slab.js'
import type { AbortOptions, MessageStream, StreamCloseEvent } from '@libp2p/interface'
import type { LengthPrefixedStream, LengthPrefixedStreamOpts, ProtobufStream } from '@libp2p/utils'

/**
 * What the length decoder throws for a prefix not complete yet, which lpStream takes as "read another
 * byte": made once, as it is thrown for nearly every frame (a 1 kB frame has a 2-byte prefix) and an
 * error's stack trace costs more than the rest of the frame's decoding.
 */
const PREFIX_INCOMPLETE = new RangeError('length prefix not complete')

/** lpStream options whose length decoder refuses a prefix longer than `maxDataLength` needs. */
export function frameLimits (maxDataLength: number): Partial<LengthPrefixedStreamOpts> {
  let maxLengthLength = 1
  while (2 ** (7 * maxLengthLength) <= maxDataLength) maxLengthLength++
  return {
    maxDataLength,
    maxLengthLength,
    lengthDecoder: (prefix) => {
      let length = 0
      for (let i = 0; i < prefix.byteLength; i++) {
        const byte = prefix.get(i)
        length += (byte & 0x7f) * 2 ** (7 * i)
        if (byte < 0x80) return length
        if (i + 1 >= maxLengthLength) throw new InvalidDataLengthLengthError(`length prefix longer than ${maxLengthLength} bytes`)
      }
      // unfinished: lpStream reads another byte and asks again
      throw PREFIX_INCOMPLETE
    }
  }
}

/** `lpStream` with frames up to `maxDataLength` bytes and a prefix no longer than that needs. */
export function boundedLpStream<S extends MessageStream> (stream: S, maxDataLength: number): LengthPrefixedStream<S> {
  return lpStream(stream, frameLimits(maxDataLength))
}

/**
 * Writes frames as `lpStream(stream).writeV(frames)` does (each behind its varint length), in one buffer.
 *
 * lpStream hands the stream two buffers per frame, and the connection below keeps every buffer apart:
 * Noise encrypts each one of a list on its own and TCP writes each result with a socket write of its
 * own, so a burst of 1 kB frames cost four system calls per frame (length and ciphertext, twice) on the
 * sender and as many small reads on the receiver. One buffer goes out as pieces of up to 64 KiB.
 * Waits while the stream asks the writer to (until 'drain'), as lpStream does.
 */
export async function writeFrames (stream: MessageStream, frames: Uint8Array[], options?: AbortOptions): Promise<void> {
  let size = 0
  for (const f of frames) size += varintLength(f.byteLength) + f.byteLength
  const buf = new Uint8Array(size)
  let at = 0
  for (const f of frames) {
    at = putVarint(buf, at, f.byteLength)
    buf.set(f, at)
    at += f.byteLength
  }
  if (stream.send(buf)) return
  options?.signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      options?.signal?.removeEventListener('abort', onAbort)
      if (err != null) reject(err)
      else resolve()
    }
    const onDrain = (): void => { done() }
    const onClose = (evt: StreamCloseEvent): void => { done(evt.error ?? new Error('the stream closed while writing')) }
    const onAbort = (): void => { done(options?.signal?.reason) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    options?.signal?.addEventListener('abort', onAbort)
  })
}

/**
 * `pbStream` with frames up to `maxDataLength` bytes and a prefix no longer than that needs, whose `read`
 * throws ProtocolViolationError for a frame that does not decode. (protons throws RangeError for a
 * frame cut short, MaxLengthError past a decode limit, and a plain Error for an invalid wire type or
 * varint: a handler that counts refusals by error name would miss the last.)
 */
export function boundedPbStream<S extends MessageStream> (stream: S, maxDataLength: number): ProtobufStream<S> {
  const pb = pbStream(stream, frameLimits(maxDataLength))
  const read = pb.read
  // pb.pb() reads through this property too
  pb.read = async (proto, options) => await read({
    decode: (data, opts) => {
      try {
        return proto.decode(data, opts)
      } catch (err: any) {
        throw new ProtocolViolationError(`undecodable frame: ${err.message}`)
      }
    }
  }, options)
  return pb
}

/**
 * What each field of a protobuf message holds, by field number, as its .proto declares it: a varint
 * (integers, enums, bools), bytes, a UTF-8 string, or a nested message of its own shape.
 */
export interface Shape { readonly [field: number]: 'varint' | 'bytes' | 'string' | Shape }

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const VARINT = 0
const LEN = 2

/**
 * Checks a frame against its shape before the generated decoder reads it: every field the shape names
 * has its declared wire type, strings are valid UTF-8, nested messages end where their length says, and
 * other fields are well-formed (groups refused). Throws ProtocolViolationError.
 */
export function checkFields (bytes: Uint8Array, shape: Shape): void {
  try {
    check(bytes, reader(bytes), bytes.byteLength, shape)
  } catch (err: any) {
    if (err.name === ProtocolViolationError.name) throw err
    throw new ProtocolViolationError('undecodable frame')
  }
}

function check (bytes: Uint8Array, r: ReturnType<typeof reader>, end: number, shape: Shape): void {
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wire = tag & 7
    const want = shape[field]
    if (field === 0) throw new ProtocolViolationError('field number 0')
    if (want === 'varint') {
      if (wire !== VARINT) throw new ProtocolViolationError(`field ${field} has wire type ${wire}, not a varint`)
      r.skip()
    } else if (want == null) {
      if (wire === 3 || wire === 4) throw new ProtocolViolationError('groups are not used')
      r.skipType(wire)
    } else {
      if (wire !== LEN) throw new ProtocolViolationError(`field ${field} has wire type ${wire}, not a length`)
      const length = r.uint32()
      const start = r.pos
      if (start + length > end) throw new ProtocolViolationError(`field ${field} runs past its message`)
      if (want === 'string') {
        if (!validUtf8(bytes, start, start + length)) throw new ProtocolViolationError(`field ${field} is not valid UTF-8`)
      } else if (want !== 'bytes') {
        check(bytes, r, start + length, want)
      }
      r.pos = start + length
    }
    if (r.pos > end) throw new ProtocolViolationError(`field ${field} runs past its message`)
  }
}

/** Are bytes[start, end) valid UTF-8? ASCII is looked at here (most chat text); the rest by the platform's decoder. */
function validUtf8 (bytes: Uint8Array, start: number, end: number): boolean {
  let i = start
  while (i < end && bytes[i] < 0x80) i++
  if (i === end) return true
  try {
    utf8.decode(bytes.subarray(i, end))
    return true
  } catch {
    return false
  }
}
