import { concat } from 'uint8arrays/concat'

/** SHA-256 of a chunk, given whole or as the pieces it arrived in, by WebCrypto (hash.ts is the Node version). */
export async function sha256 (bytes: Uint8Array | Uint8Array[]): Promise<Uint8Array> {
  const whole = Array.isArray(bytes) ? concat(bytes) : bytes
  return new Uint8Array(await crypto.subtle.digest('SHA-256', whole as Uint8Array<ArrayBuffer>))
}
