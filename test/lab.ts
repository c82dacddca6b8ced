/**
 * The NAT lab (test/natlab, the project's copy of ../shared/tools/natlab) for the test suite: whether it
 * can run here, waiting for another one to go away, and building and tearing it down. Used by the NAT
 * specs (nat.spec.ts: terminal clients; nat-calls.spec.ts: browsers and calls); mocha runs spec files one
 * after the other, and each test builds its own lab and tears it down after, so only one lab is up at a time.
 *
 *   pub   : "the internet", 203.0.113.0/24, the bootstrap node on 203.0.113.1
 *   nat1  : alice's home router, wan 203.0.113.11        alice : 10.1.0.2
 *   nat2  : bob's home router, wan 203.0.113.12          bob   : 10.2.0.2
 *
 * Needs root, iptables, conntrack and `ip netns` (labMissing() says what is missing). The namespace names
 * are fixed, so only one lab can run on a machine: waitForOtherLab() waits for someone else's to go away,
 * and natlab runs under `flock` on one lock file, so that two test runs that both saw no lab cannot build
 * two at once (the second waits for the lock; the kernel drops it when the holder dies, however it ends).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cleanup, JsonClient, until } from './fixtures.js'
import type { ChildProcess } from 'node:child_process'

const HERE = dirname(fileURLToPath(import.meta.url))
/** dist/test/lab.js -> test/natlab in the source tree */
const NATLAB = join(HERE, '..', '..', 'test', 'natlab')
/** The bootstrap node's command line program, built. */
export const BOOTSTRAP_MAIN = join(HERE, '..', 'bootstrap-node', 'main.js')

export const LAB_NAMESPACES = ['pub', 'nat1', 'nat2', 'alice', 'bob']
export const BOOTSTRAP_IP = '203.0.113.1'
/** alice's and bob's routers' addresses on the lab's internet */
export const ALICE_ROUTER_IP = '203.0.113.11'
export const BOB_ROUTER_IP = '203.0.113.12'
/** The lab's internet, as a range (e.g. for coturn's allowed peers). */
export const LAB_INTERNET = '203.0.113.0-203.0.113.255'
const COUNT_CHAIN = 'megachat-count'
/** Held (flock) by whoever runs a lab. */
const LAB_LOCK = join(tmpdir(), 'megachat-natlab.lock')

/**
 * What natlab runs beside the lab: it holds the lab up until its stdin (a pipe from this process) closes,
 * then ends whatever still runs in the lab's namespaces (only this test's processes: one lab at a time),
 * so that nothing outlives this process, however it ends.
 */
const HOLD = `echo lab-up; cat >/dev/null
pids () { for ns in pub alice bob; do ip netns pids "$ns"; done; }
p=$(pids); [ -z "$p" ] && exit 0
kill $p 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do [ -z "$(pids)" ] && exit 0; sleep 0.5; done
kill -9 $(pids) 2>/dev/null; exit 0`

/** How long a test waits for someone else's lab to go away before failing. */
export const OTHER_LAB_WAIT_MS = 180_000
/** How long the lab may take to come up. */
const LAB_START_MS = 20_000

interface Run { code: number | null, stdout: string, stderr: string }

export async function run (command: string, args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    child.once('error', (err) => { resolve({ code: -1, stdout, stderr: stderr + err.message }) })
    child.once('close', (code) => { resolve({ code, stdout, stderr }) })
  })
}

/** Runs a command in one of the lab's namespaces; its stdout, or it throws with its stderr. */
export async function inLab (ns: string, command: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, ...command])
  if (r.code !== 0) throw new Error(`${ns}: ${command.join(' ')} failed (${r.code}): ${r.stderr.trim()}`)
  return r.stdout
}

/** Why the lab cannot run here, or undefined when it can. */
export async function labMissing (): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the NAT lab needs Linux network namespaces'
  if (process.getuid?.() !== 0) return 'the NAT lab needs root'
  for (const tool of ['ip', 'iptables', 'conntrack', 'flock']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) return `no ${tool} on PATH (apt-get install ${tool === 'ip' ? 'iproute2' : tool === 'flock' ? 'util-linux' : tool})`
  }
  // from inside the test's own namespace (test/netns.sh), named namespaces must still be possible
  const probe = `megachat-probe-${process.pid}`
  const added = await run('ip', ['netns', 'add', probe])
  if (added.code !== 0) return `ip netns add does not work here: ${added.stderr.trim().split('\n')[0]}`
  await run('ip', ['netns', 'del', probe])
  return undefined
}

/**
 * Why another lab seems to be running, or undefined. Lab namespaces with no process in them and no natlab
 * script alive are an interrupted run's leftovers, which natlab removes itself.
 */
async function otherLab (): Promise<string | undefined> {
  const listed = (await run('ip', ['netns', 'list'])).stdout.split('\n').map(l => l.split(' ')[0])
  const present = LAB_NAMESPACES.filter(n => listed.includes(n))
  if (present.length === 0) return undefined
  for (const ns of present) {
    if ((await run('ip', ['netns', 'pids', ns])).stdout.trim() !== '') return `processes run in namespace ${ns}`
  }
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')
    if (args.some(a => basename(a) === 'natlab')) return `natlab runs (pid ${pid})`
  }
  return undefined
}

/** Waits (up to {@link OTHER_LAB_WAIT_MS}) until no other NAT lab runs on this machine, saying so when it must wait. */
export async function waitForOtherLab (): Promise<void> {
  const busy = await otherLab()
  if (busy == null) return
  console.log(`      waiting for another NAT lab to go away (${busy})`)
  await until(async () => await otherLab() == null, OTHER_LAB_WAIT_MS, 'another NAT lab to go away')
}

export interface Counters {
  /** bytes alice sent to / got from bob's router: the direct path */
  toPeer: number
  fromPeer: number
  /** bytes alice sent to / got from the bootstrap node: the relay (and DHT, identify, STUN) */
  toBootstrap: number
  fromBootstrap: number
}

/** The lab, held up by a command that waits for its stdin to close: if this process dies, the lab goes too. */
export class Lab {
  private stderr = ''
  private constructor (private readonly child: ChildProcess, private readonly done: Promise<number | null>) {}

  static async start (symmetric: boolean): Promise<Lab> {
    const env: Record<string, string | undefined> = { ...process.env }
    for (const name of Object.keys(env)) if (name.startsWith('LAB_')) delete env[name]
    if (symmetric) env.LAB_SYMMETRIC = '1'
    const wait = String(Math.ceil(OTHER_LAB_WAIT_MS / 1000))
    // `lab-locked` once the lock is ours; the lab's start is timed from there
    const child = spawn('flock', ['-w', wait, LAB_LOCK, 'sh', '-c', 'echo lab-locked; exec bash "$0" sh -c "$1"', NATLAB, HOLD], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    const done = new Promise<number | null>(resolve => { child.once('close', resolve) })
    const lab = new Lab(child, done)
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { lab.stderr += s })
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      child.stdout?.setEncoding('utf8').on('data', (s: string) => {
        if (s.includes('lab-locked')) timer = setTimeout(() => { reject(new Error(`the lab was not up within ${LAB_START_MS} ms: ${lab.stderr}`)) }, LAB_START_MS)
        if (s.includes('lab-up')) { clearTimeout(timer); resolve() }
      })
      void done.then(code => {
        clearTimeout(timer)
        reject(new Error(code === 1 && lab.stderr.trim() === '' ? `another NAT lab held ${LAB_LOCK} for ${wait} s` : `natlab exited (${code}) before the lab was up: ${lab.stderr.trim()}`))
      })
    })
    await lab.countOnAliceRouter()
    return lab
  }

  /** Counting rules on nat1 (RETURN from a chain of their own: they count and decide nothing). */
  private async countOnAliceRouter (): Promise<void> {
    const ipt = (...args: string[]): Promise<string> => inLab('nat1', ['iptables', ...args])
    await ipt('-N', COUNT_CHAIN)
    await ipt('-A', COUNT_CHAIN, '-i', 'lan', '-d', BOB_ROUTER_IP, '-j', 'RETURN')
    await ipt('-A', COUNT_CHAIN, '-i', 'wan', '-s', BOB_ROUTER_IP, '-j', 'RETURN')
    await ipt('-A', COUNT_CHAIN, '-i', 'lan', '-d', BOOTSTRAP_IP, '-j', 'RETURN')
    await ipt('-A', COUNT_CHAIN, '-i', 'wan', '-s', BOOTSTRAP_IP, '-j', 'RETURN')
    await ipt('-I', 'FORWARD', '1', '-j', COUNT_CHAIN)
  }

  /** Byte counters on alice's router: to and from bob's router, to and from the bootstrap node. */
  async counters (): Promise<Counters> {
    const listing = await inLab('nat1', ['iptables', '-L', COUNT_CHAIN, '-v', '-x', '-n'])
    const bytes = listing.split('\n').slice(2).filter(l => l.trim() !== '').map(l => Number(l.trim().split(/\s+/)[1]))
    assert.equal(bytes.length, 4, `counting rules on nat1:\n${listing}`)
    const [toPeer, fromPeer, toBootstrap, fromBootstrap] = bytes
    return { toPeer, fromPeer, toBootstrap, fromBootstrap }
  }

  /** Ends the holding command; natlab then deletes the namespaces. */
  async stop (): Promise<void> {
    this.child.stdin?.end()
    let killed = false
    // flock, natlab and what natlab runs are one process group (detached), all killed if they hang
    const timer = setTimeout(() => { killed = this.child.pid != null && process.kill(-this.child.pid, 'SIGKILL') }, 20_000)
    await this.done
    clearTimeout(timer)
    // natlab killed could not clean up: remove what it left (else the next natlab would)
    if (killed) for (const ns of LAB_NAMESPACES) await run('ip', ['netns', 'del', ns])
  }
}

/** The share of alice's traffic between two counter readings that went to or came from bob's router. */
export function directShare (before: Counters, after: Counters): { share: number, direct: number, relayed: number } {
  const direct = after.toPeer - before.toPeer + after.fromPeer - before.fromPeer
  const relayed = after.toBootstrap - before.toBootstrap + after.fromBootstrap - before.fromBootstrap
  return { share: direct / Math.max(1, direct + relayed), direct, relayed }
}

export interface LabTests {
  /** run after each test */
  readonly cleanup: Cleanup
  /**
   * Starts a program that prints JSON lines (the terminal client, or `script`, e.g. the bootstrap node's
   * main.js) in namespace `ns`; stopped after the test, its stderr (debug log) kept for the logs.
   */
  start(name: string, ns: string, args: string[], env?: Record<string, string | undefined>, script?: string): JsonClient
  /** Waits for another lab to go away, builds this test's lab (torn down after the test), then gives the test `ms`. */
  lab(test: Mocha.Context, symmetric: boolean, ms: number): Promise<Lab>
}

/**
 * For the describe() of lab tests it is called in: after each test, everything in `cleanup` is stopped
 * (the lab last), and when the test failed (or with MEGACHAT_NAT_DEBUG) the processes' stderr and any
 * `moreLogs` are written to `output`/<first word of the test's title>-<name>.log.
 */
export function eachLabTest (output: string, moreLogs: () => Record<string, string> = () => ({})): LabTests {
  const cleanup = new Cleanup()
  const processes: Array<{ name: string, process: JsonClient }> = []
  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed'
    const test = this.currentTest?.title.split(' ')[0] ?? 'test'
    await cleanup.run()
    if (failed || process.env.MEGACHAT_NAT_DEBUG != null) {
      await mkdir(output, { recursive: true })
      for (const { name, process } of processes) await writeFile(join(output, `${test}-${name}.log`), process.stderr)
      for (const [name, text] of Object.entries(moreLogs())) await writeFile(join(output, `${test}-${name}.log`), text)
      console.log(`      the lab's debug logs are in ${output}/${test}-*.log (MEGACHAT_NAT_DEBUG=<DEBUG spec> for others)`)
    }
    processes.length = 0
  })
  return {
    cleanup,
    start (name, ns, args, env = {}, script) {
      const p = cleanup.add(new JsonClient(args, env, { wrap: ['ip', 'netns', 'exec', ns], script }))
      processes.push({ name, process: p })
      return p
    },
    async lab (test, symmetric, ms) {
      test.timeout(OTHER_LAB_WAIT_MS + ms)
      await waitForOtherLab()
      const lab = cleanup.add(await Lab.start(symmetric))
      test.timeout(ms)
      return lab
    }
  }
}
