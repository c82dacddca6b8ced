import { decodeMessage, encodeMessage, enumeration, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface CallSignal {
  callId: Uint8Array<ArrayBuffer>
  type: CallSignal.Type
  sdp?: string
  video: boolean
  candidate?: Candidate
  reason: CallSignal.Reason
  media?: MediaState
}

export namespace CallSignal {
  export enum Type {
    OFFER = 'OFFER',
    ANSWER = 'ANSWER',
    CANDIDATE = 'CANDIDATE',
    RINGING = 'RINGING',
    ACCEPT = 'ACCEPT',
    DECLINE = 'DECLINE',
    BUSY = 'BUSY',
    HANGUP = 'HANGUP',
    MEDIA = 'MEDIA'
  }

  enum __TypeValues {
    OFFER = 0,
    ANSWER = 1,
    CANDIDATE = 2,
    RINGING = 3,
    ACCEPT = 4,
    DECLINE = 5,
    BUSY = 6,
    HANGUP = 7,
    MEDIA = 8
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  export enum Reason {
    NORMAL = 'NORMAL',
    NO_ANSWER = 'NO_ANSWER',
    GLARE = 'GLARE',
    FAILED = 'FAILED',
    DEVICES = 'DEVICES'
  }

  enum __ReasonValues {
    NORMAL = 0,
    NO_ANSWER = 1,
    GLARE = 2,
    FAILED = 3,
    DEVICES = 4
  }

  export namespace Reason {
    export const codec = (): Codec<Reason> => {
      return enumeration<Reason>(__ReasonValues)
    }
  }

  let _codec: Codec<CallSignal>

  export const codec = (): Codec<CallSignal> => {
    if (_codec == null) {
      _codec = message<CallSignal>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.callId != null && obj.callId.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.callId)
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(16)
          CallSignal.Type.codec().encode(obj.type, w)
        }

        if (obj.sdp != null) {
          w.uint32(26)
          w.string(obj.sdp)
        }

        if ((obj.video != null && obj.video !== false)) {
          w.uint32(32)
          w.bool(obj.video)
        }

        if (obj.candidate != null) {
          w.uint32(42)
          Candidate.codec().encode(obj.candidate, w)
        }

        if (obj.reason != null && __ReasonValues[obj.reason] !== 0) {
          w.uint32(48)
          CallSignal.Reason.codec().encode(obj.reason, w)
        }

        if (obj.media != null) {
          w.uint32(58)
          MediaState.codec().encode(obj.media, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          callId: uint8ArrayAlloc(0),
          type: Type.OFFER,
          video: false,
          reason: Reason.NORMAL
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.callId = reader.bytes()
              break
            }
            case 2: {
              obj.type = CallSignal.Type.codec().decode(reader)
              break
            }
            case 3: {
              obj.sdp = reader.string()
              break
            }
            case 4: {
              obj.video = reader.bool()
              break
            }
            case 5: {
              obj.candidate = Candidate.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.candidate
              })
              break
            }
            case 6: {
              obj.reason = CallSignal.Reason.codec().decode(reader)
              break
            }
            case 7: {
              obj.media = MediaState.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.media
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
              yield {
                field: `${prefix}.callId`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.type`,
                value: CallSignal.Type.codec().decode(reader)
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sdp`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.video`,
                value: reader.bool()
              }
              break
            }
            case 5: {
              yield * Candidate.codec().stream(reader, reader.uint32(), `${prefix}.candidate`, {
                limits: opts.limits?.candidate
              })

              break
            }
            case 6: {
              yield {
                field: `${prefix}.reason`,
                value: CallSignal.Reason.codec().decode(reader)
              }
              break
            }
            case 7: {
              yield * MediaState.codec().stream(reader, reader.uint32(), `${prefix}.media`, {
                limits: opts.limits?.media
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

  export interface CallSignalCallIdFieldEvent {
    field: '$.callId'
    value: Uint8Array<ArrayBuffer>
  }

  export interface CallSignalTypeFieldEvent {
    field: '$.type'
    value: CallSignal.Type
  }

  export interface CallSignalSdpFieldEvent {
    field: '$.sdp'
    value: string
  }

  export interface CallSignalVideoFieldEvent {
    field: '$.video'
    value: boolean
  }

  export interface CallSignalCandidateCandidateFieldEvent {
    field: '$.candidate.candidate'
    value: string
  }

  export interface CallSignalCandidateSdpMidFieldEvent {
    field: '$.candidate.sdpMid'
    value: string
  }

  export interface CallSignalCandidateSdpMLineIndexFieldEvent {
    field: '$.candidate.sdpMLineIndex'
    value: number
  }

  export interface CallSignalCandidateUsernameFragmentFieldEvent {
    field: '$.candidate.usernameFragment'
    value: string
  }

  export interface CallSignalReasonFieldEvent {
    field: '$.reason'
    value: CallSignal.Reason
  }

  export interface CallSignalMediaCameraFieldEvent {
    field: '$.media.camera'
    value: boolean
  }

  export interface CallSignalMediaMicFieldEvent {
    field: '$.media.mic'
    value: boolean
  }

  export function encode (obj: Partial<CallSignal>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, CallSignal.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CallSignal>): CallSignal {
    return decodeMessage(buf, CallSignal.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<CallSignal>): Generator<CallSignalCallIdFieldEvent | CallSignalTypeFieldEvent | CallSignalSdpFieldEvent | CallSignalVideoFieldEvent | CallSignalCandidateCandidateFieldEvent | CallSignalCandidateSdpMidFieldEvent | CallSignalCandidateSdpMLineIndexFieldEvent | CallSignalCandidateUsernameFragmentFieldEvent | CallSignalReasonFieldEvent | CallSignalMediaCameraFieldEvent | CallSignalMediaMicFieldEvent> {
    return streamMessage(buf, CallSignal.codec(), opts)
  }
}

export interface MediaState {
  camera: boolean
  mic: boolean
}

export namespace MediaState {
  let _codec: Codec<MediaState>

  export const codec = (): Codec<MediaState> => {
    if (_codec == null) {
      _codec = message<MediaState>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.camera != null && obj.camera !== false)) {
          w.uint32(8)
          w.bool(obj.camera)
        }

        if ((obj.mic != null && obj.mic !== false)) {
          w.uint32(16)
          w.bool(obj.mic)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          camera: false,
          mic: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.camera = reader.bool()
              break
            }
            case 2: {
              obj.mic = reader.bool()
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
                field: `${prefix}.camera`,
                value: reader.bool()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.mic`,
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

  export interface MediaStateCameraFieldEvent {
    field: '$.camera'
    value: boolean
  }

  export interface MediaStateMicFieldEvent {
    field: '$.mic'
    value: boolean
  }

  export function encode (obj: Partial<MediaState>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, MediaState.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MediaState>): MediaState {
    return decodeMessage(buf, MediaState.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<MediaState>): Generator<MediaStateCameraFieldEvent | MediaStateMicFieldEvent> {
    return streamMessage(buf, MediaState.codec(), opts)
  }
}

export interface Candidate {
  candidate: string
  sdpMid?: string
  sdpMLineIndex?: number
  usernameFragment?: string
}

export namespace Candidate {
  let _codec: Codec<Candidate>

  export const codec = (): Codec<Candidate> => {
    if (_codec == null) {
      _codec = message<Candidate>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.candidate != null && obj.candidate !== '')) {
          w.uint32(10)
          w.string(obj.candidate)
        }

        if (obj.sdpMid != null) {
          w.uint32(18)
          w.string(obj.sdpMid)
        }

        if (obj.sdpMLineIndex != null) {
          w.uint32(24)
          w.uint32(obj.sdpMLineIndex)
        }

        if (obj.usernameFragment != null) {
          w.uint32(34)
          w.string(obj.usernameFragment)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          candidate: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.candidate = reader.string()
              break
            }
            case 2: {
              obj.sdpMid = reader.string()
              break
            }
            case 3: {
              obj.sdpMLineIndex = reader.uint32()
              break
            }
            case 4: {
              obj.usernameFragment = reader.string()
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
                field: `${prefix}.candidate`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.sdpMid`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.sdpMLineIndex`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.usernameFragment`,
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

  export interface CandidateCandidateFieldEvent {
    field: '$.candidate'
    value: string
  }

  export interface CandidateSdpMidFieldEvent {
    field: '$.sdpMid'
    value: string
  }

  export interface CandidateSdpMLineIndexFieldEvent {
    field: '$.sdpMLineIndex'
    value: number
  }

  export interface CandidateUsernameFragmentFieldEvent {
    field: '$.usernameFragment'
    value: string
  }

  export function encode (obj: Partial<Candidate>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Candidate.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Candidate>): Candidate {
    return decodeMessage(buf, Candidate.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Candidate>): Generator<CandidateCandidateFieldEvent | CandidateSdpMidFieldEvent | CandidateSdpMLineIndexFieldEvent | CandidateUsernameFragmentFieldEvent> {
    return streamMessage(buf, Candidate.codec(), opts)
  }
}
