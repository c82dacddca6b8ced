/**
 * A transfer as the engine holds it while the process runs (its stored record plus what is not stored),
 * and how it is shown: the FileTransfer view with its rate, progress events at a bounded pace, and the
 * one line that says why a fetch stopped.
 */
import { fromString } from 'uint8arrays'
import { InvalidInputError } from '../errors.js'
import { BadChunkError, FileUnavailableError } from './protocol.js'
import type { FileEvents, FileState, FileTransfer } from './types.js'
import type { FileRecord } from '../store/index.js'

/** progress events per transfer at most this often */
const PROGRESS_MS = 250
/** the rate is taken over this window */
const RATE_WINDOW_MS = 3000

export interface Live {
  record: FileRecord
  hashes?: Uint8Array
  /** set while a fetch runs */
  controller?: AbortController
  lastEmit: number
  /** a progress event held back by the interval, said when it is up */
  trailing?: ReturnType<typeof setTimeout>
  samples: Array<{ at: number, bytes: number }>
  /** where the user asked it to be saved (Node) */
  saveTo?: string
}

export function newLive (record: FileRecord): Live {
  return { record, lastEmit: 0, samples: [] }
}

/** One line for a user, for an error of a fetch. */
export function describe (err: any): string {
  if (err.name === FileUnavailableError.name || err.name === InvalidInputError.name) return err.message
  if (err.name === BadChunkError.name) return 'the sender sent bytes that do not match the file offered; refused'
  if (err.name === 'ProtocolViolationError') return `the sender broke the protocol (${err.message}); refused`
  return `interrupted (${err.message ?? err.name}); resumes when the sender is back`
}

/**
 * Says that a transfer changed, as event `name`: at most once per PROGRESS_MS, unless `force`; the last
 * change of a burst is said when the interval is up (a stalled transfer shows where it stopped).
 */
export function emit (live: Live, name: keyof FileEvents, say: (name: keyof FileEvents, t: FileTransfer) => void, force = false): void {
  const now = Date.now()
  live.samples.push({ at: now, bytes: live.record.bytes })
  while (live.samples.length > 2 && now - live.samples[0].at > RATE_WINDOW_MS) live.samples.shift()
  if (!force && now - live.lastEmit < PROGRESS_MS) {
    live.trailing ??= setTimeout(() => {
      live.trailing = undefined
      live.lastEmit = Date.now()
      say('file-progress', view(live))
    }, PROGRESS_MS - (now - live.lastEmit))
    live.trailing.unref?.()
    return
  }
  clearTimeout(live.trailing)
  live.trailing = undefined
  live.lastEmit = now
  say(name, view(live))
}

/** The transfer as the CLI and web app see it, with its rate over the last RATE_WINDOW_MS. */
export function view (live: Live): FileTransfer {
  const r = live.record
  const first = live.samples[0]
  const last = live.samples[live.samples.length - 1]
  const active = r.state === 'fetching' || r.state === 'serving'
  const rate = active && first != null && last != null && last.at > first.at && Date.now() - last.at < RATE_WINDOW_MS
    ? (last.bytes - first.bytes) / (last.at - first.at) * 1000
    : 0
  return {
    id: r.id,
    conversation: r.conversation,
    room: r.room,
    from: r.from,
    direction: r.direction,
    name: r.name,
    size: r.size,
    type: r.type,
    ...(r.thumbnail != null ? { thumbnail: fromString(r.thumbnail, 'base64') } : {}),
    state: r.state as FileState,
    bytes: r.bytes,
    rate: Math.max(0, rate),
    ...(r.path != null ? { path: r.path } : {}),
    ...(r.error != null ? { error: r.error } : {})
  }
}
