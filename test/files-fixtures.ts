/** Files for the file tests: random content with its hash, hashing a file, a source to send. */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, openAsBlob } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'

/** A file of `size` random bytes in `dir`; returns its path and SHA-256. */
export async function randomFile (dir: string, name: string, size: number): Promise<{ path: string, hash: string }> {
  const path = join(dir, name)
  const hash = createHash('sha256')
  const h = await open(path, 'w')
  for (let done = 0; done < size;) {
    const part = randomBytes(Math.min(4 * 2 ** 20, size - done))
    await h.write(part)
    hash.update(part)
    done += part.byteLength
  }
  await h.close()
  return { path, hash: hash.digest('hex') }
}

export async function hashOf (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export async function source (path: string, name?: string): Promise<{ name: string, blob: Blob, path: string }> {
  return { name: name ?? path.split('/').pop() as string, blob: await openAsBlob(path), path }
}

