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
import { toString } from 'uint8arrays'
import { AUTO_FETCH_BYTES, FILE_CHUNK_BYTES, MAX_CONCURRENT_FETCHES, MAX_FILE_BYTES, MAX_PENDING_OFFERS, MAX_THUMBNAIL_BYTES } from '../constants.js'
import { InvalidInputError } from '../errors.js'
import { chunksOf } from './blob-chunks.js'
import { pullInto } from './fetch.js'
import { describe, emit as emitLive, newLive, view } from './live.js'
import { cutName } from './names.js'
import { chunkCount, fileIdHex, FILE_ID_BYTES, FILE_KEY_BYTES, HASH_BYTES, sealChunk, sha256 } from './offer.js'
import { BadChunkError, countFailure, FileUnavailableError } from './protocol.js'
import { serveSource } from './serve.js'
import type { FileEngineStats } from './fetch.js'
import type { Live } from './live.js'
import type { ServeSource, Refusal, FileTransferStats } from './protocol.js'
import type { FileEvents, FileOffer, FileSource, FileStorage, FileTransfer, Files } from './types.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore, FileRecord } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

export * from './types.js'
export { safeFileName } from './names.js'
export { decodeOffer, encodeOffer } from './offer.js'
export type { FileEngineStats } from './fetch.js'
export { fileTransfer, FileUnavailableError, BadChunkError } from './protocol.js'
export type { FileTransferStats, ServeSource, Refusal } from './protocol.js'

const log = logger('megachat:files')

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
      this.transfers.set(record.id, newLive(record))
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
      .map(l => view(l))
  }

  get (id: string): FileTransfer | undefined {
    const live = this.transfers.get(id)
    return live != null ? view(live) : undefined
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
    const live: Live = { ...newLive(record), hashes }
    this.transfers.set(idHex, live)
    return { offer, transfer: view(live) }
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
    const live: Live = newLive(record)
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
    const { store, storage, reach, stats } = this.init
    await pullInto(live, peer, signal, { store, storage, reach, stats, engineStats: this.stats, progress: () => { this.emit(live, 'file-progress') } })
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

  private emit (live: Live, name: keyof FileEvents, force = false): void {
    emitLive(live, name, (n, t) => { if (!this.init.signal.aborted) this.init.onEvent(n, t) }, force)
  }

  // ---- serving

  /** The file with this id as served to `peer`, or why not (the protocol's lookup). */
  async serve (peer: PeerId, id: string): Promise<ServeSource | Refusal> {
    const live = this.transfers.get(id)
    if (live == null || live.record.state === 'cancelled') return 'unknown'
    return await serveSource(live, peer, { store: this.init.store, storage: this.init.storage, progress: () => { this.emit(live, 'file-progress') } })
  }
}

export { countFailure }
