/**
 * Shared test fixtures: the real bootstrap node, chat nodes on loopback, temporary data directories,
 * and waiting on events with a timeout (never a fixed sleep).
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { createChat } from '../src/index.js'
import { roomGossipsubInit } from '../src/node/services.js'
import { routingTableOf } from '../src/node/adapters/kad-dht.js'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { RoutingTableView } from '../src/node/adapters/kad-dht.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Chat, ChatInit, IceCandidate, MediaEvents, MediaFactory } from '../src/index.js'
import type { ChildProcess } from 'node:child_process'
import type { AddressInfo } from 'node:net'

/** WebRTC needs the test network namespace (it skips loopback); test/netns.sh says when there is none. */
export const WEBRTC = process.env.MEGACHAT_IN_NETNS === '1' && process.env.MEGACHAT_NO_WEBRTC == null

export async function startBootstrap (): Promise<BootstrapNode> {
  return await createBootstrapNode({
    listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
    stunPort: 0,
    stunHost: '127.0.0.1'
  })
}

export async function startChat (init: ChatInit & { bootstrapNode?: BootstrapNode } = {}): Promise<Chat> {
  const { bootstrapNode, ...rest } = init
  return await createChat({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    webrtc: WEBRTC,
    retryInterval: 1000,
    findTimeout: 5000,
    scryptN: 2 ** 10,
    ...(bootstrapNode != null ? { bootstrap: bootstrapNode.addresses() } : {}),
    ...rest
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago (to start something there later). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as AddressInfo).port
  await new Promise(resolve => { server.close(resolve) })
  return port
}

/** Resolves with the first event of `name` whose detail passes `test`; rejects after `ms`. */
export async function waitFor<T = any> (target: EventTarget, name: string, test: (detail: T) => boolean = () => true, ms = 20_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(name, listener)
      reject(new Error(`timed out after ${ms} ms waiting for "${name}"`))
    }, ms)
    const listener = (evt: Event): void => {
      const detail = (evt as CustomEvent<T>).detail
      if (!test(detail)) return
      clearTimeout(timer)
      target.removeEventListener(name, listener)
      resolve(detail)
    }
    target.addEventListener(name, listener)
  })
}

/** Polls a condition until it holds (for state without an event); rejects after `ms`. */
export async function until (condition: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/**
 * A plain libp2p node with MegaChat's gossipsub settings but no MegaChat code and no topic filter: an
 * outsider who learnt a room's topic, a peer replaying what it saw, or the benchmark's raw floor.
 */
export async function startPlainGossipNode (): Promise<Libp2p<{ identify: Identify, pubsub: GossipSub }>> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub(roomGossipsubInit())
    }
  })
}

export interface FakeLog {
  /** what each side's media was given, in order */
  events: string[]
  closed: number
  /** the events of each media session made, to report through as real media would (camera off...) */
  sessions?: MediaEvents[]
}

/**
 * Media that "connects" once it has the remote description and a remote candidate, like ICE would.
 * It finds its one local candidate while making the offer or answer, before that call returns, as a
 * real RTCPeerConnection may: the calls layer must hold it until the description went out.
 */
export function fakeMedia (log: FakeLog = { events: [], closed: 0 }): MediaFactory {
  return async (call, events, options) => {
    let remote = false
    let candidate = false
    let closed = false
    const connect = (): void => {
      if (remote && candidate && !closed) setTimeout(() => { events.connected() }, 0)
    }
    const local: IceCandidate = { candidate: `candidate:1 1 udp 2122260223 10.77.0.1 ${call.direction === 'out' ? 5000 : 6000} typ host`, sdpMid: '0', sdpMLineIndex: 0 }
    log.events.push(`media video=${String(options.video)}`)
    log.sessions?.push(events)
    return {
      async offer () {
        events.candidate(local)
        events.candidate(null)
        return `v=0 offer of ${call.id}`
      },
      async answer (offer) {
        log.events.push(`offer ${offer}`)
        remote = true
        events.candidate(local)
        connect()
        return `v=0 answer to ${call.id}`
      },
      async setAnswer (answer) {
        log.events.push(`answer ${answer}`)
        remote = true
        connect()
      },
      async addCandidate (c) {
        log.events.push(c == null ? 'end of candidates' : `candidate ${c.candidate}`)
        if (!remote) throw new Error('a candidate before the remote description')
        if (c != null) candidate = true
        connect()
      },
      close () {
        closed = true
        log.closed++
      }
    }
  }
}

/** A temporary directory, removed by the returned cleanup list's owner. */
export async function tempDir (prefix = 'megachat-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

/** Collects things to stop after each test, in reverse order. */
export class Cleanup {
  private readonly tasks: Array<() => Promise<unknown>> = []
  add<T extends { stop(): unknown }> (thing: T): T {
    this.tasks.push(async () => await thing.stop())
    return thing
  }

  dir (path: string): string {
    this.tasks.push(async () => { await rm(path, { recursive: true, force: true }) })
    return path
  }

  async run (): Promise<void> {
    while (this.tasks.length > 0) await this.tasks.pop()?.().catch(() => {})
  }
}

/** The terminal client as `npm start` and the `megachat` command run it: the one-file build, dist/cli/megachat.mjs. */
const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'megachat.mjs')
const CLI_WAIT_MS = 20_000

export type Line = Record<string, any>
export interface Exit { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

export interface JsonClientOptions {
  /** a command the node process runs under, e.g. `['ip', 'netns', 'exec', 'alice']` */
  wrap?: string[]
  /** the script to run instead of the terminal client (another program that prints JSON lines) */
  script?: string
  /**
   * A look at each stdout line before it is parsed (the bench's bursts): a line it returns true for is
   * taken by it, neither parsed nor kept (nor in `stdout`), so that tens of thousands of lines do not
   * cost the test's process more than the client's.
   */
  skim?: (text: string) => boolean
}

/** A running `megachat --json` process: its stdout parsed line by line, and a way to wait for a line. */
export class JsonClient {
  readonly lines: Line[] = []
  /** stdout lines that were not one JSON object */
  readonly notJson: string[] = []
  readonly exited: Promise<Exit>
  stdout = ''
  stderr = ''
  private readonly child: ChildProcess
  private readonly waiters = new Set<() => void>()
  private readonly skim?: (text: string) => boolean
  private exit?: Exit

  constructor (args: string[], env: Record<string, string | undefined> = {}, options: JsonClientOptions = {}) {
    const childEnv: Record<string, string | undefined> = { ...process.env }
    for (const name of ['MEGACHAT_PASSPHRASE', 'MEGACHAT_HOME', 'DEBUG', 'NO_COLOR']) delete childEnv[name]
    const [command, ...argv] = [...(options.wrap ?? []), process.execPath, options.script ?? CLI_MAIN, ...args]
    this.child = spawn(command, argv, {
      env: { ...childEnv, MEGACHAT_RETRY_MS: '500', MEGACHAT_FIND_TIMEOUT_MS: '5000', ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let pending = ''
    this.skim = options.skim
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.skim == null) this.stdout += chunk
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const text = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        this.onLine(text)
      }
    })
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk })
    this.child.stdin?.on('error', () => {}) // writing to a process that already left
    this.exited = new Promise<Exit>(resolve => {
      // 'close' comes after the pipes drained, so stdout and stderr are complete
      this.child.once('close', (code, signal) => {
        if (pending.length > 0) this.onLine(pending)
        this.exit = { code, signal, stdout: this.stdout, stderr: this.stderr }
        this.notify()
        resolve(this.exit)
      })
    })
  }

  private onLine (text: string): void {
    if (this.skim != null) {
      if (this.skim(text)) return
      this.stdout += text + '\n'
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {}
    if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) this.notJson.push(text)
    else this.lines.push(parsed as Line)
    this.notify()
  }

  private notify (): void {
    for (const w of [...this.waiters]) w()
  }

  /** The client's process id (the bench reads its CPU time). */
  get pid (): number | undefined {
    return this.child.pid
  }

  /** Where the next line will land: pass it to `next` to look only at lines after this point. */
  mark (): number {
    return this.lines.length
  }

  /** Closes stdin, as a script that has run out of commands does. */
  endInput (): void {
    this.child.stdin?.end()
  }

  /** Writes one line to stdin; returns the mark before it. */
  send (line: string): number {
    const mark = this.mark()
    this.child.stdin?.write(line + '\n')
    return mark
  }

  /** The first line at or after `from` that passes `test`; rejects on a timeout, a non-JSON line or an exit. */
  async next (test: (line: Line) => boolean, from = 0, ms = CLI_WAIT_MS, what = 'a matching line'): Promise<Line> {
    return await new Promise<Line>((resolve, reject) => {
      const check = (): void => {
        if (this.notJson.length > 0) return done(new Error(`stdout line is not JSON: ${this.notJson[0]}`))
        const found = this.lines.slice(from).find(test)
        if (found != null) return done(undefined, found)
        if (this.exit != null) return done(new Error(`exited (${this.exit.code}) before ${what}; stderr: ${this.exit.stderr}`))
      }
      const timer = setTimeout(() => { done(new Error(`no ${what} within ${ms} ms; stdout so far:\n${this.stdout}`)) }, ms)
      const done = (err?: Error, line?: Line): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
        if (err != null) reject(err)
        else resolve(line as Line)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** Sends a command and waits for its answer (the first line after it of one of `types`). */
  async command (line: string, types: string | string[]): Promise<Line> {
    const wanted = Array.isArray(types) ? types : [types]
    const from = this.send(line)
    return await this.next(l => wanted.includes(l.type), from, CLI_WAIT_MS, `answer (${wanted.join('|')}) to ${line.slice(0, 40)}`)
  }

  kill (signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exit == null) this.child.kill(signal)
  }

  /** Stops the process: SIGTERM, and SIGKILL if it is still there after a while. */
  async stop (): Promise<void> {
    if (this.exit != null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 10_000)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * For each test of the suite it is called in: a bootstrap node started before it, and everything added
 * to `cleanup` (the node too) stopped after it.
 */
export function eachTestWithBootstrap (): { readonly cleanup: Cleanup, readonly boot: BootstrapNode } {
  const cleanup = new Cleanup()
  let boot: BootstrapNode | undefined
  beforeEach(async () => { boot = cleanup.add(await startBootstrap()) })
  afterEach(async () => { await cleanup.run() })
  return {
    cleanup,
    get boot () {
      if (boot == null) throw new Error('no bootstrap node outside a test')
      return boot
    }
  }
}

/** A kad-dht's routing table (size, 'peer:add'), through the adapter that test/adapters.spec.ts pins. */
export function routingTable (dht: object): RoutingTableView {
  const table = routingTableOf(dht)
  if (table == null) throw new Error('not a kad-dht: no routing table')
  return table
}
