/**
 * Calls across NATs, in the NAT lab (lab.ts): the real bootstrap node on the lab's internet at 203.0.113.1
 * with its STUN responder and TURN (`--turn`: coturn), the web app served the way the README tells
 * operators to (the node's `--web` on loopback behind an HTTPS reverse proxy, https-proxy.ts, with a
 * certificate made for the test that the test's Chromium trusts by its key), and one Chromium in `alice`
 * and one in `bob`, each behind its home router (a wrapper runs Chromium under `ip netns exec`), with a
 * fake camera and microphone.
 *
 * - cone NATs: a video call connects directly (no relay candidate in the selected pair), the quality line
 *   says `direct`;
 * - symmetric NATs (LAB_SYMMETRIC=1): the call connects through the bootstrap node's TURN, the quality line
 *   says `via TURN`; then, with the node restarted without `--turn`, the call fails and says that the
 *   bootstrap node's `--turn` would help;
 * - a tab behind one router and a terminal client behind the other exchange DMs both ways.
 * Each case prints its media path (the selected candidate pair) and how long after the answer the first
 * remote video frame came on each side, against issue 14's goal of 3 s (about 1 s here on an idle machine).
 * The time is printed, not asserted: speed goals belong in benchmarks, and on a busy machine every step of
 * the set-up waits for a CPU.
 *
 * Needs root, iptables, conntrack, `ip netns`, Chromium, coturn and openssl; elsewhere it is skipped with
 * one line saying why. Each test builds its own lab and tears it down after, and waits for any other lab.
 */
import assert from 'node:assert/strict'
import { X509Certificate, createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { COTURN_MISSING } from '../bootstrap-node/index.js'
import { findCoturn } from '../bootstrap-node/coturn.js'
import { CHROMIUM, FAKE_MEDIA_ARGS, WEB_DIR, addContactInUi, openProfile } from './browser.js'
import { tempDir, until } from './fixtures.js'
import { ALICE_ROUTER_IP, BOB_ROUTER_IP, BOOTSTRAP_IP, BOOTSTRAP_MAIN, LAB_INTERNET, directShare, eachLabTest, labMissing, run } from './lab.js'
import type { JsonClient, Line } from './fixtures.js'
import type { Page } from 'playwright-core'

const PROXY = join(dirname(fileURLToPath(import.meta.url)), 'https-proxy.js')
/** Logs of the lab's processes and pages go here when a test fails, and always with MEGACHAT_NAT_DEBUG. */
const OUTPUT = resolve('test-output/nat-calls')
const DEBUG = process.env.MEGACHAT_NAT_DEBUG ?? 'megachat*,-megachat:store*,megachat:bootstrap:turn:trace,libp2p:circuit-relay:server*'
/** One test, once its lab is up. */
const TEST_MS = 150_000
const WAIT_MS = 30_000
/** The goal: from the answer to the first remote video frame, on each side. */
const FIRST_FRAME_MS = 3000
/** Ports inside `pub`: the node's WebSocket and web app on loopback, behind the proxy on 443. */
const WS_PORT = 4002
const WEB_PORT = 8080
const TURN_PORT = 3479

/** The selected candidate pair of a call, as the page's RTCPeerConnection reports it. */
interface Path { local: string, remote: string, localType: string, remoteType: string }

describe('NAT lab: calls and DMs between browsers behind home routers', function () {
  const pageLog: string[] = []
  const { cleanup, start, lab } = eachLabTest(OUTPUT, () => ({ pages: pageLog.join('\n') }))
  let certDir: string
  /** base64 of the SHA-256 of the test certificate's public key, for Chromium's --ignore-certificate-errors-spki-list */
  let spki: string

  before(async function () {
    const missing = await labMissing() ??
      (!existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : undefined) ??
      (await findCoturn() == null ? COTURN_MISSING : undefined) ??
      ((await run('sh', ['-c', 'command -v openssl'])).code !== 0 ? 'no openssl on PATH (apt-get install openssl)' : undefined)
    if (missing != null) {
      console.log(`      NAT lab calls skipped: ${missing}`)
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    certDir = await tempDir('megachat-nat-cert-')
    const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${BOOTSTRAP_IP}`, '-addext', `subjectAltName=IP:${BOOTSTRAP_IP}`,
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')])
    assert.equal(made.code, 0, `openssl: ${made.stderr}`)
    const cert = new X509Certificate(await readFile(join(certDir, 'cert.pem')))
    spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
  })

  after(async () => {
    if (certDir != null) await rm(certDir, { recursive: true, force: true })
  })

  afterEach(() => { pageLog.length = 0 })

  /**
   * The bootstrap node in `pub` as an operator runs it for friends: TCP on the lab's internet, WebSocket and
   * the web app on loopback behind the HTTPS proxy (announced as wss on 443), STUN, and TURN with `turn`.
   * coturn may relay to the lab's internet, which is documentation address space that it refuses by default.
   */
  async function bootstrapNode (data: string, turn: boolean): Promise<{ node: JsonClient, ready: Line }> {
    const node = start(turn ? 'bootstrap' : 'bootstrap-no-turn', 'pub', ['--json', '--data', data,
      '--listen', `/ip4/${BOOTSTRAP_IP}/tcp/4001`, '--listen', `/ip4/127.0.0.1/tcp/${WS_PORT}/ws`,
      '--announce', `/ip4/${BOOTSTRAP_IP}/tcp/4001`, '--announce', `/ip4/${BOOTSTRAP_IP}/tcp/443/tls/ws`,
      '--stun-port', '3478', '--web', '--web-host', '127.0.0.1', '--web-port', String(WEB_PORT), '--status-interval', '0',
      ...(turn ? ['--turn', '--turn-port', String(TURN_PORT), '--turn-allow-peer', LAB_INTERNET] : [])], { DEBUG }, BOOTSTRAP_MAIN)
    const ready = await node.next(() => true, 0, WAIT_MS, 'the bootstrap node\'s ready line')
    assert.equal(ready.type, 'ready', JSON.stringify(ready))
    assert.equal(ready.stun, `stun:${BOOTSTRAP_IP}:3478`)
    if (turn) assert.deepEqual(ready.turn?.urls, [`turn:${BOOTSTRAP_IP}:${TURN_PORT}?transport=udp`, `turn:${BOOTSTRAP_IP}:${TURN_PORT}?transport=tcp`], JSON.stringify(ready.turn))
    return { node, ready }
  }

  /** The HTTPS reverse proxy in `pub` on 443, in front of the node's web app and WebSocket port; the app's URL. */
  async function proxy (): Promise<string> {
    const p = start('https-proxy', 'pub', ['--listen', `${BOOTSTRAP_IP}:443`, '--cert', join(certDir, 'cert.pem'), '--key', join(certDir, 'key.pem'),
      '--ws', `127.0.0.1:${WS_PORT}`, '--web', `127.0.0.1:${WEB_PORT}`], {}, PROXY)
    const ready = await p.next(() => true, 0, WAIT_MS, 'the proxy\'s ready line')
    assert.equal(ready.url, `https://${BOOTSTRAP_IP}/`)
    return ready.url
  }

  /** Chromium in namespace `ns` (a wrapper given to playwright as the browser), the app open and ready; the page and its peer ID. */
  async function tab (ns: 'alice' | 'bob', url: string): Promise<{ page: Page, id: string }> {
    const wrapper = join(cleanup.dir(await tempDir(`megachat-nat-chromium-${ns}-`)), 'chromium')
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`)
    await chmod(wrapper, 0o755)
    const { page } = await openProfile(cleanup, ns, {
      executablePath: wrapper,
      args: [...FAKE_MEDIA_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
      log: pageLog
    })
    await page.goto(url)
    await ready(page)
    return { page, id: await page.evaluate(() => (window as any).megachat.peerId.toString()) }
  }

  async function ready (page: Page): Promise<void> {
    await page.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
  }

  /** Whether the tab holds TURN credentials from the bootstrap node. */
  async function hasTurn (page: Page): Promise<boolean> {
    return await page.evaluate(() => (window as any).megachat.iceServers().some((s: RTCIceServer) => String(s.urls).startsWith('turn:')))
  }

  /**
   * In the page: when (ms since the epoch) the current call's connection first came up, and when the first
   * remote video frame reached the call view's video element (its size is known then). Both are polled
   * every 20 ms from now on (the call may not have started yet), without getStats, which is not cheap.
   */
  async function firstFrameAt (page: Page): Promise<{ connected: number, frame: number }> {
    return await page.evaluate(async (ms) => {
      const end = performance.now() + ms
      const now = (): number => performance.timeOrigin + performance.now()
      let connected: number | undefined
      for (;;) {
        if ((window as any).megachatModel.session?.pc.connectionState === 'connected') connected ??= now()
        if (connected != null && (document.querySelector<HTMLVideoElement>('.call-overlay video.remote')?.videoWidth ?? 0) > 0) return { connected, frame: now() }
        if (performance.now() > end) throw new Error(`no remote video frame within ${ms} ms`)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }, WAIT_MS)
  }

  /** The selected candidate pair of the page's current call. */
  async function mediaPath (page: Page): Promise<Path | undefined> {
    return await page.evaluate(async () => {
      const pc: RTCPeerConnection | undefined = (window as any).megachatModel.session?.pc
      if (pc == null) return undefined
      const report = await pc.getStats()
      let pair: any
      report.forEach((s: any) => { if (s.type === 'transport' && s.selectedCandidatePairId != null) pair = report.get(s.selectedCandidatePairId) })
      if (pair == null) return undefined
      const [l, r] = [report.get(pair.localCandidateId), report.get(pair.remoteCandidateId)]
      const where = (c: any): string => `${c.candidateType} ${c.address}:${c.port}${c.relayProtocol != null ? ` (to TURN over ${c.relayProtocol})` : ''}`
      return { local: where(l), remote: where(r), localType: l.candidateType, remoteType: r.candidateType }
    })
  }

  /** The media path once the pair has settled on one that `ok` accepts (ICE may switch to a better pair after the first). */
  async function settledPath (page: Page, who: string, ok: (p: Path) => boolean, what: string): Promise<Path> {
    let last: Path | undefined
    await until(async () => { last = await mediaPath(page); return last != null && ok(last) }, WAIT_MS, `${who}'s media path ${what}`)
      .catch((err: Error) => { throw new Error(`${err.message}; the last one: ${JSON.stringify(last)}`) })
    return last as Path
  }

  const relayed = (p: Path): boolean => p.localType === 'relay' || p.remoteType === 'relay'

  /** Both tabs know each other as contacts; each has the other's conversation open. */
  async function introduce (alice: { page: Page, id: string }, bob: { page: Page, id: string }): Promise<void> {
    await addContactInUi(alice.page, bob.id, 'bob')
    await addContactInUi(bob.page, alice.id, 'alice')
  }

  /** From the answer: to the first remote video frame on each side, and to each side's connection (ICE and DTLS) */
  interface Timing { aliceMs: number, bobMs: number, aliceConnectedMs: number, bobConnectedMs: number }

  /**
   * alice video-calls bob through the interface and bob answers with video; both calls reach 'connected'.
   * Returns the time from bob's press on the answer button to the first remote video frame on each side.
   */
  async function videoCall (alice: Page, bob: Page): Promise<Timing> {
    await alice.locator('.list button[data-name="bob"]').click()
    await alice.getByRole('button', { name: 'Video call bob' }).click()
    await bob.locator('.call-overlay.incoming').waitFor({ timeout: WAIT_MS })
    // the moment of the press, in bob's page, before the app's own handler runs
    await bob.evaluate(() => {
      const w = window as any
      w.answeredAt = undefined
      if (w.watchingAnswer === true) return
      w.watchingAnswer = true
      document.addEventListener('click', (e) => {
        if ((e.target as Element | null)?.closest?.('button[aria-label="Answer with video"]') != null) w.answeredAt ??= performance.timeOrigin + performance.now()
      }, { capture: true })
    })
    const frames = [firstFrameAt(alice), firstFrameAt(bob)]
    await bob.getByRole('button', { name: 'Answer with video' }).click()
    const [aliceAt, bobAt] = await Promise.all(frames)
    const answeredAt: number = await bob.evaluate(() => (window as any).answeredAt)
    await Promise.all([alice, bob].map(async p => await p.locator('.call-overlay.call[data-state="connected"]').waitFor({ timeout: WAIT_MS })))
    const since = (t: number): number => Math.round(t - answeredAt)
    return { aliceMs: since(aliceAt.frame), bobMs: since(bobAt.frame), aliceConnectedMs: since(aliceAt.connected), bobConnectedMs: since(bobAt.connected) }
  }

  /** The call's quality line once it shows media coming in ("↓ 488 kb/s", not "↓ 0 kb/s") and says how it goes (`direct` or `via TURN`). */
  async function qualityLine (page: Page, says: string): Promise<string> {
    const line = page.locator('[data-testid="call-quality"]', { hasText: new RegExp(`↓ (0\\.[1-9]|[1-9]).* · ${says}$`) })
    await line.waitFor({ timeout: WAIT_MS })
    return (await line.textContent()) ?? ''
  }

  async function hangUp (alice: Page, bob: Page): Promise<void> {
    await alice.getByRole('button', { name: 'Hang up' }).click()
    await Promise.all([alice, bob].map(async p => await p.locator('.call-overlay').waitFor({ state: 'detached', timeout: WAIT_MS })))
  }

  const describePath = (p: Path): string => `${p.local} <-> ${p.remote}`
  const withinGoal = (t: Timing): boolean => t.aliceMs <= FIRST_FRAME_MS && t.bobMs <= FIRST_FRAME_MS

  /**
   * A video call from alice to bob whose media path settles on one that `ok` accepts and whose quality
   * line `says` so, hung up after; prints its path and times (against the goal, see the top).
   */
  async function measuredCall (kind: string, alice: Page, bob: Page, ok: (p: Path) => boolean, says: string): Promise<{ alice: Path, bob: Path }> {
    const timing = await videoCall(alice, bob)
    const [alicePath, bobPath] = await Promise.all([settledPath(alice, 'alice', ok, says), settledPath(bob, 'bob', ok, says)])
    const quality = await qualityLine(alice, says)
    await qualityLine(bob, says)
    console.log(`      ${kind}: media path alice ${describePath(alicePath)}; bob ${describePath(bobPath)}`)
    console.log(`      ${kind}: first remote frame ${timing.aliceMs} ms (alice) / ${timing.bobMs} ms (bob) after the answer ` +
      `(connected after ${timing.aliceConnectedMs} / ${timing.bobConnectedMs} ms), goal <= ${FIRST_FRAME_MS} ms ${withinGoal(timing) ? 'met' : 'MISSED'}; quality line "${quality}"`)
    await hangUp(alice, bob)
    return { alice: alicePath, bob: bobPath }
  }

  it('cone NATs: a video call between two tabs connects directly', async function () {
    const l = await lab(this, false, TEST_MS)
    await bootstrapNode(cleanup.dir(await tempDir('megachat-nat-boot-')), true)
    const url = await proxy()
    const [alice, bob] = await Promise.all([tab('alice', url), tab('bob', url)])
    await introduce(alice, bob)

    const before = await l.counters()
    const path = await measuredCall('cone', alice.page, bob.page, p => !relayed(p), 'direct')
    // alice's public side is her router, and bob's his: the pair goes router to router
    assert.ok(path.alice.local.includes(ALICE_ROUTER_IP) || path.alice.localType === 'host', describePath(path.alice))
    assert.ok(path.alice.remote.includes(BOB_ROUTER_IP), describePath(path.alice))
    const bytes = directShare(before, await l.counters())
    console.log(`      cone: ${Math.round(bytes.share * 100)}% of alice's bytes during the call router to router (the rest: to and from the bootstrap node)`)
  })

  it('symmetric NATs (LAB_SYMMETRIC=1): the call goes via the bootstrap node\'s TURN; without --turn it fails and says so', async function () {
    await lab(this, true, TEST_MS)
    const data = cleanup.dir(await tempDir('megachat-nat-boot-'))
    const { node } = await bootstrapNode(data, true)
    const url = await proxy()
    const [alice, bob] = await Promise.all([tab('alice', url), tab('bob', url)])
    for (const [t, who] of [[alice, 'alice'], [bob, 'bob']] as const) await until(async () => await hasTurn(t.page), WAIT_MS, `${who}'s tab holds TURN credentials`)
    await introduce(alice, bob)

    await measuredCall('symmetric', alice.page, bob.page, relayed, 'via TURN')

    // the same node without --turn (same identity): the tabs reload and hold no TURN server; the call fails, saying what would help
    await node.stop()
    await bootstrapNode(data, false)
    await Promise.all([alice, bob].map(async t => { await t.page.reload(); await ready(t.page) }))
    assert.deepEqual([await hasTurn(alice.page), await hasTurn(bob.page)], [false, false])
    const started = Date.now()
    await alice.page.locator('.list button[data-name="bob"]').click()
    await alice.page.getByRole('button', { name: 'Video call bob' }).click()
    await bob.page.locator('.call-overlay.incoming').waitFor({ timeout: WAIT_MS })
    await bob.page.getByRole('button', { name: 'Answer with video' }).click()
    // Chromium gives up on ICE after about 15 s, before the calls layer's own 30 s
    const failed = alice.page.locator('.call-entry[data-outcome="failed"] .text')
    await failed.waitFor({ timeout: WAIT_MS })
    const text = (await failed.textContent()) ?? ''
    const failedAfter = Date.now() - started
    await bob.page.locator('.list button[data-name="alice"]').click()
    const theirs = (await bob.page.locator('.call-entry[data-outcome="failed"] .text').textContent({ timeout: WAIT_MS })) ?? ''
    console.log(`      symmetric without TURN: failed ${(failedAfter / 1000).toFixed(1)} s after the call button; alice: "${text}"; bob: "${theirs}"`)
    for (const line of [text, theirs]) assert.match(line, /no TURN server to relay the call \(a bootstrap node runs one with --turn\)/, 'the failure says what would help')
  })

  it('a tab behind one router and a terminal client behind the other exchange DMs both ways', async function () {
    await lab(this, false, TEST_MS)
    const { ready: bootReady } = await bootstrapNode(cleanup.dir(await tempDir('megachat-nat-boot-')), true)
    const url = await proxy()
    const tcp = bootReady.addresses.find((a: string) => a.startsWith(`/ip4/${BOOTSTRAP_IP}/tcp/4001/`))
    const cli = start('cli', 'bob', ['--json', '--data', cleanup.dir(await tempDir('megachat-nat-cli-')), '--bootstrap', tcp],
      { MEGACHAT_RETRY_MS: undefined, MEGACHAT_FIND_TIMEOUT_MS: undefined, MEGACHAT_NO_WEBRTC: undefined, DEBUG })
    const cliReady = await cli.next(() => true, 0, WAIT_MS, 'the terminal client\'s ready line')
    assert.equal(cliReady.type, 'ready', JSON.stringify(cliReady))
    const cliId: string = cliReady.peerId
    const alice = await tab('alice', url)
    // as when a person hands out the peer ID: the terminal client can be reached from outside its router by then
    await until(async () => (await cli.command('/whoami', 'whoami')).addresses.some((a: string) => a.includes('/p2p-circuit')), WAIT_MS, 'the terminal client\'s relay reservation')

    const toCli = 'hello terminal, from a tab behind another router'
    const mark = cli.mark()
    const t0 = Date.now()
    await addContactInUi(alice.page, cliId, 'term')
    const box = alice.page.locator('#composer-input')
    await box.fill(toCli)
    await box.press('Enter')
    const got = await cli.next(l => l.type === 'message' && l.text === toCli, mark, WAIT_MS, 'the tab\'s DM on the terminal client')
    const toCliMs = Date.now() - t0
    assert.equal(got.from, alice.id)
    await alice.page.locator(`.msg.out[data-id="${String(got.id)}"][data-state="delivered"]`).waitFor({ timeout: WAIT_MS })

    assert.equal((await cli.command(`/add ${alice.id} web`, ['contact', 'error'])).type, 'contact')
    const toTab = 'hi tab, the terminal here'
    const from = cli.mark()
    const t1 = Date.now()
    const sent = await cli.command(`/msg web ${toTab}`, ['sent', 'error'])
    assert.equal(sent.type, 'sent', JSON.stringify(sent))
    await alice.page.locator(`.msg.in[data-id="${String(sent.id)}"]`, { hasText: toTab }).waitFor({ timeout: WAIT_MS })
    const toTabMs = Date.now() - t1
    await cli.next(l => l.type === 'delivered' && l.id === sent.id, from, WAIT_MS, 'delivery of the DM to the tab')
    const connections = await alice.page.evaluate((id) => (window as any).megachat.libp2p.getConnections().filter((c: any) => c.remotePeer.toString() === id).map((c: any) => c.remoteAddr.toString()), cliId)
    console.log(`      tab <-> terminal: tab to terminal shown after ${toCliMs} ms (the contact added first), terminal to tab after ${toTabMs} ms; ` +
      `the tab's connections to the terminal client: ${connections.map((a: string) => a.includes('/p2p-circuit') ? 'relayed' : a.includes('/webrtc') ? 'WebRTC' : a).join(', ')}`)
  })
})
