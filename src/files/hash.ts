import { createHash } from 'node:crypto'

/**
 * SHA-256 of a chunk, given whole or as the pieces it arrived in. In Node it runs on the calling thread:
 * with the CPU's SHA extensions that is cheaper than WebCrypto's round trip through the thread pool,
 * which also copies the input first. (The browser's hash.browser.ts uses WebCrypto, the only native
 * SHA-256 there.)
 */
export async function sha256 (bytes: Uint8Array | Uint8Array[]): Promise<Uint8Array> {
  const hash = createHash('sha256')
  for (const piece of Array.isArray(bytes) ? bytes : [bytes]) hash.update(piece)
  return hash.digest()
}
