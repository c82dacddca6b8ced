/**
 * The history of calls: every ended call is stored (store.addCall) before 'ended' is reported. A
 * connected call is stored already while it runs, as answered and ending at the last interval's tick,
 * so that a page that goes away mid-call keeps it (its last write, on the way out, does not survive);
 * the final record replaces that one (the store keys a call by its start and id).
 */
import { logger } from '@libp2p/logger'
import { isOver, toRecord } from './call.js'
import type { Call, CallInfo } from './call.js'
import type { CallRecord, ChatStore } from '../store/index.js'

const log = logger('megachat:calls')

export interface CallRecordsInit {
  store: ChatStore
  /** a call ended and its record is stored */
  onEnded(record: CallRecord): void
  /** how often a running call's record is stored again (ms), asked at each write */
  interval(): number
}

export class CallRecords {
  private readonly init: CallRecordsInit

  constructor (init: CallRecordsInit) {
    this.init = init
  }

  /**
   * Stores a connected call's record as it would read if the call ended now (answered, ending now), and
   * again every interval until it ends.
   */
  keep (call: Call): void {
    if (isOver(call)) return
    clearTimeout(call.recordTimer)
    call.recordTimer = setTimeout(() => { this.keep(call) }, this.init.interval())
    call.saving = call.saving.then(async () => {
      if (!isOver(call)) await this.store(toRecord(call.info, 'answered'))
    })
  }

  /** Stores an ended call's final record after any write of its running record, then reports it. */
  async final (call: Call): Promise<void> {
    call.saving = call.saving.then(async () => { await this.record(call.info) })
    await call.saving
  }

  /** Stores an ended call's record, then reports it. */
  async record (info: CallInfo): Promise<void> {
    const record = toRecord(info, info.outcome ?? 'missed')
    await this.store(record)
    this.init.onEnded(record)
  }

  private async store (record: CallRecord): Promise<void> {
    try {
      await this.init.store.addCall(record)
    } catch (err: any) {
      log.error('could not store a call record: %e', err)
    }
  }
}
