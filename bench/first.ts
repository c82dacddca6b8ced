/**
 * First contact (section 7 of `npm run bench`): a fresh terminal client (a process of its own, new
 * identity and store, as a new user's) adds a contact who has been online for a while and writes at
 * once; the one bootstrap node between them has seen earlier clients come and go. Timed from the /add
 * command until the `delivered` line, which is the contact's ack of the stored message.
 *
 * Floor, in the same run and taking turns with the clients: a fresh bare libp2p process
 * (bench/bare-node.js --ping) that already knows the contact's address dials it and pings once, timed
 * from the command to its answer: what reaching a known address costs, without any lookup.
 */
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startBootstrap } from '../test/fixtures.js'
import { churn, firstContact, knownTo, memoryChat } from '../test/first-contact.js'
import { spawnUntilReady, stopChild } from './children.js'
import { ms, pad, positiveInt, ratio, summarize } from './stats.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Chat } from '../src/index.js'
import type { FirstContact } from '../test/first-contact.js'
import type { Summary } from './stats.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BARE_LIBP2P = fileURLToPath(new URL('./bare-node.js', import.meta.url))

/** fresh clients, each adding the contact and sending one DM */
const RUNS = positiveInt(process.env.BENCH_FIRST_RUNS, 100)
/** floor runs, one after every few clients */
const FLOORS = Math.max(5, Math.ceil(RUNS / 5))
/** earlier clients the bootstrap node sees come and go */
const CHURN = 20
/** how long the contact is online before the first fresh client */
const ONLINE_MS = 10_000
/** processes running at once (2 cores; the floor runs take the same turns) */
const AT_ONCE = 2
/** the clients' lookup timeout per attempt, and how long a client waits for its delivery */
const FIND_MS = 15_000
const DELIVER_MS = 30_000
const GOAL_P50_MS = 1000
const LABEL = 40

interface Reporter {
  line(text?: string): void
  step(what: string): void
}

export async function benchFirst ({ line, step }: Reporter): Promise<void> {
  line(`7. First contact: ${RUNS} fresh terminal clients (own process, new identity) each add a contact online for ${ONLINE_MS / 1000}+ s and write at once, ${AT_ONCE} at a time; one bootstrap node that saw ${CHURN} clients come and go (a third abruptly)`)
  let boot: BootstrapNode | undefined
  let contact: Chat | undefined
  try {
    step('first: starting the bootstrap node and the contact')
    boot = await startBootstrap()
    contact = await memoryChat(boot)
    // each client is a stranger to the contact, who accepts its message request once it is there, as a
    // person would (more than MAX_REQUESTS open requests would hold back the next clients' messages)
    const accepting = contact
    accepting.addEventListener('message', (evt) => {
      if (evt.detail.request === true) accepting.addContact(evt.detail.peer).catch(() => {})
    })
    const online = performance.now()
    step('first: clients coming and going')
    await churn(boot, CHURN)
    await knownTo(boot, contact.peerId)
    // the scenario: a contact who has been online for a while (nothing to wait on, the time is the point)
    await new Promise(resolve => setTimeout(resolve, Math.max(0, ONLINE_MS - (performance.now() - online))))

    const bootstrap = boot.addresses()[0]
    const contactAddr = contact.addresses().find(a => a.startsWith('/ip4/127.0.0.1/tcp/'))
    if (contactAddr == null) throw new Error(`the contact has no loopback TCP address: ${contact.addresses().join(' ')}`)
    const peer = contact.peerId
    // every few clients a floor run, so that both see the same load
    const jobs: Array<() => Promise<void>> = []
    const clients: FirstContact[] = []
    const floors: number[] = []
    const every = Math.max(1, Math.floor(RUNS / FLOORS))
    let floorJobs = 0
    for (let i = 0; i < RUNS; i++) {
      jobs.push(async () => { clients.push(await firstContact(bootstrap, peer, { findTimeout: FIND_MS, waitMs: DELIVER_MS })) })
      if ((i + 1) % every === 0 && floorJobs < FLOORS) {
        floorJobs++
        jobs.push(async () => { floors.push(await pingFromFreshNode(contactAddr)) })
      }
    }
    const total = jobs.length
    let done = 0
    const next = async (): Promise<void> => {
      for (let job = jobs.shift(); job != null; job = jobs.shift()) {
        step(`first: run ${++done} of ${total}`)
        await job()
      }
    }
    await Promise.all(Array.from({ length: AT_ONCE }, next))

    const delivered = clients.filter(c => c.deliveredMs != null)
    const firstAttempt = delivered.filter(c => c.unreachable == null)
    const times = summarize(delivered.map(c => c.deliveredMs ?? Number.NaN))
    const floor = summarize(floors)
    line(row('floor: bare node pings the known address', floor))
    line(`${row('first contact (add + send to delivered)', times)} floor p50 ${pad(ms(floor.p50), 9)} ratio ${pad(ratio(times.p50, floor.p50), 7)} goal p50 <=${GOAL_P50_MS / 1000} s ${times.p50 <= GOAL_P50_MS ? 'PASS' : 'MISS'}`)
    line(`${pad('  delivered', LABEL)} ${delivered.length} of ${clients.length} (${firstAttempt.length} on the first attempt, within ${DELIVER_MS / 1000} s) goal ${RUNS} of ${RUNS} ${delivered.length === RUNS && clients.length === RUNS ? 'PASS' : 'MISS'}`)
    const failures = clients.filter(c => c.unreachable != null)
    if (failures.length > 0) line(`${pad('  first attempts that failed', LABEL)} ${failures.length}: ${failures[0].unreachable ?? ''}`)
    line(row('  diag: client spawn to ready', summarize(clients.map(c => c.readyMs))))
  } finally {
    step('first: stopping')
    await contact?.stop().catch(() => {})
    await boot?.stop().catch(() => {})
  }
}

function row (label: string, s: Summary): string {
  return `${pad(label, LABEL)} p50 ${pad(ms(s.p50), 9)} p90 ${pad(ms(s.p90), 9)} slowest ${pad(ms(s.max), 9)}`
}

/** A fresh bare libp2p process dials `addr` and pings it once; resolves with the time from the command to the answer. */
async function pingFromFreshNode (addr: string): Promise<number> {
  const { child } = await spawnUntilReady([BARE_LIBP2P, '--ping'], ROOT)
  const lines = createInterface({ input: child.stdout! })
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      timer = setTimeout(() => { reject(new Error('bare node: no answer within 15 s')) }, 15_000)
      lines.on('line', (text) => {
        let parsed: any
        try { parsed = JSON.parse(text) } catch { return }
        if (parsed?.type === 'pong') resolve(parsed)
        else if (parsed?.type === 'error') reject(new Error(`bare node: ${String(parsed.message)}`))
      })
    })
    const t0 = performance.now()
    child.stdin!.write(`ping ${addr}\n`)
    await answer
    return performance.now() - t0
  } finally {
    clearTimeout(timer)
    lines.close()
    await stopChild(child)
  }
}
