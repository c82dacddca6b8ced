/**
 * Serving a file we hold: to the peer it was offered to (a DM file) or to any member who names it (a room
 * file, whose bytes are sealed under the key only the offer carries), read from storage a chunk at a time.
 */
import { fromString } from 'uint8arrays'
import { chunkLength, sealChunk } from './offer.js'
import type { Live } from './live.js'
import type { Refusal, ServeSource } from './protocol.js'
import type { FileStorage } from './types.js'
import type { ChatStore } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

/** The file of `live` as served to `peer`, or why not (the protocol's lookup). */
export async function serveSource (live: Live, peer: PeerId, deps: { store: ChatStore, storage: FileStorage, progress: () => void }): Promise<ServeSource | Refusal> {
  const r = live.record
  const id = r.id
  // a DM file only to the peer it was offered to
  if (!r.room && (r.direction !== 'out' || r.conversation !== peer.toString())) return 'unknown'
  if (r.direction === 'in' && r.state !== 'done') return 'unavailable'
  const hashes = live.hashes ?? await deps.store.fileHashes(id)
  if (hashes == null) return 'unavailable'
  live.hashes = hashes
  const key = r.key != null ? fromString(r.key, 'base64') : undefined
  const fileId = fromString(id, 'base16')
  // a file we send that changed since: said at once (a changed chunk would fail its hash anyway)
  try {
    if (r.size > 0) await deps.storage.read(id, 0, 1)
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
      const plain = await deps.storage.read(id, index * r.chunkSize, chunkLength(r.size, r.chunkSize, index))
      return key != null ? sealChunk(key, fileId, index, plain) : plain
    },
    onServed: (bytes) => {
      if (r.direction !== 'out' || bytes <= r.bytes) return
      r.bytes = bytes
      deps.progress()
    }
  }
}
