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

/** What a person is told about an invite link that cannot be used, in plain words. */
export const INVITE_PROBLEMS = Object.freeze({
  empty: 'no invite link given: paste the link you were sent (megachat://room/…)',
  notInvite: `this is not a MegaChat invite link (those start with ${INVITE_PREFIX})`,
  cutShort: 'this invite link is cut short: copy the whole link and try again',
  damaged: 'this invite link is damaged: ask for the link again',
  tooLong: 'this is too long to be a MegaChat invite link',
  newer: 'this invite link is from a newer version of MegaChat: update MegaChat to join the room'
})

/**
 * Reads an invite link, or its bare base64url payload. Whitespace anywhere (a link wrapped across
 * lines in an e-mail), brackets around it and punctuation after it (the end of a sentence) are left out.
 *
 * @throws InvalidInviteError with a one-line message in plain words (INVITE_PROBLEMS) for anything malformed
 */
export function decodeInvite (text: string): Invite {
  if (typeof text !== 'string') throw new InvalidInviteError(INVITE_PROBLEMS.notInvite)
  if (text.length > MAX_INVITE_LENGTH * 2) throw new InvalidInviteError(INVITE_PROBLEMS.tooLong)
  const trimmed = text.replace(/\s+/g, '').replace(/^[<("'[]+/, '').replace(/[>)"'\].,;!?]+$/, '')
  if (trimmed.length === 0) throw new InvalidInviteError(INVITE_PROBLEMS.empty)
  if (trimmed.length > MAX_INVITE_LENGTH) throw new InvalidInviteError(INVITE_PROBLEMS.tooLong)
  const lower = trimmed.toLowerCase()
  if (lower.startsWith(INVITE_PREFIX)) {
    const result = readPayload(trimmed.slice(INVITE_PREFIX.length))
    if (typeof result === 'string') throw new InvalidInviteError(result)
    return result
  }
  // "megachat://ro": the start of a link, and no more
  if (lower.startsWith('megachat:') && INVITE_PREFIX.startsWith(lower)) throw new InvalidInviteError(INVITE_PROBLEMS.cutShort)
  if (/[:/]/.test(trimmed)) throw new InvalidInviteError(INVITE_PROBLEMS.notInvite)
  // a bare payload: without the prefix, what cannot be read is not taken for an invite
  const result = readPayload(trimmed)
  if (result === INVITE_PROBLEMS.newer) throw new InvalidInviteError(result)
  if (typeof result === 'string') throw new InvalidInviteError(INVITE_PROBLEMS.notInvite)
  return result
}

/** The invite in a base64url payload, or what is wrong with it (one of INVITE_PROBLEMS). */
function readPayload (text: string): Invite | string {
  const payload = text.replace(/={1,2}$/, '')
  if (payload.length === 0) return INVITE_PROBLEMS.cutShort
  if (!/^[A-Za-z0-9_-]+$/.test(payload)) return INVITE_PROBLEMS.damaged
  let bytes: Uint8Array
  try {
    bytes = uint8ArrayFromString(payload, 'base64url')
  } catch {
    // a last group of characters that is not a whole one (or whose spare bits are set): the link ends too soon
    return INVITE_PROBLEMS.cutShort
  }

  let decoded: RoomInvite
  try {
    decoded = RoomInvite.decode(bytes)
  } catch (err: any) {
    // the bytes ran out in the middle of a field: the end of the link is missing
    return err instanceof RangeError ? INVITE_PROBLEMS.cutShort : INVITE_PROBLEMS.damaged
  }

  // the version is checked before the layout, so a newer invite says so rather than "damaged"
  if (decoded.version > INVITE_VERSION) return INVITE_PROBLEMS.newer
  const canonical = uint8ArrayEquals(RoomInvite.encode(decoded), bytes)
  // the fields come in order (version, name, secret, creator): a link that ends before the secret was cut
  if (canonical && decoded.version === INVITE_VERSION && decoded.secret.byteLength === 0 && decoded.creator == null) return INVITE_PROBLEMS.cutShort
  if (!canonical || decoded.version !== INVITE_VERSION || decoded.secret.byteLength !== ROOM_SECRET_BYTES || roomNameProblem(decoded.name) != null) {
    return INVITE_PROBLEMS.damaged
  }

  const invite: Invite = {
    name: decoded.name,
    secret: new Uint8Array(decoded.secret)
  }
  if (decoded.creator != null) {
    const creator = ed25519PeerIdFromBytes(decoded.creator)
    if (creator == null) return INVITE_PROBLEMS.damaged
    invite.creator = creator.toString()
  }
  return invite
}
