/**
 * The table of calls under the state machine (index.ts): the calls that have not ended, their timers
 * and media, how one changes state or ends (its media stopped, the other side told, its record stored),
 * and the streams opened ahead of a call (channels.ts).
 */
import { logger } from '@libp2p/logger'
import { CALL_CONNECT_TIMEOUT_MS, CALL_RECORD_MS, RING_TIMEOUT_MS } from '../constants.js'
import { OPEN_STATES, broken, isOver, newCall } from './call.js'
import { SignalChannels } from './channels.js'
import { DevicesError, noMediaPath, startMedia } from './media.js'
import { CallRecords } from './records.js'
import { CallSender } from './sender.js'
import { CallSignal } from './signalling.js'
import type { Call, CallInfo, CallState } from './call.js'
import type { SignalChannelsInit } from './channels.js'
import type { MediaFactory, MediaOptions, MediaSession } from './media.js'
import type { Signal } from './signalling.js'
import type { CallOutcome, CallRecord, ChatStore } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

const log = logger('megachat:calls')

/** What calls need: the signalling streams' needs (channels.ts) and the call's own. */
export interface CallsInit extends SignalChannelsInit {
  self: PeerId
  store: ChatStore
  /** a call started, changed state or ended */
  onChange(call: CallInfo): void
  /** a call ended and its record is stored */
  onEnded(record: CallRecord): void
  media?: MediaFactory
  /** the ICE servers a call's media uses, asked for at each call (TURN credentials come and go) */
  iceServers?(): RTCIceServer[]
  ringTimeout?: number
  connectTimeout?: number
  /** how often a running call's record is stored again (ms) */
  recordInterval?: number
}

export class CallTable {
  /** plugged in by the app that can do media; without it calls can only be shown and declined */
  media?: MediaFactory
  /** ms; tests shorten it */
  ringTimeout: number
  connectTimeout: number
  recordInterval: number
  protected readonly init: CallsInit
  /** the calls that have not ended, by id */
  protected readonly calls = new Map<string, Call>()
  protected readonly channels: SignalChannels
  protected readonly sender: CallSender
  protected readonly records: CallRecords

  constructor (init: CallsInit) {
    this.init = init
    this.media = init.media
    this.ringTimeout = init.ringTimeout ?? RING_TIMEOUT_MS
    this.connectTimeout = init.connectTimeout ?? CALL_CONNECT_TIMEOUT_MS
    this.channels = new SignalChannels(init)
    this.sender = new CallSender(this.channels, init.onChange)
    this.recordInterval = init.recordInterval ?? CALL_RECORD_MS
    this.records = new CallRecords({ store: init.store, onEnded: init.onEnded, interval: () => this.recordInterval })
  }

  /** Calls that have not ended. */
  list (): CallInfo[] {
    return [...this.calls.values()].map(c => ({ ...c.info }))
  }

  get (id: string): CallInfo | undefined {
    const call = this.calls.get(id)
    return call == null ? undefined : { ...call.info }
  }

  /**
   * Opens the signalling stream for a call to `peer` ahead of it (channels.ts), when this node can make
   * calls and is not in one.
   */
  prepare (peer: PeerId): void {
    if (this.media == null || peer.equals(this.init.self) || this.current() != null) return
    this.channels.prepare(peer)
  }

  /** Whether a stream prepared for a call to `peer` is open (for tests and benchmarks). */
  isPrepared (peer: PeerId): boolean {
    return this.channels.isPrepared(peer)
  }

  /** How long a prepared stream is kept (ms); tests shorten it. */
  get preparedTimeout (): number { return this.channels.preparedTimeout }
  set preparedTimeout (ms: number) { this.channels.preparedTimeout = ms }
  /** Keeps a new call, lets `setup` fill it in, then announces it. */
  protected add (peer: PeerId, info: CallInfo, setup?: (call: Call) => void): Call {
    const call = newCall(peer, info)
    this.calls.set(info.id, call)
    setup?.(call)
    this.init.onChange({ ...info })
    return call
  }

  protected current (): Call | undefined {
    for (const call of this.calls.values()) if (OPEN_STATES.includes(call.info.state)) return call
    return undefined
  }

  protected update (call: Call, state: CallState): void {
    if (call.info.state === state || call.info.state === 'ended') return
    call.info.state = state
    this.init.onChange({ ...call.info })
  }

  protected setTimer (call: Call, ms: number): void {
    clearTimeout(call.timer)
    call.timer = setTimeout(() => { void this.timedOut(call) }, ms)
  }

  private async timedOut (call: Call): Promise<void> {
    const { state } = call.info
    if (state === 'calling' || state === 'ringing') {
      await this.finish(call, 'missed', 'no answer', { type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.NO_ANSWER })
    } else if (state === 'incoming') {
      await this.finish(call, 'missed')
    } else if (state === 'connecting') {
      await this.finish(call, 'failed', noMediaPath(call.iceServers), { type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.FAILED })
    }
  }

  /** The call's media; `ringing`: a callee's, made before the user answered (no camera or microphone yet). */
  protected async startMedia (call: Call, options: MediaOptions, ringing = false): Promise<MediaSession> {
    return await startMedia(this.media, call, { ...options, iceServers: this.init.iceServers?.(), ...(ringing ? { ringing } : {}) }, this.sender, {
      connected: () => {
        if (isOver(call)) return
        clearTimeout(call.timer)
        call.info.connectedAt ??= Date.now()
        this.update(call, 'connected')
        this.records.keep(call)
      },
      failed: (reason, devices) => {
        void this.finish(call, broken(call), reason, { type: CallSignal.Type.HANGUP, reason: devices === true ? CallSignal.Reason.DEVICES : CallSignal.Reason.FAILED })
      }
    })
  }

  protected async fail (call: Call, err: Error): Promise<void> {
    log('call %s failed: %s', call.info.id, err.message)
    const reason = err instanceof DevicesError ? CallSignal.Reason.DEVICES : CallSignal.Reason.FAILED
    await this.finish(call, broken(call), err.message, { type: CallSignal.Type.HANGUP, reason })
  }

  /**
   * Ends a call: stops its media, sends the last word if any, and stores the record (unless `outcome`
   * is undefined: a crossed call that gave way) before reporting it.
   */
  protected async finish (call: Call, outcome: CallOutcome | undefined, reason?: string, last?: Omit<Signal, 'callId'>): Promise<void> {
    if (call.info.state === 'ended') return
    clearTimeout(call.timer)
    clearTimeout(call.recordTimer)
    clearTimeout(call.mediaTimer)
    call.info.state = 'ended'
    call.info.outcome = outcome
    call.info.reason = reason
    this.calls.delete(call.info.id)
    call.media?.close()
    const said = last == null
      ? Promise.resolve()
      : this.sender.send(call, last).catch((err: Error) => { log('could not tell %p the call ended: %s', call.peer, err.message) })
    void said.then(() => { call.channel?.close() })
    this.init.onChange({ ...call.info })
    if (outcome != null) {
      // after any write of the running call's record, which this one replaces
      await this.records.final(call)
    }
    if (this.init.signal.aborted) await said
  }

}
