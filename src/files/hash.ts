import { createHash } from 'node:crypto'

/**
 * SHA-256 of a chunk. In Node it runs on the calling thread: with the CPU's SHA extensions that is
 * cheaper than WebCrypto's round trip through the thread pool, which also copies the input first.
 * (The browser's hash.browser.ts uses WebCrypto, the only native SHA-256 there.)
 */
export async function sha256 (bytes: Uint8Array): Promise<Uint8Array> {
  return createHash('sha256').update(bytes).digest()
}
