/** Temporary directories that are removed however the bench ends (also on Ctrl-C). */
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dirs = new Set<string>()

export async function tempDir (name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `megachat-bench-${name}-`))
  dirs.add(dir)
  return dir
}

export async function removeTempDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  dirs.delete(dir)
}

/** Synchronous, for process.on('exit'). */
export function removeAllTempDirs (): void {
  for (const dir of dirs) {
    // retries: a child killed a moment ago may still have been writing into it
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }) } catch {}
  }
  dirs.clear()
}
