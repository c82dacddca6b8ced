/**
 * Acknowledged DM throughput: a burst of 1 kB messages, sent at once, until every one is acknowledged
 * (stored by the recipient) and shown there, checked for loss, duplicates and order.
 *
 *  - floor: two raw libp2p nodes (TCP + Noise + yamux), one stream, the same 1 kB frames written back to
 *    back, the receiver answering every 64 frames with a small ack, until the last one is acknowledged;
 *  - createChat: two chat nodes with LevelDB stores (the recipient in a worker thread: its own event loop,
 *    as on another person's machine), `send()` called for every message in one go;
 *  - --json client: two terminal clients in scriptable mode, `/msg` lines written to one's stdin in one go.
 */
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { lpStream, UnexpectedEOFError } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createChat } from '../src/index.js'
import { JsonClient, startBootstrap, until } from '../test/fixtures.js'
import { createRawNode } from './floor.js'
import { removeTempDir, tempDir } from './temp.js'
import type { Chat } from '../src/index.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

const THROUGHPUT_PROTOCOL = '/megachat-bench/throughput/1.0.0'
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
}

function text (i: number): string {
  const head = `#${String(i).padStart(8, '0')} `
  return head + 'x'.repeat(TEXT_BYTES - head.length)
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

function result (messages: number, ms: number, counts: Pick<Throughput, 'lost' | 'duplicated' | 'outOfOrder'>): Throughput {
  return { messages, ms, perSecond: messages / ms * 1000, ...counts }
}

// ---- floor

async function handleFloor (stream: Stream, _connection: Connection): Promise<void> {
  const lp = lpStream(stream)
  let count = 0
  try {
    while (true) {
      try {
        await lp.read()
      } catch (err: any) {
        if (err.name === UnexpectedEOFError.name) break
        throw err
      }
      count++
      // a small ack every 64 frames, as a receiver that stores in batches would
      if (count % 64 === 0) await lp.write(new TextEncoder().encode(String(count)))
    }
    await lp.write(new TextEncoder().encode(String(count)))
    await stream.close()
  } catch (err: any) {
    stream.abort(err)
  }
}

export async function floorThroughput (messages: number): Promise<Throughput> {
  const nodes: Libp2p[] = []
  try {
    const [a, b] = [await createRawNode(), await createRawNode()]
    nodes.push(a, b)
    await b.handle(THROUGHPUT_PROTOCOL, handleFloor)
    await a.dial(b.getMultiaddrs()[0])
    const run = async (n: number): Promise<number> => {
      const stream = await a.dialProtocol(b.peerId, THROUGHPUT_PROTOCOL)
      const lp = lpStream(stream)
      const frames = Array.from({ length: n }, (_, i) => new TextEncoder().encode(text(i)))
      const t0 = performance.now()
      const reading = (async () => {
        while (true) {
          const ack = Number(new TextDecoder().decode((await lp.read({ signal: AbortSignal.timeout(TIMEOUT_MS) })).subarray()))
          if (ack >= n) return
        }
      })()
      for (let i = 0; i < n; i += 256) await lp.writeV(frames.slice(i, i + 256))
      // closing the writing side makes the receiver acknowledge the last partial batch
      const closing = stream.close()
      await reading
      const elapsed = performance.now() - t0
      await closing
      return elapsed
    }
    await run(Math.min(1000, messages))
    const ms = await run(messages)
    return result(messages, ms, { lost: 0, duplicated: 0, outOfOrder: 0 })
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
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
    const burst = async (first: number, n: number): Promise<number> => {
      const [deliveredBefore, shownBefore] = [delivered, shown]
      const t0 = performance.now()
      await Promise.all(Array.from({ length: n }, async (_, i) => await sender.send('bob', text(first + i))))
      await waitFor(() => delivered - deliveredBefore >= n && shown - shownBefore >= n, `${n} delivered and shown`)
      return performance.now() - t0
    }
    const warm = Math.min(1000, messages)
    await burst(0, warm)
    const ms = await burst(warm, messages)
    w.postMessage({ check: [warm, messages] })
    const { checked } = await answer('checked')
    w.postMessage({ stop: true })
    await answer('stopped')
    return result(messages, ms, checked)
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
  try {
    const args = (name: string): string[] => ['--json', '--data', join(dir, name), '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', boot.addresses()[0], '--no-webrtc']
    const a = new JsonClient(args('a'))
    const b = new JsonClient(args('b'))
    clients.push(a, b)
    const ready = await b.next(l => l.type === 'ready')
    const readyA = await a.next(l => l.type === 'ready')
    await a.command(`/add ${String(ready.peerId)} bob`, 'contact')
    await b.command(`/add ${String(readyA.peerId)} alice`, 'contact')
    const count = (client: JsonClient, type: string): number => client.lines.filter(l => l.type === type).length
    const shown = (): number[] => b.lines.filter(l => l.type === 'message').map(l => indexOf(l.text))
    const burst = async (first: number, n: number): Promise<number> => {
      const before = count(a, 'delivered')
      const t0 = performance.now()
      for (let i = 0; i < n; i++) a.send(`/msg bob ${text(first + i)}`)
      await until(() => count(a, 'delivered') - before >= n, TIMEOUT_MS, `${n} delivered`)
      await until(() => shown().filter(i => i >= first).length >= n, TIMEOUT_MS, `${n} shown`)
      return performance.now() - t0
    }
    const warm = Math.min(1000, messages)
    await burst(0, warm)
    const ms = await burst(warm, messages)
    return result(messages, ms, check(shown(), warm, messages))
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.stop() }))
    await boot.stop()
    await removeTempDir(dir)
  }
}
