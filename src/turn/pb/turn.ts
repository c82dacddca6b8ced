import { decodeMessage, encodeMessage, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface TurnCredentials {
  urls: string[]
  username: string
  credential: string
  ttl: number
  retryAfter: number
}

export namespace TurnCredentials {
  let _codec: Codec<TurnCredentials>

  export const codec = (): Codec<TurnCredentials> => {
    if (_codec == null) {
      _codec = message<TurnCredentials>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.urls != null && obj.urls.length > 0) {
          for (const value of obj.urls) {
            w.uint32(10)
            w.string(value)
          }
        }

        if ((obj.username != null && obj.username !== '')) {
          w.uint32(18)
          w.string(obj.username)
        }

        if ((obj.credential != null && obj.credential !== '')) {
          w.uint32(26)
          w.string(obj.credential)
        }

        if ((obj.ttl != null && obj.ttl !== 0)) {
          w.uint32(32)
          w.uint32(obj.ttl)
        }

        if ((obj.retryAfter != null && obj.retryAfter !== 0)) {
          w.uint32(40)
          w.uint32(obj.retryAfter)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          urls: [],
          username: '',
          credential: '',
          ttl: 0,
          retryAfter: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.urls != null && obj.urls.length === opts.limits.urls) {
                throw new MaxLengthError('Decode error - repeated field "urls" had too many elements')
              }

              obj.urls.push(reader.string())
              break
            }
            case 2: {
              obj.username = reader.string()
              break
            }
            case 3: {
              obj.credential = reader.string()
              break
            }
            case 4: {
              obj.ttl = reader.uint32()
              break
            }
            case 5: {
              obj.retryAfter = reader.uint32()
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
          urls: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.urls != null && obj.urls === opts.limits.urls) {
                throw new MaxLengthError('Streaming decode error - repeated field "urls" had too many elements')
              }

              yield {
                field: `${prefix}.urls[]`,
                index: obj.urls,
                value: reader.string()
              }

              obj.urls++

              break
            }
            case 2: {
              yield {
                field: `${prefix}.username`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.credential`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.ttl`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.retryAfter`,
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

  export interface TurnCredentialsUrlsFieldEvent {
    field: '$.urls[]'
    index: number
    value: string
  }

  export interface TurnCredentialsUsernameFieldEvent {
    field: '$.username'
    value: string
  }

  export interface TurnCredentialsCredentialFieldEvent {
    field: '$.credential'
    value: string
  }

  export interface TurnCredentialsTtlFieldEvent {
    field: '$.ttl'
    value: number
  }

  export interface TurnCredentialsRetryAfterFieldEvent {
    field: '$.retryAfter'
    value: number
  }

  export function encode (obj: Partial<TurnCredentials>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, TurnCredentials.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<TurnCredentials>): TurnCredentials {
    return decodeMessage(buf, TurnCredentials.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<TurnCredentials>): Generator<TurnCredentialsUrlsFieldEvent | TurnCredentialsUsernameFieldEvent | TurnCredentialsCredentialFieldEvent | TurnCredentialsTtlFieldEvent | TurnCredentialsRetryAfterFieldEvent> {
    return streamMessage(buf, TurnCredentials.codec(), opts)
  }
}
