/**
 * Errors thrown by the pure crypto helpers. Only local misuse throws: bytes from the network that
 * fail to decrypt, decode or verify are reported as `undefined` (or a reason), never as an error.
 * One class per error with a static `name`; messages are one line and never contain secrets or text.
 */

/** An invite link (or the room name/secret/creator given to encodeInvite) is malformed. */
export class InvalidInviteError extends Error {
  static override name = 'InvalidInviteError'
  override name = 'InvalidInviteError'
}
