/**
 * Errors of the bootstrap node, in the style of src/errors.ts: one class per error with a static
 * `name`; messages are one line meant for the operator.
 */

/** A listen address (TCP, WebSocket, WebRTC-direct or the STUN port) could not be bound. */
export class ListenError extends Error {
  static override name = 'ListenError'
  override name = 'ListenError'
}

/** The reason part of a socket bind failure, in words instead of a stack trace. */
export function listenErrorReason (err: { code?: string, message?: string }): string {
  switch (err.code) {
    case 'EADDRINUSE': return 'address already in use'
    case 'EADDRNOTAVAIL': return 'address not available on this machine'
    case 'EACCES': return 'permission denied (ports below 1024 need privileges)'
    case 'EINVAL': return 'invalid address'
    default: return err.code ?? err.message ?? 'unknown error'
  }
}

/** `web` was asked for but the web app has not been built into its directory. */
export class WebAppMissingError extends Error {
  static override name = 'WebAppMissingError'
  override name = 'WebAppMissingError'
}
