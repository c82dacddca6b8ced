/**
 * Acknowledged DM throughput: a burst of 1 kB messages, sent at once, until every one is acknowledged
 * (stored by the recipient) and shown there, checked for loss, duplicates and order.
 *
 *  - floor: two raw libp2p nodes (TCP + Noise + yamux; the receiver in a worker thread, as createChat's
 *    is), one stream, the same 1 kB frames written back to back (256 to a buffer), the receiver answering every 64 frames
 *    with a small ack, until the last one is acknowledged;
 *  - createChat: two chat nodes with LevelDB stores (the recipient in a worker thread: its own event loop,
 *    as on another person's machine), `send()` called for every message in one go;
 *  - --json client: two terminal clients in scriptable mode, `/msg` lines written to one's stdin in one go.
 * Each row also gives the CPU time both ends used per message (all threads; for --json, both processes).
 *
 * Each run measures the second of two bursts of the same size on one pair: the first warms it up. A
 * fresh process runs its first burst ~35% slower (the JIT has not optimised the code a burst runs
 * through, the garbage collector is still growing the heap), and with a short warm-up the first of the
 * runs came out slow and the others not: the median mixed a cold run with warm ones. The warm-up
 * burst's rate is printed beside the row (`firstBurst`).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createChat } from '../src/index.js'
import { writeFrames } from '../src/node/frames.js'
import { JsonClient, startBootstrap, until } from '../test/fixtures.js'
import { THROUGHPUT_PROTOCOL, createRawNode } from './floor.js'
import { startProfile } from './profile.js'
import { removeTempDir, tempDir } from './temp.js'
import type { Chat } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

const TEXT_BYTES = 1000
const TIMEOUT_MS = 120_000

export interface Throughput {
  messages: number
  ms: number
  perSecond: number
  lost: number
  duplicated: number
  /** messages shown after one that was sent later */
  outOfOrder: number
  /**
   * CPU time (user + system, all threads of both ends) per message, µs, where it can be read: less
   * swayed by other processes on the machine than the rate is
   */
  cpuPerMessage?: number
  /**
   * the warm-up burst's rate: the same burst, the first one this pair (and, in the first run, this
   * process) sent; its code not yet optimised by the JIT and its heap still growing
   */
  firstBurst: number
}

/** CPU time (ms) this process has used so far, all its threads. */
const ownCpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

/** CPU time (ms) a child process has used so far, from /proc (Linux); undefined elsewhere. */
function childCpu (pid: number | undefined): number | undefined {
  try {
    // the fields after the command's name (which is in parentheses): utime and stime are the 12th and 13th
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10 // clock ticks of 10 ms
  } catch {
    return undefined
  }
}

function text (i: number): string {
  const head = `#${String(i).padStart(8, '0')} `
  return head + 'x'.repeat(TEXT_BYTES - head.length)
}

/**
 * The text as one flat string: `text()` makes a rope of its two parts, which the first look at its
 * characters copies into a flat one (a user's typed or read text is flat from the start).
 */
function flat (t: string): string {
  t.charCodeAt(0)
  return t
}

export const indexOf = (t: string): number => Number(t.slice(1, 9))

/** Loss, duplicates and order of what was shown, given the indexes in the order they were shown. */
export function check (shown: number[], first: number, count: number): Pick<Throughput, 'lost' | 'duplicated' | 'outOfOrder'> {
  const seen = new Set<number>()
  let duplicated = 0
  let outOfOrder = 0
  let last = -1
  for (const i of shown) {
    if (i < first || i >= first + count) continue
    if (seen.has(i)) duplicated++
    seen.add(i)
    if (i < last) outOfOrder++
    last = Math.max(last, i)
  }
  return { lost: count - seen.size, duplicated, outOfOrder }
}

function result (messages: number, ms: number, counts: Pick<Throughput, 'lost' | 'duplicated' | 'outOfOrder'>, cpuMs: number | undefined, warmUp: { ms: number }): Throughput {
  return {
    messages,
    ms,
    perSecond: messages / ms * 1000,
    ...counts,
    ...(cpuMs != null && !Number.isNaN(cpuMs) ? { cpuPerMessage: cpuMs / messages * 1000 } : {}),
    firstBurst: messages / warmUp.ms * 1000
  }
}


// ---- floor

/**
 * The receiving node runs in a worker thread, as createChat's recipient does (each end its own event
 * loop and core); with both nodes in one thread the floor paid for both ends on one core.
 */
export async function floorThroughput (messages: number): Promise<Throughput> {
  let a: Libp2p | undefined
  const worker = new Worker(new URL('./throughput-floor-receiver.js', import.meta.url))
  try {
    const ready = await new Promise<{ address: string }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    const sender = a = await createRawNode()
    const connection = await sender.dial(multiaddr(ready.address))
    const run = async (n: number): Promise<{ ms: number, cpu: number }> => {
      const stream = await sender.dialProtocol(connection.remotePeer, THROUGHPUT_PROTOCOL)
      const lp = lpStream(stream)
      const frames = Array.from({ length: n }, (_, i) => new TextEncoder().encode(text(i)))
      const [t0, cpu0] = [performance.now(), ownCpu()]
      const reading = (async () => {
        while (true) {
          const ack = Number(new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(TIMEOUT_MS) })).subarray()))
          if (ack >= n) return
        }
      })()
      // 256 frames per write, each write one buffer (as the DM sender writes: see writeFrames)
      for (let i = 0; i < n; i += 256) await writeFrames(stream, frames.slice(i, i + 256))
      // closing the writing side makes the receiver acknowledge the last partial batch
      const closing = stream.close()
      await reading
      const elapsed = { ms: performance.now() - t0, cpu: ownCpu() - cpu0 }
      await closing
      return elapsed
    }
    const warmUp = await run(messages)
    const { ms, cpu } = await run(messages)
    return result(messages, ms, { lost: 0, duplicated: 0, outOfOrder: 0 }, cpu, warmUp)
  } finally {
    await Promise.resolve(a?.stop()).catch(() => {})
    await worker.terminate()
  }
}

// ---- createChat

/**
 * The sender in this thread, the recipient in a worker thread (its own event loop and core, as another
 * person's machine would be), each a createChat node with LevelDB.
 */
export async function chatThroughput (messages: number): Promise<Throughput> {
  const dir = await tempDir('throughput')
  let a: Chat | undefined
  let worker: Worker | undefined
  try {
    a = await createChat({ listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: false, dataDir: join(dir, 'a') })
    const sender = a
    worker = new Worker(new URL('./throughput-receiver.js', import.meta.url), { workerData: { dataDir: join(dir, 'b'), sender: sender.peerId.toString() } })
    const w = worker
    let shown = 0
    const answers: any[] = []
    w.on('message', (msg) => {
      if (msg.shown != null) shown = msg.shown
      else answers.push(msg)
    })
    w.on('error', (err) => { answers.push({ error: err }) })
    /** Waits for `test`, failing at once when the worker failed. */
    const waitFor = async (test: () => boolean, what: string): Promise<void> => {
      await until(() => {
        const failed = answers.find(a => a.error != null)
        if (failed != null) throw failed.error
        return test()
      }, TIMEOUT_MS, `createChat: ${what}`)
    }
    const answer = async (key: string): Promise<any> => {
      await waitFor(() => answers.some(a => a[key] != null), key)
      return answers.splice(answers.findIndex(a => a[key] != null), 1)[0]
    }
    const ready = await answer('ready')
    await sender.addContact(ready.peerId, 'bob')
    await sender.libp2p.dial(multiaddr(ready.addresses[0]))
    let delivered = 0
    sender.addEventListener('delivered', () => { delivered++ })
    const burst = async (first: number, n: number): Promise<{ ms: number, cpu: number }> => {
      const [deliveredBefore, shownBefore] = [delivered, shown]
      // the texts exist before the burst, as the floor's frames and the --json row's lines do
      const texts = Array.from({ length: n }, (_, i) => flat(text(first + i)))
      const [t0, cpu0] = [performance.now(), ownCpu()]
      await Promise.all(texts.map(async t => await sender.send('bob', t)))
      await waitFor(() => delivered - deliveredBefore >= n && shown - shownBefore >= n, `${n} delivered and shown`)
      return { ms: performance.now() - t0, cpu: ownCpu() - cpu0 }
    }
    const warm = messages
    const warmUp = await burst(0, warm)
    w.postMessage({ profile: true })
    const profiling = await startProfile('throughput-sender')
    const { ms, cpu } = await burst(warm, messages)
    await profiling.stop()
    w.postMessage({ check: [warm, messages] })
    const { checked } = await answer('checked')
    w.postMessage({ stop: true })
    await answer('stopped')
    return result(messages, ms, checked, cpu, warmUp)
  } finally {
    await a?.stop().catch(() => {})
    await worker?.terminate()
    await removeTempDir(dir)
  }
}

// ---- --json client

export async function jsonThroughput (messages: number): Promise<Throughput> {
  const dir = await tempDir('throughput-json')
  const clients: JsonClient[] = []
  const boot = await startBootstrap()
  // the burst's lines are counted as they come, not parsed and kept: this process shares the machine
  // with both clients, and parsing 60,000 lines (20 MB) took it about a core's third
  let delivered = 0
  const shownAt: number[] = []
  const skimA = (text: string): boolean => {
    if (text.startsWith('{"type":"delivered"')) delivered++
    else if (!text.startsWith('{"type":"sent"')) return false
    return true
  }
  const skimB = (text: string): boolean => {
    if (!text.startsWith('{"type":"message"')) return false
    const at = text.indexOf('"text":"#')
    if (at < 0) return false
    shownAt.push(Number(text.slice(at + 9, at + 17)))
    return true
  }
  try {
    const args = (name: string): string[] => ['--json', '--data', join(dir, name), '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', boot.addresses()[0], '--no-webrtc']
    const a = new JsonClient(args('a'), {}, { skim: skimA })
    const b = new JsonClient(args('b'), {}, { skim: skimB })
    clients.push(a, b)
    const ready = await b.next(l => l.type === 'ready')
    const readyA = await a.next(l => l.type === 'ready')
    await a.command(`/add ${String(ready.peerId)} bob`, 'contact')
    await b.command(`/add ${String(readyA.peerId)} alice`, 'contact')
    const cpu = (): number => (childCpu(a.pid) ?? NaN) + (childCpu(b.pid) ?? NaN)
    const burst = async (first: number, n: number): Promise<{ ms: number, cpu: number }> => {
      const [deliveredBefore, shownBefore] = [delivered, shownAt.length]
      const [t0, cpu0] = [performance.now(), cpu()]
      // the whole burst in one write, as a bot with a batch of messages would
      a.send(Array.from({ length: n }, (_, i) => `/msg bob ${text(first + i)}`).join('\n'))
      await until(() => delivered - deliveredBefore >= n, TIMEOUT_MS, `${n} delivered`)
      await until(() => shownAt.length - shownBefore >= n, TIMEOUT_MS, `${n} shown`)
      return { ms: performance.now() - t0, cpu: cpu() - cpu0 }
    }
    const warm = messages
    const warmUp = await burst(0, warm)
    const { ms, cpu: used } = await burst(warm, messages)
    const errors = [...a.lines, ...b.lines].filter(l => l.type === 'error')
    if (errors.length > 0) throw new Error(`--json client said: ${String(errors[0].message)}`)
    return result(messages, ms, check(shownAt, warm, messages), used, warmUp)
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.stop() }))
    await boot.stop()
    await removeTempDir(dir)
  }
}
