/**
 * Fetching one file from one peer that has it: the stream, the chunks checked by protocol.ts and written
 * to storage (rooms: opened first), resuming after what is on disk already and checks out, with the disk
 * space checked first and progress stored about once a second.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { concat, fromString } from 'uint8arrays'
import { FILE_DISK_MARGIN_BYTES, FILE_PROTOCOL } from '../constants.js'
import { InvalidInputError } from '../errors.js'
import { formatBytes } from '../bytes.js'
import { chunkCount, chunkLength, chunkMatches, openChunk, sealChunk, TAG_BYTES } from './offer.js'
import { BadChunkError, pull } from './protocol.js'
import type { Live } from './live.js'
import type { FileTransferStats } from './protocol.js'
import type { FileStorage } from './types.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore } from '../store/index.js'

const log = logger('megachat:files')

/** What the engine counts that the protocol does not. */
export interface FileEngineStats {
  /** offers over MAX_FILE_BYTES or otherwise refused on arrival */
  offersRefused: number
  /** offers dropped because MAX_PENDING_OFFERS wait already */
  offersOverflow: number
  /** fetches not started for want of disk space */
  noSpace: number
}

export interface PullDeps {
  store: ChatStore
  storage: FileStorage
  reach: Pick<Reach, 'openStream'>
  /** the protocol's counters */
  stats: () => FileTransferStats
  engineStats: FileEngineStats
  /** a chunk was written */
  progress: () => void
}

export async function pullInto (live: Live, peer: string, signal: AbortSignal, deps: PullDeps): Promise<void> {
  const r = live.record
  const key = r.key != null ? fromString(r.key, 'base64') : undefined
  const id = fromString(r.id, 'base16')
  const { storage, store } = deps
  const { stream } = await deps.reach.openStream(peerIdFromString(peer), FILE_PROTOCOL, { signal })
  let since = Date.now()
  await pull(stream, {
    id,
    manifest: fromString(r.manifest, 'base16'),
    size: r.size,
    chunkSize: r.chunkSize,
    overhead: key != null ? TAG_BYTES : 0,
    signal,
    stats: deps.stats(),
    start: async (hashes) => {
      live.hashes = hashes
      const first = await verified(live, hashes, key, id, storage)
      r.bytes = Math.min(r.size, first * r.chunkSize)
      const free = await storage.available().catch(() => undefined)
      const need = r.size - r.bytes + FILE_DISK_MARGIN_BYTES
      if (free != null && free < need) {
        deps.engineStats.noSpace++
        throw new InvalidInputError(`not enough disk space: the file needs ${formatBytes(r.size - r.bytes)} more, ${formatBytes(free)} is free (keeping ${formatBytes(FILE_DISK_MARGIN_BYTES)} spare)`)
      }
      await store.putFile(r, hashes)
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
        await store.putFile(r)
      }
      deps.progress()
    }
  }).catch(async (err) => {
    await store.putFile(r).catch(() => {})
    throw err
  })
}

/**
 * How many chunks of the partial file are good: each whole chunk on disk is hashed (sealed first, for
 * a room) and compared, up to the first that does not match; the file is cut there when written next.
 */
async function verified (live: Live, hashes: Uint8Array, key: Uint8Array | undefined, id: Uint8Array, storage: FileStorage): Promise<number> {
  const r = live.record
  const written = await storage.written(r.id)
  const chunks = chunkCount(r.size, r.chunkSize)
  let k = 0
  for (; k < chunks; k++) {
    const length = chunkLength(r.size, r.chunkSize, k)
    if (k * r.chunkSize + length > written) break
    const plain = await storage.read(r.id, k * r.chunkSize, length)
    if (!await chunkMatches(hashes, k, key != null ? sealChunk(key, id, k, plain) : plain)) break
  }
  if (k * r.chunkSize < written && k < chunks) log('partial file %s: %d bytes on disk, %d verified', r.id, written, k * r.chunkSize)
  return k
}

