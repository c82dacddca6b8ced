/**
 * Safety code for a contact: two people compare it (in person, on a call) to check that each holds
 * the other's real peer ID. Order-independent, so both sides compute the same string. Pure.
 *
 * code = 6 groups of 5 digits from SHA-256(domain || min(keyA, keyB) || max(keyA, keyB)),
 * where keys are the raw 32-byte Ed25519 public keys; each group is a 40-bit chunk mod 100000
 * (about 99 bits in all).
 *
 * @example
 * ```ts
 * safetyCode(myPeerId, contactPeerId) // '01234 56789 13579 24680 11223 34455'
 * ```
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { compare as uint8ArrayCompare } from 'uint8arrays/compare'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { InvalidInputError } from '../errors.js'
import { ed25519PeerIdFromString } from './peer.js'
import type { PeerId } from '@libp2p/interface'

export const SAFETY_CODE_DOMAIN = 'megachat-safety-code-v1'
export const SAFETY_CODE_GROUPS = 6

const ED25519_PUBLIC_KEY_BYTES = 32

/** A peer ID, a peer ID string, or a raw 32-byte Ed25519 public key. */
export type SafetyCodeParty = PeerId | string | Uint8Array

function rawPublicKey (party: SafetyCodeParty): Uint8Array {
  if (party instanceof Uint8Array) {
    if (party.byteLength !== ED25519_PUBLIC_KEY_BYTES) {
      throw new InvalidInputError(`a public key for a safety code must be ${ED25519_PUBLIC_KEY_BYTES} raw Ed25519 bytes`)
    }
    return party
  }
  const peerId = typeof party === 'string' ? ed25519PeerIdFromString(party) : party
  if (peerId?.type !== 'Ed25519' || peerId.publicKey == null) {
    throw new InvalidInputError('a safety code needs Ed25519 peer IDs')
  }
  return peerId.publicKey.raw
}

/**
 * The safety code two parties compare, e.g. `"01234 56789 13579 24680 11223 34455"`.
 *
 * @throws InvalidInputError when either party is not an Ed25519 peer ID or raw public key
 */
export function safetyCode (a: SafetyCodeParty, b: SafetyCodeParty): string {
  const keys = [rawPublicKey(a), rawPublicKey(b)].sort(uint8ArrayCompare)
  const digest = sha256(uint8ArrayConcat([uint8ArrayFromString(SAFETY_CODE_DOMAIN, 'utf8'), ...keys]))

  const groups: string[] = []
  for (let i = 0; i < SAFETY_CODE_GROUPS; i++) {
    let chunk = 0
    for (let j = 0; j < 5; j++) {
      chunk = chunk * 256 + digest[i * 5 + j]
    }
    groups.push(String(chunk % 100000).padStart(5, '0'))
  }
  return groups.join(' ')
}
