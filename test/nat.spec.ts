/**
 * NAT traversal end to end, in the NAT lab (test/natlab, the project's copy of ../shared/tools/natlab): the
 * real bootstrap node (with its STUN responder) on the lab's internet at 203.0.113.1, and two terminal
 * clients in `--json` mode with the default settings a user gets: alice behind one home router (MASQUERADE,
 * no unsolicited inbound), bob behind another. Once with cone NATs, once with symmetric ones (LAB_SYMMETRIC=1).
 *
 * Each test builds its own lab and tears it down after, even when it fails. It prints what it measured:
 * the first DM's latency (its goal is checked by the benchmarks, not asserted here) and, from byte counters
 * on alice's router, the share of DM bytes that went straight to bob's router rather than through the
 * bootstrap node's relay.
 *
 * Needs root, iptables, conntrack and `ip netns`; elsewhere it is skipped with one line saying why. The lab's
 * namespace names are fixed, so only one lab can run on a machine: a test waits for another one to go away
 * (lab.ts, shared with nat-calls.spec.ts).
 */
import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { JsonClient, tempDir, until } from './fixtures.js'
import { BOOTSTRAP_IP, BOOTSTRAP_MAIN, directShare, eachLabTest, labMissing } from './lab.js'
import type { Line } from './fixtures.js'

/** Each process's stderr (its debug log) goes here when a test fails, and always with MEGACHAT_NAT_DEBUG. */
const OUTPUT = resolve('test-output/nat')
/** The lab's processes' DEBUG spec: how a contact was looked up and dialled; MEGACHAT_NAT_DEBUG replaces it. */
const DEBUG = process.env.MEGACHAT_NAT_DEBUG ?? 'megachat*,libp2p:connection-manager:dial-queue*,libp2p:kad-dht:peer-routing*,libp2p:kad-dht:query-self*,libp2p:kad-dht:routing-table*'

/** One scenario, once its lab is up (the first DM's wait included). */
const SCENARIO_MS = 75_000
/** Generous: this is about delivery; the latency goal (<= 1.5 s cone, <= 3 s symmetric) is the benchmark's. */
const FIRST_DM_MS = 30_000
const START_MS = 20_000
const BURST = 200
const BURST_MS = 30_000
/** How long the pair may take to move onto a direct connection after the burst (cone NATs). */
const DIRECT_MS = 20_000
/** The part of a window's DM bytes that must go router to router for the pair to count as direct. */
const DIRECT_SHARE = 0.9
/** About 1 kB per message, as in the measurements. */
const PAD = 'x'.repeat(1000)

const texts = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i} ${PAD}`)

/** Sends each text with `/msg`, all at once, and waits until every one is acknowledged (delivered). */
async function sendAll (from: JsonClient, to: string, list: string[], ms: number): Promise<void> {
  const mark = from.mark()
  for (const text of list) from.send(`/msg ${to} ${text}`)
  await until(() => from.lines.slice(mark).filter(l => l.type === 'delivered').length >= list.length, ms,
    `${list.length} messages acknowledged (${from.lines.slice(mark).filter(l => l.type === 'delivered').length} so far, ` +
    `errors: ${JSON.stringify(from.lines.slice(mark).filter(l => l.type === 'error').slice(0, 3))})`)
  const sent = from.lines.slice(mark).filter(l => l.type === 'sent').map(l => l.id)
  const delivered = new Set(from.lines.slice(mark).filter(l => l.type === 'delivered').map(l => l.id))
  assert.equal(sent.length, list.length, 'every /msg was answered with "sent"')
  assert.equal(sent.filter(id => delivered.has(id)).length, list.length, 'every sent message was acknowledged')
}

/** The texts `to` has shown from `from` since `mark`, in the order shown. */
const shown = (to: JsonClient, from: string, mark: number): string[] =>
  to.lines.slice(mark).filter(l => l.type === 'message' && l.from === from && l.room == null).map(l => l.text)

/** How `got` differs from `sent` shown once each and in order, or undefined (the texts are long and alike). */
function orderProblem (got: string[], sent: string[], what: string): string | undefined {
  const index = new Map(sent.map((text, i) => [text, i]))
  const seen = got.map(text => index.get(text) ?? -1)
  const strangers = seen.filter(i => i < 0).length
  const duplicates = seen.length - new Set(seen).size
  const missing = sent.length - new Set(seen.filter(i => i >= 0)).size
  let highest = -1
  const late: number[] = []
  for (const i of seen) {
    if (i < highest) late.push(i)
    highest = Math.max(highest, i)
  }
  if (strangers === 0 && duplicates === 0 && missing === 0 && late.length === 0) return undefined
  return `${what}: ${got.length} shown of ${sent.length} sent; ${missing} missing, ${duplicates} duplicated, ${strangers} not sent, ` +
    `${late.length} shown after a message sent later (e.g. ${late.slice(0, 8).join(', ')}); order shown begins ${seen.slice(0, 12).join(', ')}`
}

describe('NAT lab: two clients behind home routers, the bootstrap node on the lab\'s internet', function () {
  const { cleanup, start, lab: startLab } = eachLabTest(OUTPUT)

  before(async function () {
    const missing = await labMissing()
    if (missing != null) {
      console.log(`      NAT lab skipped: ${missing}`)
      this.skip()
    }
  })

  /** A terminal client in `ns` with the client's own default timings (not the tests' faster ones). */
  async function client (name: string, bootstrap: string): Promise<{ client: JsonClient, peerId: string }> {
    const c = start(name, name, ['--json', '--data', cleanup.dir(await tempDir(`megachat-nat-${name}-`)), '--bootstrap', bootstrap],
      { MEGACHAT_RETRY_MS: undefined, MEGACHAT_FIND_TIMEOUT_MS: undefined, MEGACHAT_NO_WEBRTC: undefined, DEBUG })
    const ready = await c.next(() => true, 0, START_MS, `${name}'s ready line`)
    assert.equal(ready.type, 'ready', JSON.stringify(ready))
    return { client: c, peerId: ready.peerId }
  }

  /** Polls `/whoami` until the client has a relay address: it can be reached from outside its router. */
  async function reachable (c: JsonClient, name: string): Promise<void> {
    await until(async () => (await c.command('/whoami', 'whoami')).addresses.some((a: string) => a.includes('/p2p-circuit')),
      START_MS, `${name}'s relay reservation`)
  }

  async function scenario (test: Mocha.Context, symmetric: boolean): Promise<void> {
    const kind = symmetric ? 'symmetric' : 'cone'
    const lab = await startLab(test, symmetric, SCENARIO_MS)

    const boot = start('bootstrap', 'pub', ['--json', '--data', cleanup.dir(await tempDir('megachat-nat-boot-')),
      '--listen', `/ip4/${BOOTSTRAP_IP}/tcp/4001`, '--announce', `/ip4/${BOOTSTRAP_IP}/tcp/4001`, '--stun-port', '3478',
      '--status-interval', '0'], { DEBUG }, BOOTSTRAP_MAIN)
    const bootReady = await boot.next(() => true, 0, START_MS, 'the bootstrap node\'s ready line')
    assert.equal(bootReady.type, 'ready', JSON.stringify(bootReady))
    assert.equal(bootReady.stun, `stun:${BOOTSTRAP_IP}:3478`)
    const bootstrap = bootReady.addresses.find((a: string) => a.startsWith(`/ip4/${BOOTSTRAP_IP}/tcp/4001/`))
    assert.ok(bootstrap != null, `an address on the lab's internet: ${JSON.stringify(bootReady.addresses)}`)

    // bob comes online first and stays; alice starts fresh, knowing nothing of him, and bob does not know her
    const { client: bob, peerId: bobId } = await client('bob', bootstrap)
    const bobOnline = performance.now()
    await reachable(bob, 'bob')
    const { client: alice, peerId: aliceId } = await client('alice', bootstrap)
    await until(async () => (await alice.command('/status', 'status')).connections > 0, START_MS, 'alice connected to the bootstrap node')
    assert.equal((await alice.command(`/add ${bobId} bob`, ['contact', 'error'])).type, 'contact')

    // the first DM
    const onlineFor = performance.now() - bobOnline
    const bobMark = bob.mark()
    const t0 = performance.now()
    const from = alice.send('/msg bob hello across two routers')
    const sent = await alice.next(l => l.type === 'sent' || l.type === 'error', from, START_MS, 'the answer to /msg')
    assert.equal(sent.type, 'sent', JSON.stringify(sent))
    let shownAfter = -1
    void bob.next(l => l.type === 'message' && l.id === sent.id, bobMark, FIRST_DM_MS).then(() => { shownAfter = performance.now() - t0 }, () => {})
    const delivered = await alice.next(l => l.type === 'delivered' && l.id === sent.id, from, FIRST_DM_MS, 'delivery of the first DM')
    const latency = performance.now() - t0
    assert.equal(delivered.to, bobId)
    const got: Line = await bob.next(l => l.type === 'message' && l.id === sent.id, bobMark, START_MS, 'the first DM on bob')
    assert.equal(got.from, aliceId)
    assert.equal(got.text, 'hello across two routers')
    assert.equal((await bob.command(`/add ${aliceId} alice`, ['contact', 'error'])).type, 'contact')
    console.log(`      ${kind}: first DM acknowledged after ${Math.round(latency)} ms (shown on bob after ${Math.round(shownAfter)} ms; ` +
      `bob online for ${(onlineFor / 1000).toFixed(1)} s; goal <= ${symmetric ? 3000 : 1500} ms)`)

    // a burst both ways at once: everything delivered, each side shown in send order
    const aliceMark = alice.mark()
    const bobMark2 = bob.mark()
    const before = await lab.counters()
    const toBob = texts('a2b', BURST)
    const toAlice = texts('b2a', BURST)
    const t1 = performance.now()
    await Promise.all([sendAll(alice, 'bob', toBob, BURST_MS), sendAll(bob, 'alice', toAlice, BURST_MS)])
    const burstMs = performance.now() - t1
    // a message missing for good is reported below, with the rest of what went wrong
    await until(() => shown(bob, aliceId, bobMark2).length >= BURST && shown(alice, bobId, aliceMark).length >= BURST, BURST_MS).catch(() => {})
    const problems = [
      orderProblem(shown(bob, aliceId, bobMark2), toBob, 'alice\'s burst on bob'),
      orderProblem(shown(alice, bobId, aliceMark), toAlice, 'bob\'s burst on alice')
    ]
    const burst = directShare(before, await lab.counters())
    console.log(`      ${kind}: ${BURST} messages each way acknowledged in ${Math.round(burstMs)} ms, ${problems.some(p => p != null) ? 'NOT ' : ''}in order; ` +
      `${Math.round(burst.share * 100)}% of alice's bytes router to router (${burst.direct} B direct, ${burst.relayed} B via the bootstrap node)`)

    // then the pair goes direct (cone NATs): a window of DMs whose bytes pass router to router, not through the relay
    if (!symmetric) {
      const deadline = performance.now() + DIRECT_MS
      const windows: string[] = []
      for (let i = 0; ; i++) {
        const start = await lab.counters()
        await sendAll(alice, 'bob', texts(`probe${i}`, 20), BURST_MS)
        const w = directShare(start, await lab.counters())
        windows.push(`${Math.round(w.share * 100)}% (${w.direct}/${w.direct + w.relayed} B)`)
        if (w.share >= DIRECT_SHARE) break
        if (performance.now() > deadline) {
          problems.push(`the pair did not go direct within ${DIRECT_MS} ms`)
          break
        }
      }
      const listed = windows.length > 4 ? [...windows.slice(0, 2), `… ${windows.length - 4} more …`, ...windows.slice(-2)] : windows
      console.log(`      ${kind}: router-to-router share of alice's bytes per window of 20 DMs after the burst: ${listed.join(', ')}`)
    }
    assert.deepEqual(problems.filter(p => p != null), [])
  }

  it('cone NATs: the first DM arrives, a burst both ways arrives in order, and the pair goes direct', async function () {
    await scenario(this, false)
  })

  it('symmetric NATs (LAB_SYMMETRIC=1): the first DM arrives and a burst both ways arrives in order', async function () {
    await scenario(this, true)
  })
})
