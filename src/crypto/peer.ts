/**
 * Peer ID <-> bytes helpers shared by the room and invite codecs. MegaChat identities are Ed25519,
 * so anything else is refused. Pure: no networking.
 */
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import * as Digest from 'multiformats/hashes/digest'
import type { Ed25519PeerId, PeerId } from '@libp2p/interface'

/** Length of an Ed25519 peer ID in bytes: identity multihash (2) + key protobuf (4) + raw key (32). */
export const ED25519_PEER_ID_BYTES = 38

/** The bytes of a peer ID (its multihash), as carried in envelopes and invites. */
export function peerIdToBytes (peerId: PeerId): Uint8Array<ArrayBuffer> {
  return new Uint8Array(peerId.toMultihash().bytes)
}

/**
 * Parses peer ID bytes; undefined unless they are exactly the canonical bytes of an Ed25519 peer ID
 * (so every accepted value has one encoding).
 */
export function ed25519PeerIdFromBytes (bytes: Uint8Array): Ed25519PeerId | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== ED25519_PEER_ID_BYTES) return undefined
  try {
    const peerId = peerIdFromMultihash(Digest.decode(bytes))
    if (peerId.type !== 'Ed25519' || peerId.publicKey == null) return undefined
    if (!uint8ArrayEquals(peerId.toMultihash().bytes, bytes)) return undefined
    return peerId
  } catch {
    return undefined
  }
}

/** Parses a peer ID string; undefined unless it is an Ed25519 peer ID. */
export function ed25519PeerIdFromString (text: string): Ed25519PeerId | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 128) return undefined
  try {
    const peerId = peerIdFromString(text)
    if (peerId.type !== 'Ed25519' || peerId.publicKey == null) return undefined
    return peerId
  } catch {
    return undefined
  }
}
