/**
 * Room invite links: `megachat://room/<base64url of a RoomInvite protobuf>`.
 *
 * An invite carries the room secret, so it is as sensitive as room membership: whoever holds it can
 * read and post. Pure: no networking.
 *
 * @example
 * ```ts
 * const link = encodeInvite({ name: 'friends', secret: createRoomSecret(), creator: peerId.toString() })
 * const invite = decodeInvite(link) // throws InvalidInviteError with a one-line message when malformed
 * ```
 */
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { RoomInvite } from '../rooms/pb/room.js'
import { InvalidInviteError } from './errors.js'
import { ed25519PeerIdFromBytes, ed25519PeerIdFromString, peerIdToBytes } from './peer.js'
import { ROOM_SECRET_BYTES } from './room.js'

export const INVITE_PREFIX = 'megachat://room/'
export const INVITE_VERSION = 1
/** Most characters (Unicode code points) in a room name. */
export const MAX_ROOM_NAME_LENGTH = 64
/** Most characters of invite text accepted, before any decoding. */
export const MAX_INVITE_LENGTH = 1024

export interface Invite {
  /** display name of the room, chosen by its creator */
  name: string
  /** 32-byte room secret */
  secret: Uint8Array
  /** creator's peer ID string, when the creator chose to include it */
  creator?: string
}

/** C0/C1 controls, line/paragraph separators and bidi overrides/isolates/marks (display spoofing). */
const FORBIDDEN_NAME_CHARS = /[\p{Cc}\u2028\u2029\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u

/** undefined when the room name is acceptable, otherwise the one-line reason. */
export function roomNameProblem (name: unknown): string | undefined {
  if (typeof name !== 'string' || name.trim().length === 0) return 'room name is empty'
  if (!name.isWellFormed()) return 'room name is not valid Unicode'
  if ([...name].length > MAX_ROOM_NAME_LENGTH) return `room name is longer than ${MAX_ROOM_NAME_LENGTH} characters`
  if (FORBIDDEN_NAME_CHARS.test(name)) return 'room name contains control characters'
  return undefined
}

/**
 * Makes an invite link.
 *
 * @throws InvalidInviteError when the name, secret or creator would make an invite that decodeInvite refuses
 */
export function encodeInvite (invite: Invite): string {
  const nameProblem = roomNameProblem(invite?.name)
  if (nameProblem != null) throw new InvalidInviteError(nameProblem)
  if (!(invite.secret instanceof Uint8Array) || invite.secret.byteLength !== ROOM_SECRET_BYTES) {
    throw new InvalidInviteError(`room secret must be ${ROOM_SECRET_BYTES} bytes`)
  }

  let creator: Uint8Array<ArrayBuffer> | undefined
  if (invite.creator != null) {
    const peerId = ed25519PeerIdFromString(invite.creator)
    if (peerId == null) throw new InvalidInviteError('invite creator is not a valid Ed25519 peer ID')
    creator = peerIdToBytes(peerId)
  }

  const payload = RoomInvite.encode({
    version: INVITE_VERSION,
    name: invite.name,
    secret: new Uint8Array(invite.secret),
    creator
  })

  return INVITE_PREFIX + uint8ArrayToString(payload, 'base64url')
}

/**
 * Reads an invite link, or its bare base64url payload, with surrounding whitespace allowed.
 *
 * @throws InvalidInviteError with a one-line message for anything malformed
 */
export function decodeInvite (text: string): Invite {
  if (typeof text !== 'string') throw new InvalidInviteError('invite must be text')
  const trimmed = text.trim()
  if (trimmed.length === 0) throw new InvalidInviteError('invite is empty')
  if (trimmed.length > MAX_INVITE_LENGTH) throw new InvalidInviteError('invite is too long')

  let payload: string
  if (trimmed.toLowerCase().startsWith(INVITE_PREFIX)) {
    payload = trimmed.slice(INVITE_PREFIX.length)
  } else if (/[:/]/.test(trimmed)) {
    throw new InvalidInviteError(`not a room invite: it must start with ${INVITE_PREFIX}`)
  } else {
    payload = trimmed
  }

  payload = payload.replace(/={1,2}$/, '')
  if (payload.length === 0) throw new InvalidInviteError('invite is empty')
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || payload.length % 4 === 1) {
    throw new InvalidInviteError('invite is not valid base64url')
  }

  let bytes: Uint8Array
  try {
    bytes = uint8ArrayFromString(payload, 'base64url')
  } catch {
    throw new InvalidInviteError('invite is not valid base64url')
  }

  let decoded: RoomInvite
  try {
    decoded = RoomInvite.decode(bytes)
  } catch {
    throw new InvalidInviteError('invite is corrupted')
  }

  // the version is checked before the layout, so a newer invite says so rather than "corrupted"
  if (decoded.version !== INVITE_VERSION) {
    throw new InvalidInviteError(`unsupported invite version ${decoded.version} (this app reads version ${INVITE_VERSION})`)
  }
  if (!uint8ArrayEquals(RoomInvite.encode(decoded), bytes)) {
    throw new InvalidInviteError('invite is corrupted')
  }
  if (decoded.secret.byteLength !== ROOM_SECRET_BYTES) {
    throw new InvalidInviteError(`invite secret must be ${ROOM_SECRET_BYTES} bytes`)
  }
  const nameProblem = roomNameProblem(decoded.name)
  if (nameProblem != null) throw new InvalidInviteError(`invite ${nameProblem}`)

  const invite: Invite = {
    name: decoded.name,
    secret: new Uint8Array(decoded.secret)
  }
  if (decoded.creator != null) {
    const creator = ed25519PeerIdFromBytes(decoded.creator)
    if (creator == null) throw new InvalidInviteError('invite creator is not a valid Ed25519 peer ID')
    invite.creator = creator.toString()
  }

  return invite
}
