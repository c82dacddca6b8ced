import { decodeMessage, encodeMessage, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface MessageRecord {
  incoming: boolean
  text: Uint8Array<ArrayBuffer>
  timestamp: number
  receivedAt?: number
  seq?: number
  order?: number
  file?: string
  offer?: string
}

export namespace MessageRecord {
  let _codec: Codec<MessageRecord>

  export const codec = (): Codec<MessageRecord> => {
    if (_codec == null) {
      _codec = message<MessageRecord>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.incoming != null && obj.incoming !== false)) {
          w.uint32(8)
          w.bool(obj.incoming)
        }

        if ((obj.text != null && obj.text.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.text)
        }

        if ((obj.timestamp != null && obj.timestamp !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.timestamp)
        }

        if (obj.receivedAt != null) {
          w.uint32(32)
          w.uint64Number(obj.receivedAt)
        }

        if (obj.seq != null) {
          w.uint32(40)
          w.uint64Number(obj.seq)
        }

        if (obj.order != null) {
          w.uint32(48)
          w.uint64Number(obj.order)
        }

        if (obj.file != null) {
          w.uint32(58)
          w.string(obj.file)
        }

        if (obj.offer != null) {
          w.uint32(66)
          w.string(obj.offer)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          incoming: false,
          text: uint8ArrayAlloc(0),
          timestamp: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.incoming = reader.bool()
              break
            }
            case 2: {
              obj.text = reader.bytes()
              break
            }
            case 3: {
              obj.timestamp = reader.uint64Number()
              break
            }
            case 4: {
              obj.receivedAt = reader.uint64Number()
              break
            }
            case 5: {
              obj.seq = reader.uint64Number()
              break
            }
            case 6: {
              obj.order = reader.uint64Number()
              break
            }
            case 7: {
              obj.file = reader.string()
              break
            }
            case 8: {
              obj.offer = reader.string()
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
                field: `${prefix}.incoming`,
                value: reader.bool()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.text`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.timestamp`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.receivedAt`,
                value: reader.uint64Number()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.seq`,
                value: reader.uint64Number()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.order`,
                value: reader.uint64Number()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.file`,
                value: reader.string()
              }
              break
            }
            case 8: {
              yield {
                field: `${prefix}.offer`,
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

  export interface MessageRecordIncomingFieldEvent {
    field: '$.incoming'
    value: boolean
  }

  export interface MessageRecordTextFieldEvent {
    field: '$.text'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageRecordTimestampFieldEvent {
    field: '$.timestamp'
    value: number
  }

  export interface MessageRecordReceivedAtFieldEvent {
    field: '$.receivedAt'
    value: number
  }

  export interface MessageRecordSeqFieldEvent {
    field: '$.seq'
    value: number
  }

  export interface MessageRecordOrderFieldEvent {
    field: '$.order'
    value: number
  }

  export interface MessageRecordFileFieldEvent {
    field: '$.file'
    value: string
  }

  export interface MessageRecordOfferFieldEvent {
    field: '$.offer'
    value: string
  }

  export function encode (obj: Partial<MessageRecord>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MessageRecord.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageRecord>): MessageRecord {
    return decodeMessage(buf, MessageRecord.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MessageRecord>): Generator<MessageRecordIncomingFieldEvent | MessageRecordTextFieldEvent | MessageRecordTimestampFieldEvent | MessageRecordReceivedAtFieldEvent | MessageRecordSeqFieldEvent | MessageRecordOrderFieldEvent | MessageRecordFileFieldEvent | MessageRecordOfferFieldEvent> {
    return streamMessage(buf, MessageRecord.codec(), opts)
  }
}
