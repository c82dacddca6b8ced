/**
 * File offers and chunks as bytes: the strict decoder of an offer from the network, chunk hashing, and
 * the sealing of room files' chunks. Pure functions (no libp2p, no platform APIs beyond WebCrypto's
 * SHA-256, which Node 24 and browsers share).
 *
 * Room chunks: XChaCha20-Poly1305 under the offer's per-file key, the nonce the chunk index (u64
 * big-endian, zero-padded to 24 bytes), the file id as associated data. The same chunk seals to the same
 * bytes, so a member who has the file (kept in plaintext, to be opened) serves exactly what the author
 * hashed. A key is used for one file only, and a file never changes under it: the author refuses to serve
 * a file that changed on disk since it was offered.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { equals } from 'uint8arrays/equals'
import { toString as toHex } from 'uint8arrays/to-string'
import { MAX_FILE_BYTES, MAX_FILE_CHUNKS, MAX_FILE_CHUNK_BYTES, MAX_FILE_NAME_BYTES, MAX_FILE_TYPE_BYTES, MAX_OFFER_BYTES, MAX_THUMBNAIL_BYTES, MIN_FILE_CHUNK_BYTES } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { checkFields } from '../node/frames.js'
import { sha256 } from './hash.js'
import { FileOfferPb } from './pb/file.js'
import type { Shape } from '../node/frames.js'
import type { FileOffer } from './types.js'

export const FILE_ID_BYTES = 16
export const FILE_KEY_BYTES = 32
export const HASH_BYTES = 32
/** Poly1305 tag added to each sealed room chunk. */
export const TAG_BYTES = 16

const OFFER_SHAPE: Shape = { 1: 'bytes', 2: 'string', 3: 'varint', 4: 'string', 5: 'varint', 6: 'bytes', 7: 'bytes', 8: 'bytes' }
const enc = new TextEncoder()

export function encodeOffer (offer: FileOffer): Uint8Array {
  return FileOfferPb.encode({
    id: offer.id as Uint8Array<ArrayBuffer>,
    name: offer.name,
    size: offer.size,
    type: offer.type,
    chunkSize: offer.chunkSize,
    manifest: offer.manifest as Uint8Array<ArrayBuffer>,
    ...(offer.thumbnail != null ? { thumbnail: offer.thumbnail as Uint8Array<ArrayBuffer> } : {}),
    ...(offer.key != null ? { key: offer.key as Uint8Array<ArrayBuffer> } : {})
  })
}

/**
 * An offer from the network, checked: its fields' wire types, a 16-byte id, a name of 1..255 bytes, a
 * size up to MAX_FILE_BYTES in at most MAX_FILE_CHUNKS chunks of an accepted size, a 32-byte manifest,
 * a thumbnail up to 16 KiB and a key of 32 bytes when there is one. Throws ProtocolViolationError.
 */
export function decodeOffer (bytes: Uint8Array): FileOffer {
  if (bytes.byteLength > MAX_OFFER_BYTES) throw new ProtocolViolationError('file offer too long')
  checkFields(bytes, OFFER_SHAPE)
  let pb: FileOfferPb
  try {
    pb = FileOfferPb.decode(bytes)
  } catch {
    throw new ProtocolViolationError('undecodable file offer')
  }
  const size = pb.size
  const nameBytes = enc.encode(pb.name).byteLength
  if (pb.id.byteLength !== FILE_ID_BYTES) throw new ProtocolViolationError('bad file id')
  if (nameBytes === 0 || nameBytes > MAX_FILE_NAME_BYTES) throw new ProtocolViolationError('bad file name length')
  if (enc.encode(pb.type).byteLength > MAX_FILE_TYPE_BYTES) throw new ProtocolViolationError('bad file type')
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_BYTES) throw new ProtocolViolationError('bad file size')
  if (pb.chunkSize < MIN_FILE_CHUNK_BYTES || pb.chunkSize > MAX_FILE_CHUNK_BYTES) throw new ProtocolViolationError('bad chunk size')
  if (chunkCount(size, pb.chunkSize) > MAX_FILE_CHUNKS) throw new ProtocolViolationError('too many chunks')
  if (pb.manifest.byteLength !== HASH_BYTES) throw new ProtocolViolationError('bad manifest')
  if (pb.thumbnail != null && pb.thumbnail.byteLength > MAX_THUMBNAIL_BYTES) throw new ProtocolViolationError('thumbnail too large')
  if (pb.key != null && pb.key.byteLength !== FILE_KEY_BYTES) throw new ProtocolViolationError('bad file key')
  return {
    id: pb.id,
    name: pb.name,
    size,
    type: pb.type,
    chunkSize: pb.chunkSize,
    manifest: pb.manifest,
    ...(pb.thumbnail != null ? { thumbnail: pb.thumbnail } : {}),
    ...(pb.key != null ? { key: pb.key } : {})
  }
}

export const fileIdHex = (id: Uint8Array): string => toHex(id, 'base16')

/** Chunks of a file (an empty file has none). */
export function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

/** Plaintext bytes of chunk `index`. */
export function chunkLength (size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize)
}

export { sha256 }

/** Does `bytes` hash to the `index`th hash of `hashes`? */
export async function chunkMatches (hashes: Uint8Array, index: number, bytes: Uint8Array): Promise<boolean> {
  return equals(await sha256(bytes), hashes.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES))
}

function chunkNonce (index: number): Uint8Array {
  const nonce = new Uint8Array(24)
  new DataView(nonce.buffer).setBigUint64(0, BigInt(index), false)
  return nonce
}

/** A room file's chunk as it travels. */
export function sealChunk (key: Uint8Array, fileId: Uint8Array, index: number, plain: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, chunkNonce(index), fileId).encrypt(plain)
}

/** A room chunk back to plaintext; undefined when it does not open. */
export function openChunk (key: Uint8Array, fileId: Uint8Array, index: number, sealed: Uint8Array): Uint8Array | undefined {
  try {
    return xchacha20poly1305(key, chunkNonce(index), fileId).decrypt(sealed)
  } catch {
    return undefined
  }
}
