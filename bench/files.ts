/**
 * Section 8 of the bench: one file of BENCH_FILE_MIB (default 1024) MiB between two Node clients on
 * loopback, the receiver in a process of its own, against the floor of one raw libp2p stream over the same
 * TCP + Noise + yamux carrying the same bytes in 1 MiB frames to a bare node in a process of its own;
 * and the receiving client's peak RSS during the transfer against its own idle RSS. Then a file of
 * BENCH_WEBRTC_FILE_MIB (default 128) MiB over a direct WebRTC connection between the two processes,
 * against a raw @libp2p/webrtc stream opened the same way (through the bootstrap node's relay).
 * Each TCP row says the CPU time each side spent per MiB (process.cpuUsage: less disturbed by whatever
 * else runs on the machine than the rates are). BENCH_FILE_RUNS (default 3) runs of each; BENCH_FILE_WEBRTC=0
 * skips the WebRTC rows; BENCH_PROFILE_DIR writes a CPU profile of each side of each transfer there.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { openAsBlob } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createChat } from '../src/index.js'
import { isWebRTC } from '../src/node/webrtc-guard.js'
import { startBootstrap, WEBRTC } from '../test/fixtures.js'
import { rssKiB, stopChild } from './children.js'
import { BULK_PROTOCOL, createRawNode, createRawWebRTCNode } from './floor.js'
import { startProfile } from './profile.js'
import { mib, pad, positiveInt, ratio } from './stats.js'
import { removeTempDir, tempDir } from './temp.js'
import type { ChildProcess } from 'node:child_process'

const RECEIVER = fileURLToPath(new URL('./files-receiver.js', import.meta.url))
const MiB = 2 ** 20
const FILE_MIB = positiveInt(process.env.BENCH_FILE_MIB, 1024)
const THROUGHPUT_GOAL = 0.8
const RSS_GOAL = 1.2
const IDLE_MS = 3000
const LABEL = 40

interface Receiver {
  child: ChildProcess
  lines: any[]
  next(type: string, ms?: number): Promise<any>
  send(obj: object): void
}

async function startReceiver (args: string[]): Promise<Receiver> {
  const child = spawn(process.execPath, [RECEIVER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: any[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try { lines.push(JSON.parse(line)) } catch {}
    for (const w of [...waiters]) w()
  })
  const next = async (type: string, ms = 600_000): Promise<any> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const i = lines.findIndex(l => l.type === type || l.type === 'error')
      if (i < 0) return
      const [line] = lines.splice(i, 1)
      clearTimeout(timer)
      waiters.delete(check)
      if (line.type === 'error') reject(new Error(`receiver: ${line.message}`))
      else resolve(line)
    }
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`receiver: no ${type} within ${ms} ms`)) }, ms)
    waiters.add(check)
    child.once('exit', (code) => { if (waiters.has(check)) { waiters.delete(check); clearTimeout(timer); reject(new Error(`receiver exited (${code}) before ${type}`)) } })
    check()
  })
  return { child, lines, next, send: (obj) => { child.stdin?.write(JSON.stringify(obj) + '\n') } }
}

/** Samples a process's RSS every 20 ms until stopped; resolves with the highest seen (KiB). */
function sampleRss (pid: number): { stop(): Promise<number> } {
  let peak = 0
  let running = true
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssKiB(pid).catch(() => 0))
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  })()
  return { stop: async () => { running = false; await loop; return peak } }
}

async function randomFile (path: string, bytes: number): Promise<void> {
  const h = await open(path, 'w')
  const block = new Uint8Array(randomBytes(MiB))
  for (let done = 0; done < bytes; done += MiB) {
    // different bytes in every MiB (so no chunk repeats), cheaply
    new DataView(block.buffer).setUint32(0, done / MiB)
    await h.write(block, 0, Math.min(MiB, bytes - done))
  }
  await h.close()
}

/** CPU time this process has used so far, µs */
function cpuNow (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** CPU time per MiB moved, ms, on each side of a transfer */
interface Cpu { senderMs: number, receiverMs: number }

function cpuPerMiB (bytes: number, senderUs: number, receiverUs: number): Cpu {
  return { senderMs: senderUs / 1000 / (bytes / MiB), receiverMs: receiverUs / 1000 / (bytes / MiB) }
}

interface FloorRun { ms: number, idleKiB: number, peakKiB: number, cpu: Cpu }

/**
 * The raw stream: to a bare node over TCP (that discards the bytes, or with `disk` writes them there),
 * or with `relay` over a direct WebRTC connection opened through that relay.
 */
async function floor (bytes: number, opts: { disk?: string, relay?: string } = {}): Promise<FloorRun> {
  const { disk, relay } = opts
  const receiver = await startReceiver(relay != null ? ['raw-webrtc', relay] : disk != null ? ['raw-disk', disk] : ['raw'])
  const node = relay != null ? await createRawWebRTCNode() : await createRawNode()
  try {
    const ready = await receiver.next('ready')
    const connection = await node.dial(multiaddr(ready.addresses[0]))
    if (relay != null && !isWebRTC(connection)) throw new Error(`floor: ${connection.remoteAddr.toString()} is not a WebRTC connection`)
    await new Promise(resolve => setTimeout(resolve, IDLE_MS))
    const idleKiB = await rssKiB(receiver.child.pid as number)
    const rss = sampleRss(receiver.child.pid as number)
    const stream = await connection.newStream(BULK_PROTOCOL)
    const lp = lpStream(stream)
    const frame = new Uint8Array(randomBytes(MiB))
    receiver.send({ cpu: true })
    const receiverCpu0 = (await receiver.next('cpu')).cpuUs
    const profile = await startProfile(`sender-${relay != null ? 'floor-webrtc' : disk != null ? 'floor-disk' : 'floor'}`)
    const cpu0 = cpuNow()
    const t0 = performance.now()
    for (let done = 0; done < bytes; done += MiB) await lp.write(frame.subarray(0, Math.min(MiB, bytes - done)))
    const closing = stream.close()
    const ack = Number(new TextDecoder().decode((await lp.read()).subarray()))
    await closing
    const ms = performance.now() - t0
    const senderUs = cpuNow() - cpu0
    await profile.stop()
    if (ack !== bytes) throw new Error(`floor: the receiver got ${ack} bytes, not ${bytes}`)
    const done = await receiver.next('done')
    return { ms, idleKiB, peakKiB: await rss.stop(), cpu: cpuPerMiB(bytes, senderUs, done.cpuUs - receiverCpu0) }
  } finally {
    await node.stop()
    await stopChild(receiver.child)
  }
}

interface ChatRun { hashMs: number, ms: number, idleKiB: number, peakKiB: number, cpu: Cpu }

/** Two clients over TCP, or with `relay` over a direct WebRTC connection opened through that relay. */
async function chat (bytes: number, dir: string, relay?: string): Promise<ChatRun> {
  const receiver = await startReceiver(relay != null ? ['chat-webrtc', join(dir, 'b'), relay] : ['chat', join(dir, 'b')])
  const sender = await createChat({ dataDir: join(dir, 'a'), listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: relay != null, ...(relay != null ? { bootstrap: [relay] } : {}) })
  let others = 0
  try {
    const ready = await receiver.next('ready')
    receiver.send({ add: sender.peerId.toString() })
    await receiver.next('added')
    await sender.addContact(ready.peerId, 'bob')
    const connection = await sender.libp2p.dial(multiaddr(ready.addresses[0]))
    if (relay != null) {
      if (!isWebRTC(connection)) throw new Error(`chat: ${connection.remoteAddr.toString()} is not a WebRTC connection`)
      // the relayed connection WebRTC was negotiated on goes: the file must travel on WebRTC alone
      for (const c of sender.libp2p.getConnections(connection.remotePeer)) if (c !== connection) await c.close()
      sender.libp2p.addEventListener('connection:open', (evt) => { if (evt.detail.remotePeer.equals(connection.remotePeer)) others++ })
    }
    // a small file first (warms up both ends), then idle
    const small = join(dir, 'small.bin')
    await randomFile(small, MiB)
    await sender.sendFile('bob', { name: 'small.bin', blob: await openAsBlob(small), path: small })
    await receiver.next('done')
    await new Promise(resolve => setTimeout(resolve, IDLE_MS))
    const idleKiB = await rssKiB(receiver.child.pid as number)
    const path = join(dir, 'big.bin')
    await randomFile(path, bytes)
    // the receiver's CPU from before the offer (it idles while the sender hashes the file)
    receiver.send({ cpu: true })
    const receiverCpu0 = (await receiver.next('cpu')).cpuUs
    const t0 = performance.now()
    const rss = sampleRss(receiver.child.pid as number)
    await sender.sendFile('bob', { name: 'big.bin', blob: await openAsBlob(path), path })
    const t1 = performance.now()
    const profile = await startProfile(`sender-${relay != null ? 'chat-webrtc' : 'chat'}`)
    const cpu0 = cpuNow()
    const done = await receiver.next('done')
    const t2 = performance.now()
    const senderUs = cpuNow() - cpu0
    await profile.stop()
    const peakKiB = await rss.stop()
    if (done.bytes !== bytes) throw new Error(`chat: ${done.bytes} bytes arrived, not ${bytes}`)
    if (others > 0) throw new Error(`chat: ${others} other connection(s) to the receiver opened during the transfer`)
    return { hashMs: t1 - t0, ms: t2 - t1, idleKiB, peakKiB, cpu: cpuPerMiB(bytes, senderUs, done.cpuUs - receiverCpu0) }
  } finally {
    await sender.stop()
    await stopChild(receiver.child)
  }
}

const RUNS = positiveInt(process.env.BENCH_FILE_RUNS, 3)

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

export async function benchFiles (io: { line(text?: string): void, step(what: string): void }): Promise<void> {
  const { line, step } = io
  const bytes = FILE_MIB * MiB
  line(`8. Files: one ${FILE_MIB} MiB file between two clients on loopback (TCP + Noise + yamux), the receiver in a process of its own; ${RUNS} runs each, taking turns, medians`)
  const dir = await tempDir('files')
  try {
    const raws: FloorRun[] = []
    const disks: FloorRun[] = []
    const chats: ChatRun[] = []
    for (let r = 0; r < RUNS; r++) {
      step(`files: floor, run ${r + 1}`)
      raws.push(await floor(bytes))
      step(`files: chat, run ${r + 1}`)
      chats.push(await chat(bytes, join(dir, String(r))))
      await removeTempDir(join(dir, String(r))).catch(() => {})
      step(`files: floor writing to disk, run ${r + 1}`)
      disks.push(await floor(bytes, { disk: dir }))
    }
    const floorRate = median(raws.map(x => bytes / x.ms * 1000))
    const each = (xs: number[]): string => xs.length > 1 ? ` (${xs.map(x => x.toFixed(2)).join(', ')})` : ''
    const cpu = (runs: Array<{ cpu: Cpu }>): string => {
      const sender = runs.map(x => x.cpu.senderMs)
      const receiver = runs.map(x => x.cpu.receiverMs)
      return `CPU/MiB: sender ${median(sender).toFixed(2)} ms${each(sender)}, receiver ${median(receiver).toFixed(2)} ms${each(receiver)}`
    }
    const rate = median(chats.map(x => bytes / x.ms * 1000))
    const all = (xs: number[]): string => xs.map(x => mib(x / 1024)).join(', ')
    line(`${pad('floor: raw libp2p stream, 1 MiB frames', LABEL)} ${pad(mib(floorRate / 1024), 10)}/s (runs: ${all(raws.map(x => bytes / x.ms * 1000))}/s; to a bare node that discards them) ${cpu(raws)}`)
    const r = rate / floorRate
    line(`${pad('createChat: offer to file-done', LABEL)} ${pad(mib(rate / 1024), 10)}/s ratio ${pad(ratio(rate, floorRate), 6)} goal >=${THROUGHPUT_GOAL}x ${r >= THROUGHPUT_GOAL ? 'PASS' : 'MISS'}  (runs: ${all(chats.map(x => bytes / x.ms * 1000))}/s; every chunk checked and written to disk) ${cpu(chats)}`)
    const diskRate = median(disks.map(x => bytes / x.ms * 1000))
    line(`${pad('  diag: the raw stream, written to disk', LABEL)} ${pad(mib(diskRate / 1024), 10)}/s (runs: ${all(disks.map(x => bytes / x.ms * 1000))}/s); the chat ${ratio(rate, diskRate)} of it; ${cpu(disks)}`)
    const hashMs = median(chats.map(x => x.hashMs))
    line(`${pad('  diag: sender reading and hashing it', LABEL)} ${(hashMs / 1000).toFixed(2)} s (${mib(bytes / hashMs * 1000 / 1024)}/s), before the offer goes out`)
    const worst = chats.reduce((a, b) => b.peakKiB / b.idleKiB > a.peakKiB / a.idleKiB ? b : a)
    const rssRatio = worst.peakKiB / worst.idleKiB
    line(`${pad('receiver peak RSS during the transfer', LABEL)} ${pad(mib(worst.peakKiB), 10)} idle ${pad(mib(worst.idleKiB), 10)} ratio ${pad(ratio(worst.peakKiB, worst.idleKiB), 6)} goal <=${RSS_GOAL}x ${rssRatio <= RSS_GOAL ? 'PASS' : 'MISS'}  (worst of ${RUNS})`)
    const rawWorst = raws.reduce((a, b) => b.peakKiB / b.idleKiB > a.peakKiB / a.idleKiB ? b : a)
    line(`${pad('  diag: the floor\'s bare receiver', LABEL)} ${pad(mib(rawWorst.peakKiB), 10)} idle ${pad(mib(rawWorst.idleKiB), 10)} ratio ${ratio(rawWorst.peakKiB, rawWorst.idleKiB)}: +${mib(rawWorst.peakKiB - rawWorst.idleKiB)} of garbage from the transport alone (the chat: +${mib(worst.peakKiB - worst.idleKiB)})`)
    await overWebRTC(io, dir)
  } finally {
    await removeTempDir(dir)
  }
}

const WEBRTC_FILE_MIB = positiveInt(process.env.BENCH_WEBRTC_FILE_MIB, 128)
/** BENCH_FILE_WEBRTC=0 leaves the WebRTC rows out (while iterating on the TCP ones) */
const SKIP_WEBRTC = process.env.BENCH_FILE_WEBRTC === '0'

/** The same between two clients over a direct WebRTC connection, against a raw WebRTC stream. */
async function overWebRTC (io: { line(text?: string): void, step(what: string): void }, dir: string): Promise<void> {
  const { line, step } = io
  const label = 'over WebRTC'
  if (SKIP_WEBRTC) {
    line(`${pad(label, LABEL)} skipped (BENCH_FILE_WEBRTC=0)`)
    return
  }
  if (!WEBRTC) {
    line(`${pad(label, LABEL)} skipped: WebRTC needs the bench's network namespace (host candidates on its veth pair)`)
    return
  }
  const bytes = WEBRTC_FILE_MIB * MiB
  line(`   over a direct WebRTC connection (negotiated through the bootstrap node's relay, which then carries nothing): one ${WEBRTC_FILE_MIB} MiB file, ${RUNS} runs each`)
  const boot = await startBootstrap()
  try {
    const relay = boot.addresses().find(a => !a.includes('/ws')) as string
    const raws: number[] = []
    const chats: number[] = []
    for (let r = 0; r < RUNS; r++) {
      step(`files: WebRTC floor, run ${r + 1}`)
      raws.push(bytes / (await floor(bytes, { relay })).ms * 1000)
      step(`files: chat over WebRTC, run ${r + 1}`)
      chats.push(bytes / (await chat(bytes, join(dir, `webrtc-${r}`), relay)).ms * 1000)
      await removeTempDir(join(dir, `webrtc-${r}`)).catch(() => {})
    }
    const all = (xs: number[]): string => xs.map(x => mib(x / 1024)).join(', ')
    const floorRate = median(raws)
    const rate = median(chats)
    line(`${pad('floor: raw @libp2p/webrtc stream', LABEL)} ${pad(mib(floorRate / 1024), 10)}/s (runs: ${all(raws)}/s; 1 MiB frames to a bare node)`)
    line(`${pad('createChat over WebRTC: offer to done', LABEL)} ${pad(mib(rate / 1024), 10)}/s ratio ${pad(ratio(rate, floorRate), 6)} goal >=${THROUGHPUT_GOAL}x ${rate / floorRate >= THROUGHPUT_GOAL ? 'PASS' : 'MISS'}  (runs: ${all(chats)}/s)`)
  } finally {
    await boot.stop()
  }
}
