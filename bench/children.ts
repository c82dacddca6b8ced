/**
 * Child processes for the start-up and memory benchmarks: spawn, wait for the `{"type":"ready"}` line,
 * read VmRSS, and make sure every child is gone when the bench ends (normally or not).
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import type { ChildProcess } from 'node:child_process'

const READY_TIMEOUT_MS = 30_000
const EXIT_TIMEOUT_MS = 5_000

const live = new Set<ChildProcess>()

/** Kills whatever is still running (synchronously: also usable from process.on('exit')). */
export function killAll (): void {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
  live.clear()
}

/** Kills whatever is still running and waits (at most `ms`) until it is gone. */
export async function killAllAndWait (ms = 2_000): Promise<void> {
  const children = [...live]
  const gone = children.map(async child => {
    if (child.exitCode != null || child.signalCode != null) return
    await new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  })
  killAll()
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([Promise.all(gone), new Promise(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

export interface Started {
  child: ChildProcess
  /** ms from spawn() to the ready line */
  readyMs: number
}

/** Spawns `process.execPath args` and resolves once it printed a line `{"type":"ready",...}`. */
export async function spawnUntilReady (args: string[], cwd: string): Promise<Started> {
  const t0 = performance.now()
  const child = spawn(process.execPath, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: process.env })
  live.add(child)
  child.once('exit', () => { live.delete(child) })
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-2000) })
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! })
      const fail = (why: string): void => {
        clearTimeout(timer)
        lines.close()
        reject(new Error(`${args.join(' ')}: ${why}${stderr !== '' ? `; stderr: ${stderr.trim()}` : ''}`))
      }
      const timer = setTimeout(() => { fail(`no ready line within ${READY_TIMEOUT_MS} ms`) }, READY_TIMEOUT_MS)
      child.once('error', (err) => { fail(err.message) })
      child.once('exit', (code, signal) => { fail(`exited (${signal ?? code}) before it was ready`) })
      lines.on('line', (line) => {
        let parsed: any
        try { parsed = JSON.parse(line) } catch { return }
        if (parsed?.type !== 'ready') return
        const t1 = performance.now()
        clearTimeout(timer)
        child.removeAllListeners('exit')
        child.once('exit', () => { live.delete(child) })
        // keep draining stdout so the child never blocks on a full pipe
        lines.removeAllListeners('line')
        resolve(t1 - t0)
      })
    })
    return { child, readyMs }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** SIGTERM, then SIGKILL if it has not exited in time. Resolves true when it took SIGKILL. */
export async function stopChild (child: ChildProcess): Promise<boolean> {
  if (child.exitCode != null || child.signalCode != null) {
    live.delete(child)
    return false
  }
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  child.kill('SIGTERM')
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<boolean>(resolve => { timer = setTimeout(() => { resolve(true) }, EXIT_TIMEOUT_MS) })
  const forced = await Promise.race([exited.then(() => false), timedOut])
  if (forced) {
    child.kill('SIGKILL')
    await exited
  }
  clearTimeout(timer)
  live.delete(child)
  return forced
}

/** Resident set size of a running process, in KiB (VmRSS from /proc). */
export async function rssKiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = status.match(/^VmRSS:\s+(\d+)\s+kB$/m)
  if (match == null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1])
}
