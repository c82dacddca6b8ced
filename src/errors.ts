/**
 * One class per error, each with a static `name` that callers and tests match on.
 * Messages are one clear line meant for the user; they never contain secrets or message text.
 */
import { MAX_TEXT_BYTES, overUtf8 } from './constants.js'

export class InvalidPeerIdError extends Error {
  static override name = 'InvalidPeerIdError'
  override name = 'InvalidPeerIdError'
}

export class UnknownContactError extends Error {
  static override name = 'UnknownContactError'
  override name = 'UnknownContactError'
}

export class DuplicateContactError extends Error {
  static override name = 'DuplicateContactError'
  override name = 'DuplicateContactError'
}

export class MessageTooLongError extends Error {
  static override name = 'MessageTooLongError'
  override name = 'MessageTooLongError'
}

/** The one rule for a message's text, in a DM or a room, with a file or not: at most MAX_TEXT_BYTES of UTF-8. */
export function checkMessageLength (text: string): void {
  if (overUtf8(text, MAX_TEXT_BYTES)) throw new MessageTooLongError(`message is ${new TextEncoder().encode(text).byteLength} bytes; the limit is ${MAX_TEXT_BYTES}`)
}

export class InvalidInputError extends Error {
  static override name = 'InvalidInputError'
  override name = 'InvalidInputError'
}

/** Nobody knew an address for the peer: not in the peer store, not found in the DHT. */
export class PeerNotFoundError extends Error {
  static override name = 'PeerNotFoundError'
  override name = 'PeerNotFoundError'
}

/** Addresses for the peer were found, but none of them could be dialled (offline, or behind a NAT with no relay). */
export class PeerUnreachableError extends Error {
  static override name = 'PeerUnreachableError'
  override name = 'PeerUnreachableError'
}

export class WrongPassphraseError extends Error {
  static override name = 'WrongPassphraseError'
  override name = 'WrongPassphraseError'
}

export class PassphraseRequiredError extends Error {
  static override name = 'PassphraseRequiredError'
  override name = 'PassphraseRequiredError'
}

export class CorruptDataError extends Error {
  static override name = 'CorruptDataError'
  override name = 'CorruptDataError'
}

export class DataDirError extends Error {
  static override name = 'DataDirError'
  override name = 'DataDirError'
}

/** Another process (a second MegaChat) holds the data directory's store. */
export class DataDirInUseError extends Error {
  static override name = 'DataDirInUseError'
  override name = 'DataDirInUseError'
}

export class ProtocolViolationError extends Error {
  static override name = 'ProtocolViolationError'
  override name = 'ProtocolViolationError'
}

export class UnknownRoomError extends Error {
  static override name = 'UnknownRoomError'
  override name = 'UnknownRoomError'
}

export class DuplicateRoomError extends Error {
  static override name = 'DuplicateRoomError'
  override name = 'DuplicateRoomError'
}

export class CallError extends Error {
  static override name = 'CallError'
  override name = 'CallError'
}

/** A bootstrap node refused TURN credentials (too many requests), or gave none that can be used. */
export class TurnRefusedError extends Error {
  static override name = 'TurnRefusedError'
  override name = 'TurnRefusedError'
  /** seconds until asking again is worth it, when the node said */
  retryAfter?: number
}
