/**
 * A CPU profile of this process between two points (the files bench: one per side of each transfer),
 * written to BENCH_PROFILE_DIR as <name>-<pid>-<time>.cpuprofile; nothing without that variable.
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'

export interface Profiling { stop(): Promise<void> }

export async function startProfile (name: string): Promise<Profiling> {
  const dir = process.env.BENCH_PROFILE_DIR
  if (dir == null) return { stop: async () => {} }
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop')
      await writeFile(join(dir, `${name}-${process.pid}-${Date.now()}.cpuprofile`), JSON.stringify(profile))
      session.disconnect()
    }
  }
}
