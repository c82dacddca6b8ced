/** SHA-256 of a chunk, by WebCrypto (hash.ts is the Node version). */
export async function sha256 (bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
}
