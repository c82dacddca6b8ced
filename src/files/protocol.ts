/**
 * `/megachat/file/1.0.0`: a receiver pulls a file's chunks from a peer that has them (file.proto says the
 * frames). The sender sends only as many chunks as the receiver granted (FileWant counts), so the
 * receiver's memory holds at most its credit of chunks, whatever the network's speed or the disk's; the
 * sender writes with back-pressure (each write waits for the stream to drain).
 *
 * Hostile input: frames over their limit, frames that do not decode strictly, a header with the wrong
 * number of hashes or hashes that do not make the offer's manifest (a sender lying about the size or the
 * content), a chunk of the wrong length or whose hash does not match, credit beyond the limit, a first
 * frame that does not come within FILE_FIRST_FRAME_MS or a stall past FILE_IDLE_TIMEOUT_MS: the stream is
 * aborted and counted in `stats`; nothing throws into the event loop.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { lpStream, UnexpectedEOFError } from '@libp2p/utils'
import { equals } from 'uint8arrays/equals'
import { FILE_CREDIT_CHUNKS, FILE_CREDIT_RATE, FILE_FIRST_FRAME_MS, FILE_MIN_CREDIT_CHUNKS, FILE_IDLE_TIMEOUT_MS, FILE_MAX_INBOUND_STREAMS, FILE_PROTOCOL, MAX_FILE_CHUNKS } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { checkFields, frameLimits } from '../node/frames.js'
import { chunkCount, fileIdHex, FILE_ID_BYTES, HASH_BYTES, sha256 } from './offer.js'
import { FileHeader, FileRequest, FileWant } from './pb/file.js'
import type { Shape } from '../node/frames.js'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { LengthPrefixedStream } from '@libp2p/utils'

/** Most credit (chunks granted and not yet sent) a sender accepts from a receiver. */
export const MAX_CREDIT = 64
/** Chunks a sender reads ahead of the one it writes. */
const READ_AHEAD = 2
const SMALL_FRAME = 64
const REQUEST_SHAPE: Shape = { 1: 'bytes' }
const HEADER_SHAPE: Shape = { 1: 'bytes', 2: 'string' }
const WANT_SHAPE: Shape = { 1: 'varint', 2: 'varint' }

/** A file as its holder serves it. */
export interface ServeSource {
  id: Uint8Array
  size: number
  chunkSize: number
  /** every chunk hash, over the chunks as they travel */
  hashes: Uint8Array
  /** chunk `index` as it travels (rooms: sealed) */
  chunk(index: number): Promise<Uint8Array>
  /** the receiver has been sent everything before this byte of the file */
  onServed?(bytes: number): void
}

/** Why a holder does not serve a file: not offered to the asker, changed on disk, not (all) here. */
export type Refusal = 'unknown' | 'changed' | 'unavailable'

/** The file with this id (hex) if `peer` may have it, or why not. */
export type FileLookup = (peer: PeerId, id: string) => Promise<ServeSource | Refusal>

export interface FileTransferInit {
  maxInboundStreams?: number
}

export interface FileTransferComponents {
  registrar: Registrar
  logger: ComponentLogger
}

export interface FileTransferStats {
  /** chunks sent */
  served: number
  /** requests for files we do not serve to the asker, and streams that came when nothing listened */
  refused: number
  /** frames (or length prefixes) over their limit, either side */
  oversized: number
  /** frames that did not decode strictly, headers that do not match the offer, credit beyond the limit */
  malformed: number
  /** chunks whose hash or length did not match (receiving) */
  badChunks: number
  /** streams that ended in another error (timeouts, resets) */
  failedStreams: number
}

export interface FileTransfer {
  readonly protocol: string
  readonly stats: FileTransferStats
  /**
   * Registers the protocol handler, serving the files `lookup` finds (for a file engine made after the
   * node, before it starts: inbound streams meet only an engine that exists). Once only.
   */
  listen(lookup: FileLookup): Promise<void>
}

/** The holder does not serve the file: `reason` says why (a Refusal). */
export class FileUnavailableError extends Error {
  static override name = 'FileUnavailableError'
  override name = 'FileUnavailableError'
  constructor (readonly reason: string) {
    super(reason === 'changed' ? 'the file changed on the sender\'s disk since it was offered' : reason === 'unknown' ? 'the sender does not offer this file to you' : 'the file is not available there')
  }
}

/** A chunk did not match its hash (or did not open). */
export class BadChunkError extends Error {
  static override name = 'BadChunkError'
  override name = 'BadChunkError'
}

function decodeStrict<T> (codec: { decode(b: Uint8Array): T }, shape: Shape, bytes: Uint8Array): T {
  checkFields(bytes, shape)
  try {
    return codec.decode(bytes)
  } catch {
    throw new ProtocolViolationError('undecodable frame')
  }
}

/**
 * The idle limit of a stream: `signal` aborts with a TimeoutError once `ms` pass without `touch()`
 * (or when `parent` aborts). One timer per stream rather than a timer and an AbortSignal.any per frame
 * (at a megabyte a frame those were a visible share of a transfer's CPU): touch() only notes the time,
 * and the timer, when it fires, waits out what is left since the last touch. The same code in Node and
 * in the browser, where a timer is a number without Node's refresh().
 */
export class IdleTimeout {
  readonly signal: AbortSignal
  private readonly controller = new AbortController()
  private timer: ReturnType<typeof setTimeout>
  private last = performance.now()
  private cleared = false

  constructor (private readonly ms: number, parent?: AbortSignal) {
    this.timer = setTimeout(this.check, ms)
    this.signal = parent == null ? this.controller.signal : AbortSignal.any([this.controller.signal, parent])
  }

  private readonly check = (): void => {
    if (this.cleared) return
    const idle = performance.now() - this.last
    if (idle >= this.ms) this.controller.abort(new DOMException(`nothing moved for ${this.ms} ms`, 'TimeoutError'))
    else this.timer = setTimeout(this.check, this.ms - idle)
  }

  /** something moved: the limit starts again */
  touch (): void {
    this.last = performance.now()
  }

  clear (): void {
    this.cleared = true
    clearTimeout(this.timer)
  }
}

/** Counts a failed stream under the right heading. */
export function countFailure (stats: FileTransferStats, err: any): void {
  if (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError' || err.name === 'StreamBufferError') stats.oversized++
  else if (err.name === ProtocolViolationError.name) stats.malformed++
  else if (err.name === BadChunkError.name) stats.badChunks++
  else if (err.name !== FileUnavailableError.name) stats.failedStreams++
}

class DefaultFileTransfer implements FileTransfer, Startable {
  readonly protocol = FILE_PROTOCOL
  readonly stats: FileTransferStats = { served: 0, refused: 0, oversized: 0, malformed: 0, badChunks: 0, failedStreams: 0 }
  private readonly log: Logger
  /** streams being served now */
  private readonly serving = new Set<Stream>()
  private lookup?: FileLookup
  readonly [Symbol.toStringTag] = 'megachat/files'
  readonly [serviceCapabilities] = ['@megachat/files']

  constructor (private readonly components: FileTransferComponents, private readonly init: FileTransferInit) {
    this.log = components.logger.forComponent('megachat:files')
    this.handle = this.handle.bind(this)
  }

  async listen (lookup: FileLookup): Promise<void> {
    if (this.lookup != null) throw new Error('already listening')
    this.lookup = lookup
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams ?? FILE_MAX_INBOUND_STREAMS,
      runOnLimitedConnection: true
    })
  }

  /** the protocol is registered by listen() */
  async start (): Promise<void> {}

  async stop (): Promise<void> {
    if (this.lookup != null) await this.components.registrar.unhandle(this.protocol)
    this.lookup = undefined
    // a file being served is not waited for: the receiver resumes it later
    for (const stream of this.serving) stream.abort(new Error('stopping'))
    this.serving.clear()
  }

  /** Serves one request: the header, then chunks as the receiver grants credit. */
  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const lookup = this.lookup
    if (lookup == null) {
      this.stats.refused++
      stream.abort(new Error('not listening'))
      return
    }
    this.serving.add(stream)
    try {
      await this.serve(stream, connection.remotePeer, lookup)
    } finally {
      this.serving.delete(stream)
    }
  }

  private async serve (stream: Stream, peer: PeerId, lookup: FileLookup): Promise<void> {
    // the receiver sends only small frames
    const lp = lpStream(stream, frameLimits(SMALL_FRAME))
    let reading: Promise<void> | undefined
    try {
      const req = decodeStrict(FileRequest, REQUEST_SHAPE, (await lp.read({ signal: AbortSignal.timeout(FILE_FIRST_FRAME_MS) })).subarray())
      if (req.id.byteLength !== FILE_ID_BYTES) throw new ProtocolViolationError('bad file id')
      const source = await lookup(peer, fileIdHex(req.id))
      if (typeof source === 'string') {
        this.stats.refused++
        await lp.write(FileHeader.encode({ hashes: new Uint8Array(0), error: source }), { signal: AbortSignal.timeout(FILE_IDLE_TIMEOUT_MS) })
        await stream.close({ signal: AbortSignal.timeout(FILE_IDLE_TIMEOUT_MS) })
        return
      }
      await lp.write(FileHeader.encode({ hashes: source.hashes as Uint8Array<ArrayBuffer> }), { signal: AbortSignal.timeout(FILE_IDLE_TIMEOUT_MS) })
      const chunks = chunkCount(source.size, source.chunkSize)
      const want = decodeStrict(FileWant, WANT_SHAPE, (await lp.read({ signal: AbortSignal.timeout(FILE_FIRST_FRAME_MS) })).subarray())
      if (want.first > chunks || want.count > MAX_CREDIT) throw new ProtocolViolationError('bad want')
      let credit = want.count
      let next = want.first
      // from here one idle limit covers the stream: each chunk written and each want read restarts it
      const idle = new IdleTimeout(FILE_IDLE_TIMEOUT_MS)
      // the next chunks are read from disk while one is written: the link never waits on the disk
      const ahead = new Map<number, Promise<Uint8Array>>()
      const readAhead = async (index: number): Promise<Uint8Array> => {
        const reading = ahead.get(index) ?? source.chunk(index)
        ahead.delete(index)
        for (let j = index + 1; j <= index + READ_AHEAD && j < chunks; j++) {
          if (ahead.has(j)) continue
          const p = source.chunk(j)
          p.catch(() => {})
          ahead.set(j, p)
        }
        return await reading
      }
      // further wants come while chunks go out
      let wake: (() => void) | undefined
      let readError: Error | undefined
      let ended = false
      const stop = new AbortController()
      reading = (async () => {
        try {
          while (true) {
            const w = decodeStrict(FileWant, WANT_SHAPE, (await lp.read({ signal: stop.signal })).subarray())
            credit += w.count
            if (credit > MAX_CREDIT) throw new ProtocolViolationError('too much credit')
            idle.touch()
            wake?.()
          }
        } catch (err: any) {
          if (err.name !== UnexpectedEOFError.name && !stop.signal.aborted) readError = err
        } finally {
          ended = true
          wake?.()
        }
      })()
      try {
        while (next < chunks) {
          while (credit === 0) {
            if (readError != null) throw readError
            if (ended) throw new UnexpectedEOFError('the receiver went before the end')
            if (idle.signal.aborted) throw new ProtocolViolationError('no credit in time')
            await new Promise<void>(resolve => {
              const done = (): void => {
                idle.signal.removeEventListener('abort', done)
                resolve()
              }
              wake = done
              idle.signal.addEventListener('abort', done)
            })
            wake = undefined
          }
          if (readError != null) throw readError
          const bytes = await readAhead(next)
          await lp.write(bytes, { signal: idle.signal })
          idle.touch()
          credit--
          next++
          this.stats.served++
          source.onServed?.(Math.min(source.size, next * source.chunkSize))
        }
        await stream.close({ signal: AbortSignal.timeout(FILE_IDLE_TIMEOUT_MS) })
      } finally {
        stop.abort()
        idle.clear()
      }
    } catch (err: any) {
      countFailure(this.stats, err)
      this.log('file stream from %p ended: %s %s', peer, err.name, err.message)
      stream.abort(err)
    }
    await reading
  }
}

export function fileTransfer (init: FileTransferInit = {}): (components: FileTransferComponents) => FileTransfer {
  return (components) => new DefaultFileTransfer(components, init)
}

export interface PullInit {
  id: Uint8Array
  manifest: Uint8Array
  size: number
  chunkSize: number
  /** bytes each chunk has on the wire beyond its plaintext (rooms: the tag) */
  overhead: number
  /** Given the checked hashes, the first chunk to fetch (after checking what is on disk). */
  start(hashes: Uint8Array): Promise<number>
  /** A chunk whose hash matched, as the pieces it arrived in: write it before this resolves. */
  onChunk(index: number, pieces: Uint8Array[]): Promise<void>
  signal?: AbortSignal
  stats: FileTransferStats
  /** the most chunks granted ahead (default FILE_CREDIT_CHUNKS); the round trip decides how many below it */
  credit?: number
  /** the clock the round trip is measured by (ms; tests) */
  now?: () => number
}

/**
 * The credit (chunks granted ahead) for a round trip: enough to keep FILE_CREDIT_RATE flowing while a
 * grant travels (two chunks more, for the one being written and the one being read), from
 * FILE_MIN_CREDIT_CHUNKS up to `most`. On a LAN that is the minimum, which keeps the receiver's memory
 * small; across a continent it is the most.
 */
export function creditFor (rttMs: number, chunkBytes: number, most: number): number {
  const cover = 2 + Math.ceil(FILE_CREDIT_RATE * Math.max(0, rttMs) / 1000 / chunkBytes)
  return Math.min(most, Math.max(FILE_MIN_CREDIT_CHUNKS, cover))
}

/**
 * Pulls a file on an open stream: asks for it, checks the hashes against the manifest, then reads the
 * chunks from `start()`'s answer on, each checked against its hash before `onChunk`. Rejects with
 * FileUnavailableError when the holder refuses, ProtocolViolationError or BadChunkError for hostile
 * input (the stream is aborted and counted), or the stream's own error.
 */
export async function pull (stream: Stream, init: PullInit): Promise<void> {
  const chunks = chunkCount(init.size, init.chunkSize)
  const most = Math.min(init.credit ?? FILE_CREDIT_CHUNKS, MAX_CREDIT)
  const now = init.now ?? (() => performance.now())
  const maxChunk = init.chunkSize + init.overhead
  const maxFrame = Math.max(chunks * HASH_BYTES + SMALL_FRAME, maxChunk, SMALL_FRAME)
  // what the sender may have in flight: the credit, a header, their prefixes
  const lp: LengthPrefixedStream<Stream> = lpStream(stream, { ...frameLimits(maxFrame), maxBufferSize: (most + 1) * (maxChunk + 8) + maxFrame })
  const signal = (ms: number): AbortSignal => AbortSignal.any([AbortSignal.timeout(ms), ...(init.signal != null ? [init.signal] : [])])
  /** the chunks being checked and written, in order */
  let writing: Promise<void> = Promise.resolve()
  let idle: IdleTimeout | undefined
  try {
    if (chunks > MAX_FILE_CHUNKS) throw new ProtocolViolationError('too many chunks')
    const asked = now()
    await lp.write(FileRequest.encode({ id: init.id as Uint8Array<ArrayBuffer> }), { signal: signal(FILE_IDLE_TIMEOUT_MS) })
    const header = decodeStrict(FileHeader, HEADER_SHAPE, (await lp.read({ signal: signal(FILE_FIRST_FRAME_MS) })).subarray())
    // the request's round trip (and the holder's look-up: a little more credit at worst) sizes the credit
    const credit = creditFor(now() - asked, maxChunk, most)
    if (header.error != null) throw new FileUnavailableError(header.error)
    // the hashes make the offer's manifest, and there is one per chunk of the size offered
    if (header.hashes.byteLength !== chunks * HASH_BYTES) throw new ProtocolViolationError('the number of chunk hashes does not match the size offered')
    if (!equals(await sha256(header.hashes), init.manifest)) throw new ProtocolViolationError('the chunk hashes do not match the offer')
    const hashes = header.hashes
    const first = await init.start(hashes)
    if (first >= chunks) {
      await stream.close({ signal: signal(FILE_IDLE_TIMEOUT_MS) })
      return
    }
    let outstanding = Math.min(credit, chunks - first)
    await lp.write(FileWant.encode({ first, count: outstanding }), { signal: signal(FILE_IDLE_TIMEOUT_MS) })
    // a chunk is hashed as soon as it is read, and written after the one before it, while the next ones
    // are read: what is read and not yet written, and what is on its way, stay within the credit
    let failed: Error | undefined
    // a chunk that fails stops the read under way (the sender may be waiting for credit)
    const stop = new AbortController()
    // one idle limit from here on, restarted by every chunk read and every grant written
    idle = new IdleTimeout(FILE_IDLE_TIMEOUT_MS, init.signal)
    const reading = AbortSignal.any([idle.signal, stop.signal])
    for (let i = first; i < chunks; i++) {
      if (failed != null) break
      // the chunk stays in the pieces it arrived in: hashed and written without joining them
      let pieces: Uint8Array[]
      try {
        pieces = [...await lp.read({ signal: reading })]
        idle.touch()
      } catch (err) {
        if (failed != null) break
        throw err
      }
      const want = Math.min(init.chunkSize, init.size - i * init.chunkSize) + init.overhead
      const length = pieces.reduce((n, p) => n + p.byteLength, 0)
      if (length !== want) throw new ProtocolViolationError(`chunk ${i} is ${length} bytes, not ${want}`)
      const hashing = sha256(pieces)
      const index = i
      writing = writing.then(async () => {
        if (!equals(await hashing, hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES))) throw new BadChunkError(`chunk ${index} does not match its hash`)
        await init.onChunk(index, pieces)
        outstanding--
        const remaining = chunks - index - 1
        // topped up a few at a time, so the sender always has most of the credit to go on with
        if (outstanding <= credit - Math.max(1, credit >> 2) && remaining > outstanding) {
          const grant = Math.min(credit - outstanding, remaining - outstanding)
          outstanding += grant
          await lp.write(FileWant.encode({ count: grant }), { signal: idle?.signal })
          idle?.touch()
        }
      })
      writing.catch((err: Error) => {
        failed ??= err
        stop.abort()
      })
    }
    await writing
    await stream.close({ signal: signal(FILE_IDLE_TIMEOUT_MS) })
  } catch (err: any) {
    countFailure(init.stats, err)
    stream.abort(err)
    // no chunk is written after this rejects (a retry may start at once)
    await writing.catch(() => {})
    throw err
  } finally {
    idle?.clear()
  }
}
