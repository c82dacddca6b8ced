import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface RoomEnvelope {
  id: Uint8Array<ArrayBuffer>
  author: Uint8Array<ArrayBuffer>
  timestamp: bigint
  text: string
  signature: Uint8Array<ArrayBuffer>
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

  export function encode (obj: Partial<RoomEnvelope>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, RoomEnvelope.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomEnvelope>): RoomEnvelope {
    return decodeMessage(buf, RoomEnvelope.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<RoomEnvelope>): Generator<RoomEnvelopeIdFieldEvent | RoomEnvelopeAuthorFieldEvent | RoomEnvelopeTimestampFieldEvent | RoomEnvelopeTextFieldEvent | RoomEnvelopeSignatureFieldEvent> {
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
  since: bigint
  limit: number
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

        if ((obj.since != null && obj.since !== 0n)) {
          w.uint32(24)
          w.uint64(obj.since)
        }

        if ((obj.limit != null && obj.limit !== 0)) {
          w.uint32(32)
          w.uint32(obj.limit)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          roomId: uint8ArrayAlloc(0),
          auth: uint8ArrayAlloc(0),
          since: 0n,
          limit: 0
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
            case 3: {
              obj.since = reader.uint64()
              break
            }
            case 4: {
              obj.limit = reader.uint32()
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
            case 3: {
              yield {
                field: `${prefix}.since`,
                value: reader.uint64()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.limit`,
                value: reader.uint32()
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

  export interface SyncRequestSinceFieldEvent {
    field: '$.since'
    value: bigint
  }

  export interface SyncRequestLimitFieldEvent {
    field: '$.limit'
    value: number
  }

  export function encode (obj: Partial<SyncRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRequest>): SyncRequest {
    return decodeMessage(buf, SyncRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncRequest>): Generator<SyncRequestRoomIdFieldEvent | SyncRequestAuthFieldEvent | SyncRequestSinceFieldEvent | SyncRequestLimitFieldEvent> {
    return streamMessage(buf, SyncRequest.codec(), opts)
  }
}

export interface SyncFrame {
  message?: Uint8Array<ArrayBuffer>
  end?: boolean
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

        if (obj.end != null) {
          w.uint32(16)
          w.bool(obj.end)
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
              obj.end = reader.bool()
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
                field: `${prefix}.end`,
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

  export interface SyncFrameEndFieldEvent {
    field: '$.end'
    value: boolean
  }

  export function encode (obj: Partial<SyncFrame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncFrame>): SyncFrame {
    return decodeMessage(buf, SyncFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncFrame>): Generator<SyncFrameMessageFieldEvent | SyncFrameEndFieldEvent> {
    return streamMessage(buf, SyncFrame.codec(), opts)
  }
}
