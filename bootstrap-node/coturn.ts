/**
 * coturn beside the bootstrap node (`--turn`): started, watched and stopped with it.
 *
 * Behind a symmetric NAT no direct media path exists and a TURN server must relay the call. That is
 * coturn's job (Debian's `coturn`, `/usr/bin/turnserver`), not ours: this module only runs it in TURN
 * REST mode (`use-auth-secret`), with a shared secret made at random for each run of the node and held
 * in memory. Nothing is stored: credentials handed out before a restart stop working with it, and
 * clients ask again when they reconnect (the restart dropped their connection anyway). coturn reads
 * the secret from a config file of mode 0600 in a private temporary directory (0700), never from its
 * command line, which any local user could read in `ps`; the directory goes when coturn is stopped.
 *
 * Supervision: coturn counts as up once it answers a STUN Binding request on its port. If it exits
 * (or never comes up), it is started again after 1 s, then 2, 4 … up to a minute; a run of a minute or
 * more resets that. Each exit is an 'exit' event with one line of why (coturn's last complaint).
 * stop() ends it (SIGTERM, then SIGKILL), and it is killed when the node's process exits.
 *
 * Peers: by default coturn relays to public addresses only: loopback, RFC 1918, CGNAT, link-local and
 * other special ranges are denied, so that a TURN allocation cannot reach the server's own network.
 * `allowedPeers` lets it relay to the addresses and ranges given, and to nothing else that is denied: a lab
 * whose "internet" is documentation space (203.0.113.0/24) names that range. `allowPrivatePeers` lifts
 * the whole list, and allows loopback, for tests on one machine.
 *
 * @example
 * ```ts
 * const turn = await startCoturn({ port: 3479, host: '0.0.0.0', realm: 'megachat', minPort: 49152, maxPort: 49407 })
 * turn.addEventListener('exit', (evt) => { console.error(evt.detail.reason) })
 * await turn.stop()
 * ```
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { constants } from 'node:fs'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import { stun } from './stun.js'
import type { ChildProcess } from 'node:child_process'

const log = logger('megachat:bootstrap:turn')

/** What to tell an operator whose machine has no coturn. */
export const COTURN_MISSING = '--turn needs coturn: apt-get install coturn'

/** coturn must answer STUN within this time after it was started (ms). */
const READY_TIMEOUT_MS = 15_000
const PROBE_INTERVAL_MS = 100
const RESTART_MIN_MS = 1000
const RESTART_MAX_MS = 60_000
/** A run this long (ms) resets the restart delay. */
const STABLE_MS = 60_000
const STOP_TIMEOUT_MS = 5000
/** Lines of coturn's output kept to say why it stopped. */
const KEPT_LINES = 20

/** Addresses a TURN server on the internet must not relay to (coturn's denied-peer-ip ranges). */
const PRIVATE_PEERS = [
  '0.0.0.0-0.255.255.255', '10.0.0.0-10.255.255.255', '100.64.0.0-100.127.255.255', '127.0.0.0-127.255.255.255',
  '169.254.0.0-169.254.255.255', '172.16.0.0-172.31.255.255', '192.0.0.0-192.0.0.255', '192.0.2.0-192.0.2.255',
  '192.168.0.0-192.168.255.255', '198.18.0.0-198.19.255.255', '198.51.100.0-198.51.100.255', '203.0.113.0-203.0.113.255',
  '240.0.0.0-255.255.255.255', '::1', '64:ff9b::-64:ff9b::ffff:ffff', '::ffff:0.0.0.0-::ffff:255.255.255.255',
  'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'
]

export interface CoturnOptions {
  /** UDP and TCP port coturn listens on */
  port: number
  /** address it listens on (and relays from); '0.0.0.0' for all */
  host: string
  realm: string
  /** the public address, when the machine sits behind a 1:1 NAT (a cloud VM): coturn's external-ip */
  externalIp?: string
  /** the UDP ports relayed media uses: one per allocation */
  minPort: number
  maxPort: number
  /** relay to loopback and private addresses too: for tests and labs only */
  allowPrivatePeers?: boolean
  /**
   * addresses (`203.0.113.7`) and ranges (`203.0.113.0-203.0.113.255`) coturn may relay to although they
   * are in a denied range (coturn's allowed-peer-ip); the rest of the list still holds
   */
  allowedPeers?: string[]
  /** the coturn binary; default `turnserver` on the PATH */
  binary?: string
  /** at most this many allocations per username at once (coturn's user-quota); default 12 */
  userQuota?: number
  /** how long coturn has to answer STUN after a start (ms); default 15 s */
  readyTimeout?: number
}

export interface CoturnExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** one line: why it stopped, as far as its output says */
  reason: string
  /** ms until it is started again */
  restartIn: number
}

export interface CoturnEvents {
  /** coturn answers on its port (its process id) */
  ready: CustomEvent<{ pid: number }>
  /** coturn stopped unasked, or never came up; it is started again after `restartIn` */
  exit: CustomEvent<CoturnExit>
}

export interface Coturn extends TypedEventEmitter<CoturnEvents> {
  /** the shared secret of the TURN REST credentials; never to be logged */
  readonly secret: string
  /** coturn's process id while it runs */
  readonly pid: number | undefined
  /** whether it answers on its port now */
  readonly ready: boolean
  /** how often it was started again after an exit */
  readonly restarts: number
  /** the last time it stopped unasked */
  readonly lastExit: CoturnExit | undefined
  stop(): Promise<void>
}

/** The coturn binary: `binary` if it is executable, else `turnserver` on the PATH; undefined when there is none. */
export async function findCoturn (binary?: string): Promise<string | undefined> {
  const candidates = binary?.includes('/') === true
    ? [binary]
    : (process.env.PATH ?? '').split(delimiter).filter(d => d !== '').map(d => join(d, binary ?? 'turnserver'))
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

/**
 * Starts coturn and keeps it running; resolves once it answers on its port or its first start failed
 * (then it is being started again: see the 'exit' event). Rejects only when there is no coturn, with
 * {@link COTURN_MISSING}.
 */
export async function startCoturn (options: CoturnOptions): Promise<Coturn> {
  const binary = await findCoturn(options.binary)
  if (binary == null) throw new CoturnMissingError(COTURN_MISSING)
  const dir = await mkdtemp(join(tmpdir(), 'megachat-coturn-'))
  const secret = randomBytes(32).toString('base64url')
  const config = join(dir, 'turnserver.conf')
  await writeFile(config, coturnConfig(options, secret, dir), { mode: 0o600 })
  const supervisor = new Supervisor(binary, config, dir, secret, probeAddress(options.host), options.port, options.readyTimeout ?? READY_TIMEOUT_MS)
  await supervisor.firstStart()
  return supervisor
}

export class CoturnMissingError extends Error {
  static override name = 'CoturnMissingError'
  override name = 'CoturnMissingError'
}

/** coturn's configuration file (it holds the secret). */
function coturnConfig (options: CoturnOptions, secret: string, dir: string): string {
  const wildcard = options.host === '0.0.0.0' || options.host === '::'
  const lines = [
    `listening-port=${options.port}`,
    ...(wildcard ? [] : [`listening-ip=${options.host}`, `relay-ip=${options.host}`]),
    ...(options.externalIp != null ? [`external-ip=${options.externalIp}`] : []),
    `min-port=${options.minPort}`,
    `max-port=${options.maxPort}`,
    `realm=${options.realm}`,
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    `user-quota=${options.userQuota ?? 12}`,
    'fingerprint',
    'no-cli',
    'no-tls',
    'no-dtls',
    'no-software-attribute',
    'no-rfc5780',
    'no-stun-backward-compatibility',
    'no-multicast-peers',
    'stale-nonce=600',
    'log-file=stdout',
    'simple-log',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `userdb=${join(dir, 'turndb')}`,
    ...(options.allowPrivatePeers === true ? ['allow-loopback-peers'] : PRIVATE_PEERS.map(r => `denied-peer-ip=${r}`)),
    ...(options.allowedPeers ?? []).map(r => `allowed-peer-ip=${r}`)
  ]
  return lines.join('\n') + '\n'
}

/**
 * Whether `range` is an IP address or a range of two of one family, first to last, as coturn's
 * allowed-peer-ip takes it (`203.0.113.0-203.0.113.255`).
 */
export function isPeerRange (range: string): boolean {
  const ends = range.split('-')
  if (ends.length > 2 || ends.some(e => isIP(e) === 0)) return false
  return ends.length === 1 || isIP(ends[0]) === isIP(ends[1])
}

/** Where to send the readiness probe: the listening address, or loopback for a wildcard. */
function probeAddress (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

class Supervisor extends TypedEventEmitter<CoturnEvents> implements Coturn {
  readonly secret: string
  restarts = 0
  ready = false
  lastExit: CoturnExit | undefined = undefined
  private child?: ChildProcess
  private stopping = false
  private stopped?: Promise<void>
  private timer?: ReturnType<typeof setTimeout>
  private delay = RESTART_MIN_MS
  private readonly onProcessExit = (): void => { this.child?.kill('SIGKILL') }

  constructor (private readonly binary: string, private readonly config: string, private readonly dir: string, secret: string,
    private readonly probeHost: string, private readonly port: number, private readonly readyTimeout: number) {
    super()
    this.secret = secret
    process.once('exit', this.onProcessExit)
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  /** The first run: resolves when it is up, or has failed once (and is being started again). */
  async firstStart (): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        this.removeEventListener('ready', done)
        this.removeEventListener('exit', done)
        resolve()
      }
      this.addEventListener('ready', done)
      this.addEventListener('exit', done)
      this.run()
    })
  }

  private run (): void {
    if (this.stopping) return
    const child = spawn(this.binary, ['-c', this.config], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    const output: string[] = []
    const keep = (chunk: string): void => {
      for (const line of chunk.split('\n').map(l => l.trim()).filter(l => l !== '')) {
        log.trace('coturn: %s', line)
        output.push(line)
        if (output.length > KEPT_LINES) output.shift()
      }
    }
    child.stdout?.setEncoding('utf8').on('data', keep)
    child.stderr?.setEncoding('utf8').on('data', keep)
    const started = Date.now()
    const probing = new AbortController()
    let failure: string | undefined
    child.once('error', (err) => { failure = `cannot run ${this.binary}: ${err.message}` })
    void this.probe(probing.signal).then((up) => {
      if (!up || this.child !== child) return
      this.ready = true
      log('coturn %d answers on port %d', child.pid, this.port)
      this.safeDispatchEvent('ready', { detail: { pid: child.pid ?? 0 } })
    }, () => {
      if (probing.signal.aborted || this.child !== child) return
      failure = `coturn did not answer on port ${this.port} within ${this.readyTimeout / 1000} s`
      child.kill('SIGKILL')
    })
    child.once('close', (code, signal) => {
      probing.abort()
      this.ready = false
      if (this.child === child) this.child = undefined
      if (this.stopping) return
      if (Date.now() - started >= STABLE_MS) this.delay = RESTART_MIN_MS
      const restartIn = this.delay
      this.delay = Math.min(this.delay * 2, RESTART_MAX_MS)
      const reason = failure ?? whyStopped(output, code, signal)
      log.error('coturn stopped: %s; starting it again in %d s', reason, restartIn / 1000)
      this.lastExit = { code, signal, reason, restartIn }
      this.safeDispatchEvent('exit', { detail: this.lastExit })
      this.timer = setTimeout(() => {
        this.restarts++
        this.run()
      }, restartIn)
    })
  }

  /** Sends STUN Binding requests until one is answered (true), or the time is up (throws), or aborted (false). */
  private async probe (signal: AbortSignal): Promise<boolean> {
    const socket = createSocket(isIP(this.probeHost) === 6 ? 'udp6' : 'udp4')
    const request = stun.createMessage(stun.constants.STUN_BINDING_REQUEST)
    try {
      return await new Promise<boolean>((resolve, reject) => {
        // every way out stops both timers: the socket is closed after, and a send on it would throw
        const finish = (up: boolean | Error): void => {
          clearTimeout(deadline)
          clearInterval(interval)
          if (up instanceof Error) reject(up)
          else resolve(up)
        }
        const deadline = setTimeout(() => { finish(new Error('no answer')) }, this.readyTimeout)
        const send = (): void => { socket.send(request.toBuffer(), this.port, this.probeHost, () => {}) }
        const interval = setInterval(send, PROBE_INTERVAL_MS)
        signal.addEventListener('abort', () => { finish(false) }, { once: true })
        socket.on('error', () => {}) // ICMP unreachable while coturn is not listening yet
        socket.on('message', (msg) => {
          try {
            if (stun.decode(msg).transactionId.equals(request.transactionId)) finish(true)
          } catch {}
        })
        send()
      })
    } finally {
      socket.close()
    }
  }

  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true
      clearTimeout(this.timer)
      process.removeListener('exit', this.onProcessExit)
      const child = this.child
      if (child != null && child.exitCode == null && child.signalCode == null) {
        const closed = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
        child.kill('SIGTERM')
        const timer = setTimeout(() => { child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
        await closed
        clearTimeout(timer)
      }
      this.ready = false
      await rm(this.dir, { recursive: true, force: true })
    })()
    return await this.stopped
  }
}

/** One line on why coturn stopped: its last complaint, else its exit status. */
function whyStopped (output: string[], code: number | null, signal: NodeJS.Signals | null): string {
  const status = signal != null ? `killed by ${signal}` : `exit code ${code}`
  // coturn prefixes its lines with a time stamp ("0: : ", "12: (1234): ERROR: ")
  const complaint = [...output].reverse().find(l => /error|cannot|can't|fail|denied|in use/i.test(l))?.replace(/^\d+: [^:]*: /, '')
  return complaint != null ? `${status}: ${complaint.slice(0, 200)}` : status
}
