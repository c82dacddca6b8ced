/**
 * Reading our protocols' frames with a length prefix no longer than the frame limit needs.
 *
 * `lpStream` (@libp2p/utils) reads a varint prefix a byte at a time and takes the
 * RangeError that uint8-varint throws for an unfinished varint as "more bytes needed" before it compares
 * the prefix's length with `maxLengthLength`, so a prefix that never ends (0x80 0x80 …) is read and kept
 * without bound. {@link boundedLpStream} gives lpStream a length decoder that refuses a prefix as soon as
 * it is longer than a length up to `maxDataLength` can need (3 bytes for 64 KiB), with lpStream's own
 * InvalidDataLengthLengthError, so a handler counts it as an oversized frame.
 */
import { InvalidDataLengthLengthError, lpStream, pbStream } from '@libp2p/utils'
import type { MessageStream } from '@libp2p/interface'
import type { LengthPrefixedStream, LengthPrefixedStreamOpts, ProtobufStream } from '@libp2p/utils'

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
      throw new RangeError('length prefix not complete')
    }
  }
}

/** `lpStream` with frames up to `maxDataLength` bytes and a prefix no longer than that needs. */
export function boundedLpStream<S extends MessageStream> (stream: S, maxDataLength: number): LengthPrefixedStream<S> {
  return lpStream(stream, frameLimits(maxDataLength))
}

/** `pbStream` with frames up to `maxDataLength` bytes and a prefix no longer than that needs. */
export function boundedPbStream<S extends MessageStream> (stream: S, maxDataLength: number): ProtobufStream<S> {
  return pbStream(stream, frameLimits(maxDataLength))
}
