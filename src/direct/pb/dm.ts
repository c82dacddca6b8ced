import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface DmFrame {
  message?: DirectMessage
  ack?: Ack
}

export namespace DmFrame {
  let _codec: Codec<DmFrame>

  export const codec = (): Codec<DmFrame> => {
    if (_codec == null) {
      _codec = message<DmFrame>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.message != null) {
          w.uint32(10)
          DirectMessage.codec().encode(obj.message, w)
        }

        if (obj.ack != null) {
          w.uint32(18)
          Ack.codec().encode(obj.ack, w)
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
              obj.message = DirectMessage.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.message
              })
              break
            }
            case 2: {
              obj.ack = Ack.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ack
              })
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
              yield * DirectMessage.codec().stream(reader, reader.uint32(), `${prefix}.message`, {
                limits: opts.limits?.message
              })

              break
            }
            case 2: {
              yield * Ack.codec().stream(reader, reader.uint32(), `${prefix}.ack`, {
                limits: opts.limits?.ack
              })

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

  export interface DmFrameMessageIdFieldEvent {
    field: '$.message.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DmFrameMessageTimestampFieldEvent {
    field: '$.message.timestamp'
    value: bigint
  }

  export interface DmFrameMessageTextFieldEvent {
    field: '$.message.text'
    value: string
  }

  export interface DmFrameMessageSeqFieldEvent {
    field: '$.message.seq'
    value: bigint
  }

  export interface DmFrameMessageFileFieldEvent {
    field: '$.message.file'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DmFrameAckCountFieldEvent {
    field: '$.ack.count'
    value: bigint
  }

  export function encode (obj: Partial<DmFrame>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DmFrame.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DmFrame>): DmFrame {
    return decodeMessage(buf, DmFrame.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DmFrame>): Generator<DmFrameMessageIdFieldEvent | DmFrameMessageTimestampFieldEvent | DmFrameMessageTextFieldEvent | DmFrameMessageSeqFieldEvent | DmFrameMessageFileFieldEvent | DmFrameAckCountFieldEvent> {
    return streamMessage(buf, DmFrame.codec(), opts)
  }
}

export interface DirectMessage {
  id: Uint8Array<ArrayBuffer>
  timestamp: bigint
  text: string
  seq?: bigint
  file?: Uint8Array<ArrayBuffer>
}

export namespace DirectMessage {
  let _codec: Codec<DirectMessage>

  export const codec = (): Codec<DirectMessage> => {
    if (_codec == null) {
      _codec = message<DirectMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.id != null && obj.id.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0n)) {
          w.uint32(16)
          w.uint64(obj.timestamp)
        }

        if ((obj.text != null && obj.text !== '')) {
          w.uint32(26)
          w.string(obj.text)
        }

        if (obj.seq != null) {
          w.uint32(32)
          w.uint64(obj.seq)
        }

        if (obj.file != null) {
          w.uint32(42)
          w.bytes(obj.file)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          id: uint8ArrayAlloc(0),
          timestamp: 0n,
          text: ''
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
              obj.timestamp = reader.uint64()
              break
            }
            case 3: {
              obj.text = reader.string()
              break
            }
            case 4: {
              obj.seq = reader.uint64()
              break
            }
            case 5: {
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
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.text`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
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

  export interface DirectMessageIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DirectMessageTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface DirectMessageTextFieldEvent {
    field: '$.text'
    value: string
  }

  export interface DirectMessageSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface DirectMessageFileFieldEvent {
    field: '$.file'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DirectMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DirectMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DirectMessage>): DirectMessage {
    return decodeMessage(buf, DirectMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DirectMessage>): Generator<DirectMessageIdFieldEvent | DirectMessageTimestampFieldEvent | DirectMessageTextFieldEvent | DirectMessageSeqFieldEvent | DirectMessageFileFieldEvent> {
    return streamMessage(buf, DirectMessage.codec(), opts)
  }
}

export interface Ack {
  count: bigint
}

export namespace Ack {
  let _codec: Codec<Ack>

  export const codec = (): Codec<Ack> => {
    if (_codec == null) {
      _codec = message<Ack>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.count != null && obj.count !== 0n)) {
          w.uint32(16)
          w.uint64(obj.count)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          count: 0n
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 2: {
              obj.count = reader.uint64()
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
            case 2: {
              yield {
                field: `${prefix}.count`,
                value: reader.uint64()
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

  export interface AckCountFieldEvent {
    field: '$.count'
    value: bigint
  }

  export function encode (obj: Partial<Ack>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Ack.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Ack>): Ack {
    return decodeMessage(buf, Ack.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Ack>): Generator<AckCountFieldEvent> {
    return streamMessage(buf, Ack.codec(), opts)
  }
}

export interface DmFrameIn {
  message?: DirectMessageIn
  ack?: Ack
}

export namespace DmFrameIn {
  let _codec: Codec<DmFrameIn>

  export const codec = (): Codec<DmFrameIn> => {
    if (_codec == null) {
      _codec = message<DmFrameIn>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.message != null) {
          w.uint32(10)
          DirectMessageIn.codec().encode(obj.message, w)
        }

        if (obj.ack != null) {
          w.uint32(18)
          Ack.codec().encode(obj.ack, w)
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
              obj.message = DirectMessageIn.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.message
              })
              break
            }
            case 2: {
              obj.ack = Ack.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ack
              })
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
              yield * DirectMessageIn.codec().stream(reader, reader.uint32(), `${prefix}.message`, {
                limits: opts.limits?.message
              })

              break
            }
            case 2: {
              yield * Ack.codec().stream(reader, reader.uint32(), `${prefix}.ack`, {
                limits: opts.limits?.ack
              })

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

  export interface DmFrameInMessageIdFieldEvent {
    field: '$.message.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DmFrameInMessageTimestampFieldEvent {
    field: '$.message.timestamp'
    value: bigint
  }

  export interface DmFrameInMessageTextFieldEvent {
    field: '$.message.text'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DmFrameInMessageSeqFieldEvent {
    field: '$.message.seq'
    value: bigint
  }

  export interface DmFrameInMessageFileFieldEvent {
    field: '$.message.file'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DmFrameInAckCountFieldEvent {
    field: '$.ack.count'
    value: bigint
  }

  export function encode (obj: Partial<DmFrameIn>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DmFrameIn.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DmFrameIn>): DmFrameIn {
    return decodeMessage(buf, DmFrameIn.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DmFrameIn>): Generator<DmFrameInMessageIdFieldEvent | DmFrameInMessageTimestampFieldEvent | DmFrameInMessageTextFieldEvent | DmFrameInMessageSeqFieldEvent | DmFrameInMessageFileFieldEvent | DmFrameInAckCountFieldEvent> {
    return streamMessage(buf, DmFrameIn.codec(), opts)
  }
}

export interface DirectMessageIn {
  id?: Uint8Array<ArrayBuffer>
  timestamp?: bigint
  text?: Uint8Array<ArrayBuffer>
  seq?: bigint
  file?: Uint8Array<ArrayBuffer>
}

export namespace DirectMessageIn {
  let _codec: Codec<DirectMessageIn>

  export const codec = (): Codec<DirectMessageIn> => {
    if (_codec == null) {
      _codec = message<DirectMessageIn>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.id != null) {
          w.uint32(10)
          w.bytes(obj.id)
        }

        if (obj.timestamp != null) {
          w.uint32(16)
          w.uint64(obj.timestamp)
        }

        if (obj.text != null) {
          w.uint32(26)
          w.bytes(obj.text)
        }

        if (obj.seq != null) {
          w.uint32(32)
          w.uint64(obj.seq)
        }

        if (obj.file != null) {
          w.uint32(42)
          w.bytes(obj.file)
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
              obj.id = reader.bytes()
              break
            }
            case 2: {
              obj.timestamp = reader.uint64()
              break
            }
            case 3: {
              obj.text = reader.bytes()
              break
            }
            case 4: {
              obj.seq = reader.uint64()
              break
            }
            case 5: {
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
                field: `${prefix}.timestamp`,
                value: reader.uint64()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.text`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64()
              }
              break
            }
            case 5: {
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

  export interface DirectMessageInIdFieldEvent {
    field: '$.id'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DirectMessageInTimestampFieldEvent {
    field: '$.timestamp'
    value: bigint
  }

  export interface DirectMessageInTextFieldEvent {
    field: '$.text'
    value: Uint8Array<ArrayBuffer>
  }

  export interface DirectMessageInSeqFieldEvent {
    field: '$.seq'
    value: bigint
  }

  export interface DirectMessageInFileFieldEvent {
    field: '$.file'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<DirectMessageIn>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, DirectMessageIn.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DirectMessageIn>): DirectMessageIn {
    return decodeMessage(buf, DirectMessageIn.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<DirectMessageIn>): Generator<DirectMessageInIdFieldEvent | DirectMessageInTimestampFieldEvent | DirectMessageInTextFieldEvent | DirectMessageInSeqFieldEvent | DirectMessageInFileFieldEvent> {
    return streamMessage(buf, DirectMessageIn.codec(), opts)
  }
}
