/**
 * The receiving side of the DM protocol (index.ts): one inbound stream, read, stored in batches and
 * acknowledged per batch. Bad input aborts the stream and is counted; it never throws.
 */
import { UnexpectedEOFError } from '@libp2p/utils'
import { DM_MAX_UNSTORED, MAX_DM_FRAME_BYTES } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { boundedLpStream, writeFrames } from '../node/frames.js'
import { decodeDirectMessage } from './codec.js'
import { DmFrame } from './pb/dm.js'
import type { DirectMessage, DirectMessageStats, Receive } from './index.js'
import type { Connection, Logger, Stream } from '@libp2p/interface'

export interface ReadOptions {
  receive: Receive
  /** no frame within this long of asking for one ends the stream (ms) */
  idle: number
  maxTextBytes: number
  stats: DirectMessageStats
  log: Logger
}

/** The receiver took only some of the messages: the stream ends, the sender keeps the rest. */
class RefusedError extends Error {
  static override name = 'RefusedError'
  override name = 'RefusedError'
}

/**
 * One inbound stream: a reader takes frames as they come (up to DM_MAX_UNSTORED waiting), and the
 * messages waiting are stored together, then acknowledged together, while the reader goes on.
 */
export async function readStream (stream: Stream, connection: Connection, options: ReadOptions): Promise<void> {
  const { receive, idle, maxTextBytes, stats, log } = options
  const from = connection.remotePeer
  const lp = boundedLpStream(stream, MAX_DM_FRAME_BYTES)
  const waiting: DirectMessage[] = []
  let readerDone = false
  /** set when the stream is given up: the reader stops */
  let dropped = false
  let readerError: Error | undefined
  let wakeStorer: (() => void) | undefined
  let wakeReader: (() => void) | undefined
  // no frame within `idle` of asking for one ends the stream. One timer looks at when the read under
  // way began (a fresh AbortSignal.timeout per frame costs more than the frame's decoding; browsers'
  // timers have no refresh())
  const silence = new AbortController()
  /** when the read under way began (ms); 0 while not reading */
  let readSince = 0
  const watch = (): void => {
    const waited = readSince === 0 ? 0 : Date.now() - readSince
    if (waited >= idle) silence.abort(new DOMException(`no frame in ${idle} ms`, 'TimeoutError'))
    else idleTimer = setTimeout(watch, idle - waited)
  }
  let idleTimer = setTimeout(watch, idle)
  const reader = async (): Promise<void> => {
    try {
      while (true) {
        while (waiting.length >= DM_MAX_UNSTORED && !dropped) await new Promise<void>(resolve => { wakeReader = resolve })
        if (dropped) break
        let bytes
        readSince = Date.now()
        try {
          bytes = await lp.read({ signal: silence.signal })
        } catch (err: any) {
          if (err.name === UnexpectedEOFError.name) break // the sender closed its side
          throw err
        } finally {
          readSince = 0
        }
        waiting.push(decodeDirectMessage(bytes.subarray(), maxTextBytes))
        wakeStorer?.()
      }
    } catch (err: any) {
      readerError = err
    } finally {
      clearTimeout(idleTimer)
      readerDone = true
      wakeStorer?.()
    }
  }
  const reading = reader()
  try {
    let stored = 0
    while (true) {
      if (waiting.length === 0) {
        if (readerDone) break
        await new Promise<void>(resolve => { wakeStorer = resolve })
        wakeStorer = undefined
        continue
      }
      const batch = waiting.splice(0, waiting.length)
      wakeReader?.()
      wakeReader = undefined
      const taken = Math.min(batch.length, await receive(from, batch, connection) ?? batch.length)
      if (taken > 0) {
        stored += taken
        stats.received += taken
        await writeFrames(stream, [DmFrame.encode({ ack: { count: BigInt(stored) } })], { signal: AbortSignal.timeout(idle) })
      }
      if (taken < batch.length) {
        // what was read beyond them is dropped unacknowledged as well: the sender has it all
        stats.refused += batch.length - taken + waiting.length
        throw new RefusedError(`${batch.length - taken + waiting.length} messages not taken now`)
      }
    }
    if (readerError != null) throw readerError
    await stream.close({ signal: AbortSignal.timeout(idle) })
  } catch (err: any) {
    if (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError') stats.oversized++
    else if (err.name === ProtocolViolationError.name) stats.malformed++
    else if (err.name !== RefusedError.name) stats.failedStreams++
    log('dropped dm stream from %p: %s', from, err.name)
    stream.abort(err)
    // the reader may be waiting for room that the storer will no longer make
    dropped = true
    waiting.length = 0
    wakeReader?.()
    await reading
  }
}
