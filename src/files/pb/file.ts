import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface FileOfferPb {
  id: Uint8Array<ArrayBuffer>
  name: string
  size: number
  type: string
  chunkSize: number
  manifest: Uint8Array<ArrayBuffer>
  thumbnail?: Uint8Array<ArrayBuffer>
  key?: Uint8Array<ArrayBuffer>
}

export namespace FileOfferPb {
  let _codec: Codec<FileOfferPb>

  export const codec = (): Codec<FileOfferPb> => {
    if (_codec == null) {
      _codec = message<FileOfferPb>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(18)
          w.string(obj.name)
        }

        if ((obj.size != null && obj.size !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.size)
        }

        if ((obj.type != null && obj.type !== '')) {
          w.uint32(34)
          w.string(obj.type)
        }

        if ((obj.chunkSize != null && obj.chunkSize !== 0)) {
          w.uint32(40)
          w.uint32(obj.chunkSize)
        }

        if ((obj.manifest != null && obj.manifest.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.manifest)
        }

        if (obj.thumbnail != null) {
          w.uint32(58)
          w.bytes(obj.thumbnail)
        }

        if (obj.key != null) {
          w.uint32(66)
          w.bytes(obj.key)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          name: '',
          size: 0,
          type: '',
          chunkSize: 0,
          manifest: uint8ArrayAlloc(0)
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
              obj.name = reader.string()
              break
            }
            case 3: {
              obj.size = reader.uint64Number()
              break
            }
            case 4: {
              obj.type = reader.string()
              break
            }
            case 5: {
              obj.chunkSize = reader.uint32()
              break
            }
            case 6: {
              obj.manifest = reader.bytes()
              break
            }
            case 7: {
              obj.thumbnail = reader.bytes()
              break
            }
            case 8: {
              obj.key = reader.bytes()
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
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.type`,
                value: reader.string()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.chunkSize`,
                value: reader.uint32()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.manifest`,
                value: reader.bytes()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.thumbnail`,
                value: reader.bytes()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.key`,
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

  export interface FileOfferPbIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileOfferPbNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface FileOfferPbSizeFieldEvent {
    field: '$.size'
    value: number
  }

  export interface FileOfferPbTypeFieldEvent {
    field: '$.type'
    value: string
  }

  export interface FileOfferPbChunkSizeFieldEvent {
    field: '$.chunkSize'
    value: number
  }

  export interface FileOfferPbManifestFieldEvent {
    field: '$.manifest'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileOfferPbThumbnailFieldEvent {
    field: '$.thumbnail'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileOfferPbKeyFieldEvent {
    field: '$.key'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<FileOfferPb>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileOfferPb.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileOfferPb>): FileOfferPb {
    return decodeMessage(buf, FileOfferPb.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileOfferPb>): Generator<FileOfferPbIdFieldEvent | FileOfferPbNameFieldEvent | FileOfferPbSizeFieldEvent | FileOfferPbTypeFieldEvent | FileOfferPbChunkSizeFieldEvent | FileOfferPbManifestFieldEvent | FileOfferPbThumbnailFieldEvent | FileOfferPbKeyFieldEvent> {
    return streamMessage(buf, FileOfferPb.codec(), opts)
  }
}

export interface FileRequest {
  id: Uint8Array<ArrayBuffer>
}

export namespace FileRequest {
  let _codec: Codec<FileRequest>

  export const codec = (): Codec<FileRequest> => {
    if (_codec == null) {
      _codec = message<FileRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.id = reader.bytes()
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

  export interface FileRequestIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<FileRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileRequest>): FileRequest {
    return decodeMessage(buf, FileRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileRequest>): Generator<FileRequestIdFieldEvent> {
    return streamMessage(buf, FileRequest.codec(), opts)
  }
}

export interface FileHeader {
  hashes: Uint8Array<ArrayBuffer>
  error?: string
}

export namespace FileHeader {
  let _codec: Codec<FileHeader>

  export const codec = (): Codec<FileHeader> => {
    if (_codec == null) {
      _codec = message<FileHeader>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.hashes != null && obj.hashes.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.hashes)
        }

        if (obj.error != null) {
          w.uint32(18)
          w.string(obj.error)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          hashes: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.hashes = reader.bytes()
              break
            }
            case 2: {
              obj.error = reader.string()
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
                field: `${prefix}.hashes`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.error`,
                value: reader.string()
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

  export interface FileHeaderHashesFieldEvent {
    field: '$.hashes'
    value: Uint8Array<ArrayBuffer>
  }

  export interface FileHeaderErrorFieldEvent {
    field: '$.error'
    value: string
  }

  export function encode (obj: Partial<FileHeader>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileHeader.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileHeader>): FileHeader {
    return decodeMessage(buf, FileHeader.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileHeader>): Generator<FileHeaderHashesFieldEvent | FileHeaderErrorFieldEvent> {
    return streamMessage(buf, FileHeader.codec(), opts)
  }
}

export interface FileWant {
  first: number
  count: number
}

export namespace FileWant {
  let _codec: Codec<FileWant>

  export const codec = (): Codec<FileWant> => {
    if (_codec == null) {
      _codec = message<FileWant>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.first != null && obj.first !== 0)) {
          w.uint32(8)
          w.uint32(obj.first)
        }

        if ((obj.count != null && obj.count !== 0)) {
          w.uint32(16)
          w.uint32(obj.count)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          first: 0,
          count: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.first = reader.uint32()
              break
            }
            case 2: {
              obj.count = reader.uint32()
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
                field: `${prefix}.first`,
                value: reader.uint32()
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

  export interface FileWantFirstFieldEvent {
    field: '$.first'
    value: number
  }

  export interface FileWantCountFieldEvent {
    field: '$.count'
    value: number
  }

  export function encode (obj: Partial<FileWant>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileWant.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileWant>): FileWant {
    return decodeMessage(buf, FileWant.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileWant>): Generator<FileWantFirstFieldEvent | FileWantCountFieldEvent> {
    return streamMessage(buf, FileWant.codec(), opts)
  }
}
