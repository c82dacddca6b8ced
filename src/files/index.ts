/**
 * Files and pictures: the transfer engine behind `chat.files` and `chat.sendFile` (types.ts says how a
 * file travels; protocol.ts is the wire).
 *
 * Sending: the file is read once, chunk by chunk, to hash it (rooms: each chunk sealed first, so the
 * hashes are over what travels); nothing is copied on Node (storage.keep notes the path, size and
 * modification time, and a changed file is not served). The offer then goes out as a message of the
 * conversation, which the caller (Chat) sends, and the file is served to whoever may have it: in a DM
 * only the peer it was offered to, in a room any peer that names its id (only members can read the id,
 * and the bytes are sealed under a key only the offer carries).
 *
 * Receiving: an offer becomes a transfer in state 'offered'. A contact's file up to `autoFetchBytes`
 * (in a DM or a room) is fetched at once; a larger one, or anyone's who is not a contact, waits for
 * `fetch()`. At most MAX_CONCURRENT_FETCHES run at once, the rest wait in line. A DM file comes from its
 * sender; a room file from its author first when connected, then from each member online in turn, then
 * from the author by a dial (one at a time: a race would pull the same bytes twice over a link that is
 * likely the bottleneck, and the author, who surely has the whole file, usually answers). Each chunk is checked
 * against its hash and written before more are asked for; progress is stored. An interrupted transfer is
 * 'paused' and resumes from the last verified chunk when its sender connects again, on the periodic
 * retry, and after a restart: the partial file is checked chunk by chunk against the hashes and cut at the
 * first that does not match (a crash may have left more or less than the store says).
 *
 * Every refusal (too large, too many offers waiting, no disk space, a bad chunk) is counted in `stats`
 * and, for a transfer, told in one line (`error`).
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { concat, fromString, toString } from 'uint8arrays'
import { AUTO_FETCH_BYTES, FILE_CHUNK_BYTES, FILE_DISK_MARGIN_BYTES, FILE_PROTOCOL, MAX_CONCURRENT_FETCHES, MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, MAX_PENDING_OFFERS, MAX_THUMBNAIL_BYTES } from '../constants.js'
import { InvalidInputError } from '../errors.js'
import { chunkCount, chunkLength, chunkMatches, fileIdHex, FILE_ID_BYTES, FILE_KEY_BYTES, HASH_BYTES, openChunk, sealChunk, sha256, TAG_BYTES } from './offer.js'
import { BadChunkError, countFailure, FileUnavailableError, pull } from './protocol.js'
import type { ServeSource, Refusal, FileTransferStats } from './protocol.js'
import type { FileEvents, FileOffer, FileSource, FileState, FileStorage, FileTransfer, Files } from './types.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore, FileRecord } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

export * from './types.js'
export { safeFileName } from './names.js'
export { decodeOffer, encodeOffer } from './offer.js'
export { fileTransfer, FileUnavailableError, BadChunkError } from './protocol.js'
export type { FileTransferStats, ServeSource, Refusal } from './protocol.js'

const log = logger('megachat:files')

/** progress events per transfer at most this often */
const PROGRESS_MS = 250
/** the rate is taken over this window */
const RATE_WINDOW_MS = 3000

/** What the engine refused, besides what the protocol counts. */
export interface FileEngineStats {
  /** offers over MAX_FILE_BYTES or otherwise refused on arrival */
  offersRefused: number
  /** offers dropped because MAX_PENDING_OFFERS wait already */
  offersOverflow: number
  /** fetches not started for want of disk space */
  noSpace: number
}

export interface FilesInit {
  self: PeerId
  store: ChatStore
  storage: FileStorage
  reach: Pick<Reach, 'openStream'>
  /** the protocol's counters (shared with the service that serves) */
  stats: () => FileTransferStats
  isContact(peer: string): boolean
  /** peers online in a room now (not us) */
  roomMembers(roomId: string): string[]
  /** is a connection to the peer open now? */
  isOnline(peer: string): boolean
  signal: AbortSignal
  autoFetchBytes?: number
  maxConcurrent?: number
  /** a transfer changed: the Chat dispatches it as that event */
  onEvent(name: keyof FileEvents, transfer: FileTransfer): void
}

interface Live {
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

/** One line for a user, for an error of a fetch. */
function describe (err: any): string {
  if (err.name === FileUnavailableError.name || err.name === InvalidInputError.name) return err.message
  if (err.name === BadChunkError.name) return 'the sender sent bytes that do not match the file offered; refused'
  if (err.name === 'ProtocolViolationError') return `the sender broke the protocol (${err.message}); refused`
  return `interrupted (${err.message ?? err.name}); resumes when the sender is back`
}

export class FileEngine implements Files {
  readonly stats: FileEngineStats = { offersRefused: 0, offersOverflow: 0, noSpace: 0 }
  autoFetchBytes: number
  private readonly init: FilesInit
  private readonly transfers = new Map<string, Live>()
  private readonly queue: string[] = []
  /** fetches under way, by id */
  private readonly running = new Map<string, Promise<void>>()

  constructor (init: FilesInit) {
    this.init = init
    this.autoFetchBytes = init.autoFetchBytes ?? AUTO_FETCH_BYTES
  }

  /** Loads the transfers; those that were fetching are paused (start() resumes them). */
  async load (): Promise<void> {
    for (const record of await this.init.store.listFiles()) {
      if (record.state === 'fetching') record.state = 'paused'
      this.transfers.set(record.id, { record, lastEmit: 0, samples: [] })
    }
  }

  /** Resumes what was interrupted. */
  start (): void {
    this.retry()
  }

  stop (): void {
    for (const live of this.transfers.values()) {
      live.controller?.abort()
      clearTimeout(live.trailing)
    }
  }

  /** The periodic retry and a peer's coming online: paused transfers (of that peer) go back in line. */
  retry (peer?: string): void {
    for (const live of this.transfers.values()) {
      const r = live.record
      if (r.direction !== 'in' || r.state !== 'paused') continue
      if (peer != null && !r.room && r.from !== peer) continue
      this.enqueue(r.id)
    }
  }

  // ---- Files

  list (conversation?: string): FileTransfer[] {
    return [...this.transfers.values()]
      .filter(l => conversation == null || l.record.conversation === conversation)
      .sort((a, b) => a.record.createdAt - b.record.createdAt)
      .map(l => this.view(l))
  }

  get (id: string): FileTransfer | undefined {
    const live = this.transfers.get(id)
    return live != null ? this.view(live) : undefined
  }

  /** A transfer by id or a unique prefix of it (the terminal's ids). */
  find (prefix: string): FileTransfer {
    const p = prefix.toLowerCase()
    const found = [...this.transfers.keys()].filter(id => id.startsWith(p))
    if (found.length === 0 || p.length === 0) throw new InvalidInputError(`no file ${prefix}; /files lists them`)
    if (found.length > 1) throw new InvalidInputError(`${prefix} is the start of ${found.length} files' ids; give more of it`)
    return this.get(found[0]) as FileTransfer
  }

  async fetch (id: string, options: { path?: string } = {}): Promise<void> {
    const live = this.transfers.get(id)
    if (live == null) throw new InvalidInputError(`no file ${id}`)
    const r = live.record
    if (options.path != null) live.saveTo = options.path
    if (r.state === 'done' || r.direction === 'out') {
      if (options.path != null) r.path = await this.copy(live, options.path)
      return
    }
    if (r.state === 'cancelled') throw new InvalidInputError('that file was cancelled')
    if (r.state === 'failed') {
      r.state = 'paused'
      delete r.error
    }
    this.enqueue(id)
  }

  async cancel (id: string): Promise<void> {
    const live = this.transfers.get(id)
    if (live == null) throw new InvalidInputError(`no file ${id}`)
    const r = live.record
    if (r.state === 'cancelled') return
    live.controller?.abort()
    const at = this.queue.indexOf(id)
    if (at >= 0) this.queue.splice(at, 1)
    r.state = 'cancelled'
    // the fetch under way ends (and writes nothing more) before its partial file goes
    await this.running.get(id)
    if (r.direction === 'in') await this.init.storage.remove(id)
    await this.init.store.putFile(r)
    this.emit(live, 'file-progress', true)
  }

  async blob (id: string): Promise<Blob | undefined> {
    const r = this.transfers.get(id)?.record
    if (r == null || (r.direction === 'in' && r.state !== 'done')) return undefined
    return await this.init.storage.blob(id)
  }

  // ---- sending

  /**
   * Hashes a file (sealing its chunks for a room), keeps it to be served, and returns the offer to send
   * as a message of the conversation, and the transfer (state 'serving').
   */
  async prepare (conversation: string, room: boolean, source: FileSource): Promise<{ offer: FileOffer, transfer: FileTransfer }> {
    const size = source.blob.size
    if (size > MAX_FILE_BYTES) throw new InvalidInputError(`the file is ${size} bytes; the limit is ${MAX_FILE_BYTES} (64 GiB)`)
    const name = cutName(source.name.replace(/^.*[/\\]/, ''))
    if (name.length === 0) throw new InvalidInputError('a file needs a name')
    if (source.thumbnail != null && source.thumbnail.byteLength > MAX_THUMBNAIL_BYTES) throw new InvalidInputError(`a thumbnail may have at most ${MAX_THUMBNAIL_BYTES} bytes`)
    const id = crypto.getRandomValues(new Uint8Array(FILE_ID_BYTES))
    const key = room ? crypto.getRandomValues(new Uint8Array(FILE_KEY_BYTES)) : undefined
    const chunkSize = FILE_CHUNK_BYTES
    const chunks = chunkCount(size, chunkSize)
    const hashes = new Uint8Array(chunks * HASH_BYTES)
    let i = 0
    for await (const plain of chunksOf(source.blob, chunkSize)) {
      if (i >= chunks) break
      hashes.set(await sha256(key != null ? sealChunk(key, id, i, plain) : plain), i * HASH_BYTES)
      i++
    }
    if (i !== chunks) throw new InvalidInputError('the file changed while it was read')
    const offer: FileOffer = {
      id,
      name,
      size,
      type: (source.type ?? source.blob.type ?? '').slice(0, 127),
      chunkSize,
      manifest: await sha256(hashes),
      ...(source.thumbnail != null ? { thumbnail: source.thumbnail } : {}),
      ...(key != null ? { key } : {})
    }
    const idHex = fileIdHex(id)
    await this.init.storage.keep(idHex, source)
    const record: FileRecord = {
      ...this.recordOf(offer, conversation, room, this.init.self.toString(), 'out'),
      state: 'serving',
      ...(source.path != null ? { path: source.path } : {})
    }
    await this.init.store.putFile(record, hashes)
    const live: Live = { record, hashes, lastEmit: 0, samples: [] }
    this.transfers.set(idHex, live)
    return { offer, transfer: this.view(live) }
  }

  /** Ties the transfer to the message that carried its offer. */
  async offered (id: string, messageId: string): Promise<void> {
    const live = this.transfers.get(id)
    if (live == null) return
    live.record.messageId = messageId
    await this.init.store.putFile(live.record)
  }

  // ---- receiving

  /**
   * An offer arrived in a conversation (a DM from `from`, or a room message by `from`): a transfer is
   * made, and fetched at once when policy allows. A known id is ignored (a resend, a replay).
   */
  async onOffer (from: string, conversation: string, room: boolean, offer: FileOffer, messageId: string): Promise<void> {
    const id = fileIdHex(offer.id)
    if (this.transfers.has(id)) return
    if (room !== (offer.key != null)) {
      this.stats.offersRefused++
      log('refused an offer from %s: %s', from, room ? 'a room file without a key' : 'a DM file with a key')
      return
    }
    let waiting = 0
    for (const l of this.transfers.values()) if (l.record.direction === 'in' && (l.record.state === 'offered' || l.record.state === 'paused')) waiting++
    if (waiting >= MAX_PENDING_OFFERS) {
      this.stats.offersOverflow++
      log('refused an offer from %s: %d offers wait already', from, waiting)
      return
    }
    const record: FileRecord = { ...this.recordOf(offer, conversation, room, from, 'in'), state: 'offered', messageId }
    await this.init.store.putFile(record)
    const live: Live = { record, lastEmit: 0, samples: [] }
    this.transfers.set(id, live)
    this.emit(live, 'file-offer', true)
    // a contact's (in a DM or a room), up to the size the user set; anyone else's waits for the user
    if (this.init.isContact(from) && offer.size <= this.autoFetchBytes) this.enqueue(id)
  }

  private recordOf (offer: FileOffer, conversation: string, room: boolean, from: string, direction: 'in' | 'out'): Omit<FileRecord, 'state'> {
    return {
      id: fileIdHex(offer.id),
      conversation,
      room,
      from,
      direction,
      name: offer.name,
      size: offer.size,
      type: offer.type,
      chunkSize: offer.chunkSize,
      manifest: toString(offer.manifest, 'base16'),
      ...(offer.key != null ? { key: toString(offer.key, 'base64') } : {}),
      ...(offer.thumbnail != null ? { thumbnail: toString(offer.thumbnail, 'base64') } : {}),
      bytes: 0,
      createdAt: Date.now()
    }
  }

  private enqueue (id: string): void {
    if (this.running.has(id) || this.queue.includes(id) || this.init.signal.aborted) return
    this.queue.push(id)
    this.pump()
  }

  private pump (): void {
    while (this.running.size < (this.init.maxConcurrent ?? MAX_CONCURRENT_FETCHES) && this.queue.length > 0) {
      const id = this.queue.shift() as string
      const run = this.run(id).catch(err => { log.error('fetch of %s failed: %e', id, err) }).finally(() => {
        this.running.delete(id)
        this.pump()
      })
      this.running.set(id, run)
    }
  }

  /** Fetches one file from the peers that may have it, one after the other. */
  private async run (id: string): Promise<void> {
    const live = this.transfers.get(id)
    if (live == null) return
    const r = live.record
    if (r.state === 'done' || r.state === 'cancelled') return
    const controller = new AbortController()
    live.controller = controller
    const signal = AbortSignal.any([controller.signal, this.init.signal])
    r.state = 'fetching'
    delete r.error
    this.emit(live, 'file-progress', true)
    const self = this.init.self.toString()
    // a room file: the author first when connected, then each member online, then the author (a dial)
    const members = r.room ? this.init.roomMembers(r.conversation).filter(p => p !== r.from && p !== self) : []
    const sources = !r.room ? [r.from] : this.init.isOnline(r.from) ? [r.from, ...members] : [...members, r.from]
    let last: any
    try {
      for (const peer of sources) {
        if (signal.aborted) return
        try {
          await this.pullFrom(live, peer, signal)
          await this.finish(live)
          return
        } catch (err: any) {
          if (signal.aborted) return
          last = err
          log('fetching %s from %s failed: %s %s', id, peer, err.name, err.message)
          // out of disk space: no other source helps
          if (err.name === InvalidInputError.name) break
        }
      }
      // definite answers fail the transfer; anything else (a disconnect, a stall) pauses it
      const definite = last != null && (last.name === InvalidInputError.name || (last.name === FileUnavailableError.name && (!r.room || last.reason !== 'unavailable')) || last.name === BadChunkError.name || last.name === 'ProtocolViolationError')
      r.state = definite ? 'failed' : 'paused'
      r.error = last != null ? describe(last) : 'nobody who has the file is online; resumes when one is'
      await this.init.store.putFile(r)
      this.emit(live, definite ? 'file-error' : 'file-progress', true)
    } finally {
      live.controller = undefined
    }
  }

  private async pullFrom (live: Live, peer: string, signal: AbortSignal): Promise<void> {
    const r = live.record
    const key = r.key != null ? fromString(r.key, 'base64') : undefined
    const id = fromString(r.id, 'base16')
    const { storage } = this.init
    const { stream } = await this.init.reach.openStream(peerIdFromString(peer), FILE_PROTOCOL, { signal })
    let since = Date.now()
    await pull(stream, {
      id,
      manifest: fromString(r.manifest, 'base16'),
      size: r.size,
      chunkSize: r.chunkSize,
      overhead: key != null ? TAG_BYTES : 0,
      signal,
      stats: this.init.stats(),
      start: async (hashes) => {
        live.hashes = hashes
        const first = await this.verified(live, hashes, key, id)
        r.bytes = Math.min(r.size, first * r.chunkSize)
        const free = await storage.available().catch(() => undefined)
        const need = r.size - r.bytes + FILE_DISK_MARGIN_BYTES
        if (free != null && free < need) {
          this.stats.noSpace++
          throw new InvalidInputError(`not enough disk space: the file needs ${mib(r.size - r.bytes)} more, ${mib(free)} is free (keeping ${mib(FILE_DISK_MARGIN_BYTES)} spare)`)
        }
        await this.init.store.putFile(r, hashes)
        return first
      },
      onChunk: async (index, pieces) => {
        const plain = key != null ? openChunk(key, id, index, concat(pieces)) : pieces
        if (plain == null) throw new BadChunkError(`chunk ${index} does not open`)
        await storage.append(r.id, index * r.chunkSize, plain)
        r.bytes = Math.min(r.size, (index + 1) * r.chunkSize)
        // progress is stored about once a second: after a crash the partial file is checked anyway
        if (Date.now() - since > 1000) {
          since = Date.now()
          await this.init.store.putFile(r)
        }
        this.emit(live, 'file-progress')
      }
    }).catch(async (err) => {
      await this.init.store.putFile(r).catch(() => {})
      throw err
    })
  }

  /**
   * How many chunks of the partial file are good: each whole chunk on disk is hashed (sealed first, for
   * a room) and compared, up to the first that does not match; the file is cut there when written next.
   */
  private async verified (live: Live, hashes: Uint8Array, key: Uint8Array | undefined, id: Uint8Array): Promise<number> {
    const r = live.record
    const written = await this.init.storage.written(r.id)
    const chunks = chunkCount(r.size, r.chunkSize)
    let k = 0
    for (; k < chunks; k++) {
      const length = chunkLength(r.size, r.chunkSize, k)
      if (k * r.chunkSize + length > written) break
      const plain = await this.init.storage.read(r.id, k * r.chunkSize, length)
      if (!await chunkMatches(hashes, k, key != null ? sealChunk(key, id, k, plain) : plain)) break
    }
    if (k * r.chunkSize < written && k < chunks) log('partial file %s: %d bytes on disk, %d verified', r.id, written, k * r.chunkSize)
    return k
  }

  private async finish (live: Live): Promise<void> {
    const r = live.record
    if (r.size === 0) await this.init.storage.append(r.id, 0, new Uint8Array(0))
    const written = await this.init.storage.written(r.id)
    if (written !== r.size) throw new BadChunkError(`the file has ${written} bytes, not ${r.size}`)
    r.path = await this.init.storage.finish(r.id, r.name, r.type)
    r.bytes = r.size
    r.state = 'done'
    delete r.error
    if (live.saveTo != null) r.path = await this.copy(live, live.saveTo)
    await this.init.store.putFile(r)
    this.emit(live, 'file-done', true)
  }

  private async copy (live: Live, path: string): Promise<string> {
    if (this.init.storage.copyTo == null) throw new InvalidInputError('saving to a path is for the terminal client')
    return await this.init.storage.copyTo(live.record.id, path)
  }

  // ---- serving

  /** The file with this id as served to `peer`, or why not (the protocol's lookup). */
  async serve (peer: PeerId, id: string): Promise<ServeSource | Refusal> {
    const live = this.transfers.get(id)
    if (live == null || live.record.state === 'cancelled') return 'unknown'
    const r = live.record
    // a DM file only to the peer it was offered to
    if (!r.room && (r.direction !== 'out' || r.conversation !== peer.toString())) return 'unknown'
    if (r.direction === 'in' && r.state !== 'done') return 'unavailable'
    const hashes = live.hashes ?? await this.init.store.fileHashes(id)
    if (hashes == null) return 'unavailable'
    live.hashes = hashes
    const key = r.key != null ? fromString(r.key, 'base64') : undefined
    const fileId = fromString(id, 'base16')
    // a file we send that changed since: said at once (a changed chunk would fail its hash anyway)
    try {
      if (r.size > 0) await this.init.storage.read(id, 0, 1)
    } catch (err: any) {
      if (err.name === 'FileChangedError') return 'changed'
      return 'unavailable'
    }
    return {
      id: fileId,
      size: r.size,
      chunkSize: r.chunkSize,
      hashes,
      chunk: async (index) => {
        const plain = await this.init.storage.read(id, index * r.chunkSize, chunkLength(r.size, r.chunkSize, index))
        return key != null ? sealChunk(key, fileId, index, plain) : plain
      },
      onServed: (bytes) => {
        if (r.direction !== 'out' || bytes <= r.bytes) return
        r.bytes = bytes
        this.emit(live, 'file-progress')
      }
    }
  }

  // ---- events

  private emit (live: Live, name: keyof FileEvents, force = false): void {
    const now = Date.now()
    const r = live.record
    live.samples.push({ at: now, bytes: r.bytes })
    while (live.samples.length > 2 && now - live.samples[0].at > RATE_WINDOW_MS) live.samples.shift()
    if (!force && now - live.lastEmit < PROGRESS_MS) {
      // the last change of a burst is said when the interval is up (a stalled transfer shows where it stopped)
      live.trailing ??= setTimeout(() => {
        live.trailing = undefined
        live.lastEmit = Date.now()
        if (!this.init.signal.aborted) this.init.onEvent('file-progress', this.view(live))
      }, PROGRESS_MS - (now - live.lastEmit))
      live.trailing.unref?.()
      return
    }
    clearTimeout(live.trailing)
    live.trailing = undefined
    live.lastEmit = now
    this.init.onEvent(name, this.view(live))
  }

  private view (live: Live): FileTransfer {
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
}

/**
 * A Blob's bytes in chunks of `chunkSize` (the last one shorter), read as a stream (far quicker than a
 * slice per chunk from a file on disk). Each chunk is a view of one buffer that the next one reuses.
 */
async function * chunksOf (blob: Blob, chunkSize: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(Math.min(chunkSize, Math.max(blob.size, 1)))
  let filled = 0
  const reader = blob.stream().getReader()
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      let at = 0
      while (at < value.byteLength) {
        const n = Math.min(buffer.byteLength - filled, value.byteLength - at)
        buffer.set(value.subarray(at, at + n), filled)
        filled += n
        at += n
        if (filled === buffer.byteLength) {
          yield buffer
          filled = 0
        }
      }
    }
    if (filled > 0) yield buffer.subarray(0, filled)
  } finally {
    reader.releaseLock()
  }
}

const enc = new TextEncoder()
/** A name cut to MAX_FILE_NAME_BYTES of UTF-8 at a code point boundary. */
function cutName (name: string): string {
  let chars = [...name]
  while (enc.encode(chars.join('')).byteLength > MAX_FILE_NAME_BYTES) chars = chars.slice(0, -1)
  return chars.join('')
}

function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`
}

export { countFailure }
