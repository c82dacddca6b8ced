import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RoomEnvelope {
  id: Uint8Array<ArrayBuffer>
  author: Uint8Array<ArrayBuffer>
  timestamp: bigint
  text: string
  signature: Uint8Array<ArrayBuffer>
  file?: Uint8Array<ArrayBuffer>
}

export namespace RoomEnvelope {
  let _codec: Codec<RoomEnvelope>

  export const codec = (): Codec<RoomEnvelope> => {
    if (_codec == null) {
      _codec = message<RoomEnvelope>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.author != null && obj.author.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.author)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(24)
          w.uint64(obj.timestamp)
        }

        if ((obj.text != null && obj.text !== '')) {
          w.uint32(34)
          w.string(obj.text)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.signature)
        }

        if (obj.file != null) {
          w.uint32(50)
          w.bytes(obj.file)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          author: uint8ArrayAlloc(0),
          timestamp: 0n,
          text: '',
          signature: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
              break
            }
            case 2: {
              obj.author = reader.bytes()
              break
            }
            case 3: {
              obj.timestamp = reader.uint64()
              break
            }
            case 4: {
              obj.text = reader.string()
              break
            }
            case 5: {
              obj.signature = reader.bytes()
              break
            }
            case 6: {
              obj.file = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.id`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.author`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.text`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.file`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RoomEnvelopeIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomEnvelopeAuthorFieldEvent {
    field: '$.author'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomEnvelopeTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface RoomEnvelopeTextFieldEvent {
    field: '$.text'
    value: string
  }

  export interface RoomEnvelopeSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomEnvelopeFileFieldEvent {
    field: '$.file'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<RoomEnvelope>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomEnvelope.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomEnvelope>): RoomEnvelope {
    return decodeMessage(buf, RoomEnvelope.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomEnvelope>): Generator<RoomEnvelopeIdFieldEvent | RoomEnvelopeAuthorFieldEvent | RoomEnvelopeTimestampFieldEvent | RoomEnvelopeTextFieldEvent | RoomEnvelopeSignatureFieldEvent | RoomEnvelopeFileFieldEvent> {
    return streamMessage(buf, RoomEnvelope.codec(), opts)
  }
}

export interface RoomInvite {
  version: number
  name: string
  secret: Uint8Array<ArrayBuffer>
  creator?: Uint8Array<ArrayBuffer>
}

export namespace RoomInvite {
  let _codec: Codec<RoomInvite>

  export const codec = (): Codec<RoomInvite> => {
    if (_codec == null) {
      _codec = message<RoomInvite>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(18)
          w.string(obj.name)
        }

        if ((obj.secret != null && obj.secret.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.secret)
        }

        if (obj.creator != null) {
          w.uint32(34)
          w.bytes(obj.creator)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          name: '',
          secret: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.name = reader.string()
              break
            }
            case 3: {
              obj.secret = reader.bytes()
              break
            }
            case 4: {
              obj.creator = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.secret`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.creator`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RoomInviteVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface RoomInviteNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface RoomInviteSecretFieldEvent {
    field: '$.secret'
    value: Uint8Array<ArrayBuffer>
  }

  export interface RoomInviteCreatorFieldEvent {
    field: '$.creator'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<RoomInvite>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomInvite.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomInvite>): RoomInvite {
    return decodeMessage(buf, RoomInvite.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomInvite>): Generator<RoomInviteVersionFieldEvent | RoomInviteNameFieldEvent | RoomInviteSecretFieldEvent | RoomInviteCreatorFieldEvent> {
    return streamMessage(buf, RoomInvite.codec(), opts)
  }
}

export interface SyncRequest {
  roomId: Uint8Array<ArrayBuffer>
  auth: Uint8Array<ArrayBuffer>
}

export namespace SyncRequest {
  let _codec: Codec<SyncRequest>

  export const codec = (): Codec<SyncRequest> => {
    if (_codec == null) {
      _codec = message<SyncRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.roomId != null && obj.roomId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.roomId)
        }

        if ((obj.auth != null && obj.auth.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.auth)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          roomId: uint8ArrayAlloc(0),
          auth: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.roomId = reader.bytes()
              break
            }
            case 2: {
              obj.auth = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.roomId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.auth`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncRequestRoomIdFieldEvent {
    field: '$.roomId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncRequestAuthFieldEvent {
    field: '$.auth'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SyncRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRequest>): SyncRequest {
    return decodeMessage(buf, SyncRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRequest>): Generator<SyncRequestRoomIdFieldEvent | SyncRequestAuthFieldEvent> {
    return streamMessage(buf, SyncRequest.codec(), opts)
  }
}

export interface SyncRange {
  last: Uint8Array<ArrayBuffer>
  count: number
  fingerprint: Uint8Array<ArrayBuffer>
}

export namespace SyncRange {
  let _codec: Codec<SyncRange>

  export const codec = (): Codec<SyncRange> => {
    if (_codec == null) {
      _codec = message<SyncRange>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.last != null && obj.last.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.last)
        }

        if ((obj.count != null && obj.count !== 0)) {
          w.uint32(16)
          w.uint32(obj.count)
        }

        if ((obj.fingerprint != null && obj.fingerprint.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.fingerprint)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          last: uint8ArrayAlloc(0),
          count: 0,
          fingerprint: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.last = reader.bytes()
              break
            }
            case 2: {
              obj.count = reader.uint32()
              break
            }
            case 3: {
              obj.fingerprint = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.last`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.count`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.fingerprint`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncRangeLastFieldEvent {
    field: '$.last'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncRangeCountFieldEvent {
    field: '$.count'
    value: number
  }

  export interface SyncRangeFingerprintFieldEvent {
    field: '$.fingerprint'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SyncRange>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncRange.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRange>): SyncRange {
    return decodeMessage(buf, SyncRange.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRange>): Generator<SyncRangeLastFieldEvent | SyncRangeCountFieldEvent | SyncRangeFingerprintFieldEvent> {
    return streamMessage(buf, SyncRange.codec(), opts)
  }
}

export interface SyncSummary {
  first: Uint8Array<ArrayBuffer>
  ranges: SyncRange[]
}

export namespace SyncSummary {
  let _codec: Codec<SyncSummary>

  export const codec = (): Codec<SyncSummary> => {
    if (_codec == null) {
      _codec = message<SyncSummary>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.first != null && obj.first.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.first)
        }

        if (obj.ranges != null && obj.ranges.length > 0) {
          for (const value of obj.ranges) {
            w.uint32(18)
            SyncRange.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          first: uint8ArrayAlloc(0),
          ranges: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.first = reader.bytes()
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges.length === opts.limits.ranges) {
                throw new MaxLengthError('Decode error - repeated field "ranges" had too many elements')
              }

              obj.ranges.push(SyncRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ranges$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          ranges: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.first`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              if (opts.limits?.ranges != null && obj.ranges === opts.limits.ranges) {
                throw new MaxLengthError('Streaming decode error - repeated field "ranges" had too many elements')
              }

              for (const evt of SyncRange.codec().stream(reader, reader.uint32(), `${prefix}.ranges[]`, {
                limits: opts.limits?.ranges$
              })) {
                yield {
                  ...evt,
                  index: obj.ranges
                }
              }

              obj.ranges++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncSummaryFirstFieldEvent {
    field: '$.first'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncSummaryRangesLastFieldEvent {
    field: '$.ranges[].last'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncSummaryRangesCountFieldEvent {
    field: '$.ranges[].count'
    value: number
    index: number
  }

  export interface SyncSummaryRangesFingerprintFieldEvent {
    field: '$.ranges[].fingerprint'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export function encode (obj: Partial<SyncSummary>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncSummary.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncSummary>): SyncSummary {
    return decodeMessage(buf, SyncSummary.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncSummary>): Generator<SyncSummaryFirstFieldEvent | SyncSummaryRangesLastFieldEvent | SyncSummaryRangesCountFieldEvent | SyncSummaryRangesFingerprintFieldEvent> {
    return streamMessage(buf, SyncSummary.codec(), opts)
  }
}

export interface SyncWant {
  whole: number[]
  list: number[]
  items: Uint8Array<ArrayBuffer>[]
  done: boolean
}

export namespace SyncWant {
  let _codec: Codec<SyncWant>

  export const codec = (): Codec<SyncWant> => {
    if (_codec == null) {
      _codec = message<SyncWant>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.whole != null && obj.whole.length > 0) {
          for (const value of obj.whole) {
            w.uint32(8)
            w.uint32(value)
          }
        }

        if (obj.list != null && obj.list.length > 0) {
          for (const value of obj.list) {
            w.uint32(16)
            w.uint32(value)
          }
        }

        if (obj.items != null && obj.items.length > 0) {
          for (const value of obj.items) {
            w.uint32(26)
            w.bytes(value)
          }
        }

        if ((obj.done != null && obj.done !== false)) {
          w.uint32(32)
          w.bool(obj.done)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          whole: [],
          list: [],
          items: [],
          done: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.whole != null && obj.whole.length === opts.limits.whole) {
                throw new MaxLengthError('Decode error - repeated field "whole" had too many elements')
              }

              obj.whole.push(reader.uint32())
              break
            }
            case 2: {
              if (opts.limits?.list != null && obj.list.length === opts.limits.list) {
                throw new MaxLengthError('Decode error - repeated field "list" had too many elements')
              }

              obj.list.push(reader.uint32())
              break
            }
            case 3: {
              if (opts.limits?.items != null && obj.items.length === opts.limits.items) {
                throw new MaxLengthError('Decode error - repeated field "items" had too many elements')
              }

              obj.items.push(reader.bytes())
              break
            }
            case 4: {
              obj.done = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          whole: 0,
          list: 0,
          items: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.whole != null && obj.whole === opts.limits.whole) {
                throw new MaxLengthError('Streaming decode error - repeated field "whole" had too many elements')
              }

              yield {
                field: `${prefix}.whole[]`,
                index: obj.whole,
                value: reader.uint32()
              }

              obj.whole++

              break
            }
            case 2: {
              if (opts.limits?.list != null && obj.list === opts.limits.list) {
                throw new MaxLengthError('Streaming decode error - repeated field "list" had too many elements')
              }

              yield {
                field: `${prefix}.list[]`,
                index: obj.list,
                value: reader.uint32()
              }

              obj.list++

              break
            }
            case 3: {
              if (opts.limits?.items != null && obj.items === opts.limits.items) {
                throw new MaxLengthError('Streaming decode error - repeated field "items" had too many elements')
              }

              yield {
                field: `${prefix}.items[]`,
                index: obj.items,
                value: reader.bytes()
              }

              obj.items++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.done`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncWantWholeFieldEvent {
    field: '$.whole[]'
    index: number
    value: number
  }

  export interface SyncWantListFieldEvent {
    field: '$.list[]'
    index: number
    value: number
  }

  export interface SyncWantItemsFieldEvent {
    field: '$.items[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncWantDoneFieldEvent {
    field: '$.done'
    value: boolean
  }

  export function encode (obj: Partial<SyncWant>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncWant.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncWant>): SyncWant {
    return decodeMessage(buf, SyncWant.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncWant>): Generator<SyncWantWholeFieldEvent | SyncWantListFieldEvent | SyncWantItemsFieldEvent | SyncWantDoneFieldEvent> {
    return streamMessage(buf, SyncWant.codec(), opts)
  }
}

export interface SyncItems {
  items: Uint8Array<ArrayBuffer>[]
}

export namespace SyncItems {
  let _codec: Codec<SyncItems>

  export const codec = (): Codec<SyncItems> => {
    if (_codec == null) {
      _codec = message<SyncItems>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.items != null && obj.items.length > 0) {
          for (const value of obj.items) {
            w.uint32(10)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          items: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.items != null && obj.items.length === opts.limits.items) {
                throw new MaxLengthError('Decode error - repeated field "items" had too many elements')
              }

              obj.items.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          items: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.items != null && obj.items === opts.limits.items) {
                throw new MaxLengthError('Streaming decode error - repeated field "items" had too many elements')
              }

              yield {
                field: `${prefix}.items[]`,
                index: obj.items,
                value: reader.bytes()
              }

              obj.items++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncItemsItemsFieldEvent {
    field: '$.items[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SyncItems>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncItems.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncItems>): SyncItems {
    return decodeMessage(buf, SyncItems.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncItems>): Generator<SyncItemsItemsFieldEvent> {
    return streamMessage(buf, SyncItems.codec(), opts)
  }
}

export interface SyncFrame {
  message?: Uint8Array<ArrayBuffer>
  item?: Uint8Array<ArrayBuffer>
  end?: boolean
  more?: boolean
}

export namespace SyncFrame {
  let _codec: Codec<SyncFrame>

  export const codec = (): Codec<SyncFrame> => {
    if (_codec == null) {
      _codec = message<SyncFrame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.message != null) {
          w.uint32(10)
          w.bytes(obj.message)
        }

        if (obj.item != null) {
          w.uint32(18)
          w.bytes(obj.item)
        }

        if (obj.end != null) {
          w.uint32(24)
          w.bool(obj.end)
        }

        if (obj.more != null) {
          w.uint32(32)
          w.bool(obj.more)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {}

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.message = reader.bytes()
              break
            }
            case 2: {
              obj.item = reader.bytes()
              break
            }
            case 3: {
              obj.end = reader.bool()
              break
            }
            case 4: {
              obj.more = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.message`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.item`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.end`,
                value: reader.bool()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.more`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncFrameMessageFieldEvent {
    field: '$.message'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncFrameItemFieldEvent {
    field: '$.item'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncFrameEndFieldEvent {
    field: '$.end'
    value: boolean
  }

  export interface SyncFrameMoreFieldEvent {
    field: '$.more'
    value: boolean
  }

  export function encode (obj: Partial<SyncFrame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncFrame>): SyncFrame {
    return decodeMessage(buf, SyncFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncFrame>): Generator<SyncFrameMessageFieldEvent | SyncFrameItemFieldEvent | SyncFrameEndFieldEvent | SyncFrameMoreFieldEvent> {
    return streamMessage(buf, SyncFrame.codec(), opts)
  }
}
