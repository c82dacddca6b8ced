/**
 * A Blob's bytes in chunks of `chunkSize` (the last one shorter), read as a stream (far quicker than a
 * slice per chunk from a file on disk). Each chunk is a view of one buffer that the next one reuses.
 */
export async function * chunksOf (blob: Blob, chunkSize: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(Math.min(chunkSize, Math.max(blob.size, 1)))
  let filled = 0
  const reader = blob.stream().getReader()
  try {
    while (true) {
      const { done, value } = await reader.read()
      if (done) break
      let at = 0
      while (at < value.byteLength) {
        const n = Math.min(buffer.byteLength - filled, value.byteLength - at)
        buffer.set(value.subarray(at, at + n), filled)
        filled += n
        at += n
        if (filled === buffer.byteLength) {
          yield buffer
          filled = 0
        }
      }
    }
    if (filled > 0) yield buffer.subarray(0, filled)
  } finally {
    reader.releaseLock()
  }
}
