/**
 * Pure cryptography for encrypted group rooms (bytes in, bytes out; no networking).
 *
 * A room is a name plus a random 32-byte secret. Everything else is derived from the secret with
 * HKDF-SHA256 under distinct labels, so the public handles (room id, gossipsub topic, DHT key)
 * reveal nothing about the secret or the name.
 *
 * Wire format of one room message: `nonce (24 random bytes) || XChaCha20-Poly1305(messageKey, nonce,
 * aad = roomId, RoomEnvelope)`. The envelope carries the author's Ed25519 signature over a canonical
 * encoding that includes the room id, so a member cannot forge another member and a message cannot be
 * replayed into another room. Replays *within* a room keep their message id: deduplicate by id.
 *
 * Only local misuse throws. Bytes that do not open give `undefined` (or a reason, for counting).
 *
 * @example
 * ```ts
 * const keys = deriveRoomKeys(createRoomSecret())
 * const { bytes } = await sealRoomMessage(keys, privateKey, { text: 'hello' })
 * const message = await openRoomMessage(keys, bytes) // RoomMessage | undefined
 * ```
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { concat as uint8ArrayConcat } from 'uint8arrays/concat'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MAX_TEXT_BYTES } from '../constants.js'
import { checkMessageLength, InvalidInputError } from '../errors.js'
import { decodeOffer } from '../files/offer.js'
import { RoomEnvelope } from '../rooms/pb/room.js'
import { ed25519PeerIdFromBytes, peerIdToBytes } from './peer.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/** Length of a room secret. */
export const ROOM_SECRET_BYTES = 32
/** Length of the public room id. */
export const ROOM_ID_BYTES = 32
/** Length of a message id. */
export const ROOM_MESSAGE_ID_BYTES = 16
/** Most UTF-8 bytes of text one room message may carry: the same as a DM (checkMessageLength). */
export const MAX_ROOM_TEXT_BYTES = MAX_TEXT_BYTES
/** Most bytes a sealed room message may have; anything larger is dropped before decryption. */
export const MAX_ROOM_MESSAGE_BYTES = 88 * 1024
/** Every room topic starts with this; the rest is base32 of derived bytes. */
export const ROOM_TOPIC_PREFIX = '/megachat/room/1/'
/** Domain label that starts the signed bytes of every room message. */
export const ROOM_MESSAGE_SIGNATURE_DOMAIN = 'megachat-room-msg-v1'

const NONCE_BYTES = 24
const TAG_BYTES = 16
const SIGNATURE_BYTES = 64
/** multicodec `raw` */
const RAW_CODEC = 0x55
/** multihash `sha2-256` */
const SHA2_256 = 0x12

/** HKDF-SHA256 salt and `info` labels. Changing any of them changes every room. */
export const ROOM_KDF = {
  salt: 'megachat-room-kdf-v1',
  roomId: 'megachat/room/v1/room-id',
  topic: 'megachat/room/v1/gossipsub-topic',
  dht: 'megachat/room/v1/dht-key',
  messageKey: 'megachat/room/v1/message-key',
  syncAuth: 'megachat/room/v1/sync-auth'
} as const

/** Everything derived from a room secret. Only `messageKey` is secret; the rest are public handles. */
export interface RoomKeys {
  /** 32 bytes; AEAD associated data and the sync namespace. Public. */
  readonly roomId: Uint8Array
  /** lowercase hex of roomId, for logs and store keys */
  readonly roomIdHex: string
  /** gossipsub topic, `/megachat/room/1/<base32>` */
  readonly topic: string
  /** CID v1 (raw codec, sha2-256) for member announcements: `contentRouting.provide(dhtCid)` */
  readonly dhtCid: CID
  /** dhtCid.bytes */
  readonly dhtKey: Uint8Array
  /** 32-byte XChaCha20-Poly1305 key. Secret. */
  readonly messageKey: Uint8Array
  /** 32-byte HMAC key with which a member proves membership when asking another for history. Secret. */
  readonly syncAuthKey: Uint8Array
}

/** A room message that decrypted, decoded and carries a valid signature by `author`. */
export interface RoomMessage {
  /** 16 bytes */
  id: Uint8Array
  idHex: string
  author: PeerId
  /** author's clock, ms since the epoch (not trusted for ordering across authors) */
  timestamp: number
  text: string
  /** a file offer (FileOfferPb bytes, checked by decodeOffer), signed with the rest */
  file?: Uint8Array
}

export interface RoomMessageInput {
  /** 16 bytes; random when omitted */
  id?: Uint8Array
  /** ms since the epoch; Date.now() when omitted */
  timestamp?: number
  text: string
  /** a file offer (FileOfferPb bytes); the text may then be empty */
  file?: Uint8Array
}

export interface SealedRoomMessage {
  /** what to publish: nonce || ciphertext */
  bytes: Uint8Array
  /** what every member will see after opening `bytes` */
  message: RoomMessage
}

export type RoomMessageRejectReason = 'size' | 'decrypt' | 'decode' | 'author' | 'signature'

export type OpenRoomMessageResult =
  | { ok: true, message: RoomMessage }
  | { ok: false, reason: RoomMessageRejectReason }

const utf8 = (text: string): Uint8Array => uint8ArrayFromString(text, 'utf8')

function derive (secret: Uint8Array, label: string, length: number): Uint8Array {
  return hkdf(sha256, secret, utf8(ROOM_KDF.salt), utf8(label), length)
}

/** 32 fresh random bytes: a new room. */
export function createRoomSecret (): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(ROOM_SECRET_BYTES))
}

/** Derives every room key and public handle from the room secret. Deterministic. */
export function deriveRoomKeys (secret: Uint8Array): RoomKeys {
  if (!(secret instanceof Uint8Array) || secret.byteLength !== ROOM_SECRET_BYTES) {
    throw new InvalidInputError(`a room secret must be ${ROOM_SECRET_BYTES} bytes`)
  }

  const roomId = derive(secret, ROOM_KDF.roomId, ROOM_ID_BYTES)
  const topic = ROOM_TOPIC_PREFIX + uint8ArrayToString(derive(secret, ROOM_KDF.topic, 32), 'base32')
  const dhtCid = CID.createV1(RAW_CODEC, Digest.create(SHA2_256, sha256(derive(secret, ROOM_KDF.dht, 32))))

  return Object.freeze({
    roomId,
    roomIdHex: uint8ArrayToString(roomId, 'base16'),
    topic,
    dhtCid,
    dhtKey: dhtCid.bytes,
    messageKey: derive(secret, ROOM_KDF.messageKey, 32),
    syncAuthKey: derive(secret, ROOM_KDF.syncAuth, 32)
  })
}

/**
 * Proof that `requester` knows the room secret, bound to both ends of one (Noise-authenticated)
 * connection so it cannot be replayed to anyone else: HMAC-SHA256(syncAuthKey, label || room id ||
 * requester peer ID || responder peer ID).
 */
export function roomSyncAuth (keys: RoomKeys, requester: PeerId, responder: PeerId): Uint8Array {
  return hmac(sha256, keys.syncAuthKey, uint8ArrayConcat([
    lengthPrefixed(utf8('megachat-room-sync-v1')),
    lengthPrefixed(keys.roomId),
    lengthPrefixed(requester.toMultihash().bytes),
    lengthPrefixed(responder.toMultihash().bytes)
  ]))
}

function lengthPrefixed (bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.byteLength)
  new DataView(out.buffer).setUint32(0, bytes.byteLength, false)
  out.set(bytes, 4)
  return out
}

/**
 * The bytes the author signs: each field length-prefixed (u32 big-endian), the timestamp as a u64
 * big-endian, in this order: domain label, room id, message id, author peer ID bytes, timestamp, UTF-8 text,
 * and, for a message that offers a file, the offer's bytes (a message without one signs what it always did).
 */
export function roomMessageSigningBytes (roomId: Uint8Array, id: Uint8Array, author: Uint8Array, timestamp: number, text: string, file?: Uint8Array): Uint8Array {
  const time = new Uint8Array(8)
  new DataView(time.buffer).setBigUint64(0, BigInt(timestamp), false)

  return uint8ArrayConcat([
    lengthPrefixed(utf8(ROOM_MESSAGE_SIGNATURE_DOMAIN)),
    lengthPrefixed(roomId),
    lengthPrefixed(id),
    lengthPrefixed(author),
    time,
    lengthPrefixed(utf8(text)),
    ...(file != null ? [lengthPrefixed(file)] : [])
  ])
}

/**
 * Signs a text message as `privateKey` (Ed25519) and encrypts it for the room.
 *
 * @throws MessageTooLongError when the text is over MAX_ROOM_TEXT_BYTES (MAX_TEXT_BYTES) of UTF-8
 * @throws InvalidInputError for a non-Ed25519 key, an id that is not 16 bytes or a bad timestamp
 */
export async function sealRoomMessage (keys: RoomKeys, privateKey: PrivateKey, msg: RoomMessageInput): Promise<SealedRoomMessage> {
  if (privateKey?.type !== 'Ed25519') {
    throw new InvalidInputError('room messages are signed with an Ed25519 key')
  }
  if (typeof msg?.text !== 'string') {
    throw new InvalidInputError('a room message needs text')
  }

  checkMessageLength(msg.text)
  // what receivers will see: lone surrogates become U+FFFD, like any UTF-8 round trip
  const textBytes = utf8(msg.text)
  const text = uint8ArrayToString(textBytes, 'utf8')

  if (msg.id != null && (!(msg.id instanceof Uint8Array) || msg.id.byteLength !== ROOM_MESSAGE_ID_BYTES)) {
    throw new InvalidInputError(`a room message id must be ${ROOM_MESSAGE_ID_BYTES} bytes`)
  }
  const id = msg.id == null ? crypto.getRandomValues(new Uint8Array(ROOM_MESSAGE_ID_BYTES)) : new Uint8Array(msg.id)

  const timestamp = msg.timestamp ?? Date.now()
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new InvalidInputError('a room message timestamp must be a non-negative integer (ms)')
  }

  const author = peerIdFromPrivateKey(privateKey)
  const authorBytes = peerIdToBytes(author)
  const file = msg.file != null ? new Uint8Array(msg.file) : undefined
  const signature = await privateKey.sign(roomMessageSigningBytes(keys.roomId, id, authorBytes, timestamp, text, file))

  const plaintext = RoomEnvelope.encode({
    id,
    author: authorBytes,
    timestamp: BigInt(timestamp),
    text,
    signature: new Uint8Array(signature),
    ...(file != null ? { file } : {})
  })

  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
  const ciphertext = xchacha20poly1305(keys.messageKey, nonce, keys.roomId).encrypt(plaintext)

  return {
    bytes: uint8ArrayConcat([nonce, ciphertext], NONCE_BYTES + ciphertext.byteLength),
    message: {
      id,
      idHex: uint8ArrayToString(id, 'base16'),
      author,
      timestamp,
      text,
      ...(file != null ? { file } : {})
    }
  }
}

/**
 * Opens a sealed room message and says why when it does not. Never throws.
 *
 * Checks, in order: total size (`size`), AEAD with the room id as associated data (`decrypt`),
 * canonical protobuf with a 16-byte id, a safe timestamp and well-formed text (`decode`),
 * an Ed25519 author peer ID (`author`), the author's signature (`signature`).
 */
export async function openRoomMessageDetailed (keys: RoomKeys, bytes: Uint8Array): Promise<OpenRoomMessageResult> {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength > MAX_ROOM_MESSAGE_BYTES || bytes.byteLength < NONCE_BYTES + TAG_BYTES) {
    return { ok: false, reason: 'size' }
  }

  let plaintext: Uint8Array
  try {
    plaintext = xchacha20poly1305(keys.messageKey, bytes.subarray(0, NONCE_BYTES), keys.roomId)
      .decrypt(bytes.subarray(NONCE_BYTES))
  } catch {
    return { ok: false, reason: 'decrypt' }
  }

  let envelope: RoomEnvelope
  try {
    // no repeated fields, and the size is capped above, so no decode limits are needed
    envelope = RoomEnvelope.decode(plaintext)
    // one encoding per message: no unknown, duplicate, reordered or padded fields, no invalid UTF-8
    if (!uint8ArrayEquals(RoomEnvelope.encode(envelope), plaintext)) {
      return { ok: false, reason: 'decode' }
    }
  } catch {
    return { ok: false, reason: 'decode' }
  }

  if (
    envelope.id.byteLength !== ROOM_MESSAGE_ID_BYTES ||
    envelope.timestamp > BigInt(Number.MAX_SAFE_INTEGER) ||
    !envelope.text.isWellFormed() ||
    utf8(envelope.text).byteLength > MAX_ROOM_TEXT_BYTES
  ) {
    return { ok: false, reason: 'decode' }
  }
  if (envelope.file != null) {
    try {
      decodeOffer(envelope.file)
    } catch {
      return { ok: false, reason: 'decode' }
    }
  }
  const timestamp = Number(envelope.timestamp)

  const author = ed25519PeerIdFromBytes(envelope.author)
  if (author == null) {
    return { ok: false, reason: 'author' }
  }

  if (envelope.signature.byteLength !== SIGNATURE_BYTES) {
    return { ok: false, reason: 'signature' }
  }
  let valid = false
  try {
    valid = await author.publicKey.verify(
      roomMessageSigningBytes(keys.roomId, envelope.id, envelope.author, timestamp, envelope.text, envelope.file),
      envelope.signature
    )
  } catch {
    valid = false
  }
  if (valid !== true) {
    return { ok: false, reason: 'signature' }
  }

  const id = new Uint8Array(envelope.id)
  return {
    ok: true,
    message: {
      id,
      idHex: uint8ArrayToString(id, 'base16'),
      author,
      timestamp,
      text: envelope.text,
      ...(envelope.file != null ? { file: envelope.file } : {})
    }
  }
}

/** Opens a sealed room message: the message, or undefined for anything that does not open. Never throws. */
export async function openRoomMessage (keys: RoomKeys, bytes: Uint8Array): Promise<RoomMessage | undefined> {
  const result = await openRoomMessageDetailed(keys, bytes)
  return result.ok ? result.message : undefined
}
