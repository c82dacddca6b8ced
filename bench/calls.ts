/**
 * Call benchmark (issue: calls in the web app): run inside the test network namespace like the rest of
 * `npm run bench`, since WebRTC needs its host candidates.
 *
 *  (a) call set-up time: from pressing call (MegaChat's `call()`, the callee's app answering with video
 *      as soon as the call comes in) in the caller's open conversation with the callee, where the call
 *      buttons are (opening it opens the call's signalling stream ahead, Calls.prepare, in about 25 ms;
 *      the bench waits for that, as a person takes far longer to press the button), until the caller's
 *      `video.remote` element renders the first frame
 *      of the callee's camera (its requestVideoFrameCallback time). Two Chromium profiles with a fake
 *      camera and microphone run the built app, contacts of each other, through a real bootstrap node,
 *      and take turns calling each other (a callee takes only so many calls a minute from one peer).
 *      Beside it, the floor: a bare pair of RTCPeerConnections in one page of a third profile, with the
 *      same steps and nothing else: getUserMedia on the caller, the same audio and video transceivers
 *      (sendrecv), offer, getUserMedia on the callee, answer, trickle ICE handed over directly in JS,
 *      no ICE servers, until the caller's video renders its first remote frame.
 *      Goal: within 1.5x the bare pair (p50 against p50).
 *      A diagnostic beside it: the same bare steps split across two more Chromium profiles, the bench
 *      carrying the offer, answer and candidates between them in order. What it adds to the one-page
 *      pair is the cost of two browsers; what MegaChat adds to it is ours.
 *  (b) the call's media path (candidate types of the selected pair: host/host is direct, no relay) and
 *      the audio and video bitrate the caller receives over a few seconds of a connected call.
 *
 * Not counted: one warm-up call each way (the first also reaches the peer) and one bare pair; then the
 * MegaChat calls and the bare pairs take turns.
 * Everything started (bootstrap node, HTTP servers, Chromium, temporary directories) is stopped before
 * returning. A call that fails is made again, up to 3 times in the section, and each failure is printed.
 * Settings (environment): BENCH_CALL_RUNS (measured calls each, default 7), BENCH_CALL_LOG (page log lines
 * printed with an error, default 10; WEB_DEBUG='megachat*,libp2p:webrtc*' fills the page log as in the tests).
 */
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { serveWebApp } from '../bootstrap-node/web.js'
import { MAX_OFFERS_PER_MINUTE } from '../src/calls/index.js'
import { CHROMIUM, FAKE_MEDIA_ARGS, WEB_DIR, openProfile, serveBuiltApp } from '../test/browser.js'
import { Cleanup, WEBRTC, startBootstrap } from '../test/fixtures.js'
import { ms, ratio, summarize, verdict } from './stats.js'
import { removeTempDir, tempDir } from './temp.js'
import type { Summary } from './stats.js'
import type { Page } from 'playwright-core'

const GOAL = 1.5
const RUNS = Math.max(1, Number.parseInt(process.env.BENCH_CALL_RUNS ?? '', 10) || 7)
const WAIT_MS = 30_000
const POLL_MS = 20
/** failed calls made again before the section gives up (seen: a signalling stream on a libp2p connection that dies) */
const MAX_FAILURES = 3
/** how much later than our count of a call the callee may count it */
const PACE_MARGIN_MS = 1_000
/** page log lines shown with an error */
const LOG_LINES = Math.max(0, Number.parseInt(process.env.BENCH_CALL_LOG ?? '', 10) || 10)
/** the window over which the received bitrate is measured */
const MEDIA_WINDOW_MS = 3_000

/** One of the two app profiles */
interface Side {
  /** its name in the other's contacts */
  name: string
  page: Page
  id: string
  /** when it placed its calls (Date.now()) */
  offers: number[]
}

/** One call, as seen by the caller; times in ms since pressing call */
interface SetUp {
  /** ICE and DTLS up (the call's 'connected' state, or the floor's connectionState) */
  connected: number
  /** the first remote video frame rendered */
  frame: number
}

/** MegaChat's call, step by step as the caller sees it (ms since pressing call) */
interface AppSetUp extends SetUp {
  /** the callee's RINGING came back (it has the offer) */
  ringing: number
  /** the callee's ACCEPT came back */
  accepted: number
  /** the call view stopped hiding the remote video (it looks at getStats once a second) */
  shown: number
}

/** The floor's page: it only needs to be a secure context (http://127.0.0.1) */
const FLOOR_HTML = '<!doctype html><html><head><meta charset="utf-8"><title>bare RTCPeerConnection pair</title>' +
  '<style>html,body{margin:0;height:100%;background:#000}video{width:100%;height:100%;object-fit:contain}</style></head><body></body></html>\n'

/**
 * In the caller's page: places a video call to `name` and resolves once the call view's `video.remote`
 * has rendered its first frame (every such element that appears gets a requestVideoFrameCallback) and
 * is no longer hidden; the steps on the way are timed from the call's events.
 */
async function appCallInPage ({ name, waitMs }: { name: string, waitMs: number }): Promise<AppSetUp> {
  const chat = (window as any).megachat
  return await new Promise<AppSetUp>((resolve, reject) => {
    const at: AppSetUp = { ringing: Number.NaN, accepted: Number.NaN, connected: Number.NaN, frame: Number.NaN, shown: Number.NaN }
    const mark = (step: keyof AppSetUp, time = performance.now()): void => {
      if (Number.isNaN(at[step])) at[step] = time - t0
      if (!Number.isNaN(at.frame) && !Number.isNaN(at.shown)) done()
    }
    const seen = new WeakSet<HTMLVideoElement>()
    const watch = (): void => {
      for (const v of document.querySelectorAll<HTMLVideoElement>('video.remote')) {
        if (!v.classList.contains('hidden')) mark('shown')
        if (seen.has(v)) continue
        seen.add(v)
        v.requestVideoFrameCallback((now) => { mark('frame', now) })
      }
    }
    const onCall = (e: Event): void => {
      const c = (e as CustomEvent).detail
      if (c.state === 'ringing') mark('ringing')
      else if (c.state === 'connecting') mark('accepted')
      else if (c.state === 'connected') mark('connected')
      else if (c.state === 'ended') done(new Error(`the call ended before a frame: ${String(c.outcome)}${c.reason != null && c.reason !== '' ? `, ${String(c.reason)}` : ' (no reason given)'}`))
    }
    const observer = new MutationObserver(watch)
    const timer = setTimeout(() => { done(new Error(`no remote video frame shown within ${waitMs} ms`)) }, waitMs)
    const done = (err?: Error): void => {
      observer.disconnect()
      chat.removeEventListener('call', onCall)
      clearTimeout(timer)
      if (err != null) reject(err)
      else resolve(at)
    }
    observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] })
    chat.addEventListener('call', onCall)
    const t0 = performance.now()
    chat.call(name, { video: true }).catch((err: Error) => { done(err) })
  })
}

/** In the callee's page: answer every incoming call with video at once, from within the event. */
function autoAcceptInPage (): void {
  const chat = (window as any).megachat
  chat.addEventListener('call', (e: Event) => {
    const c = (e as CustomEvent).detail
    if (c.state !== 'incoming') return
    chat.accept(c.id, { video: true }).catch((err: Error) => { console.error(`auto-accept: ${err.message}`) })
  })
}

/** In either app page: no call left, and the call view gone. */
function idleInPage (): boolean {
  return (window as any).megachat.calls().length === 0 && (window as any).megachatModel.session == null &&
    document.querySelector('.call-overlay') == null
}

/** What remoteWatchInPage gives a floor page: the caller's remote video, watched from start() on. */
interface RemoteWatch {
  /** the call starts now: times are from here */
  start(): void
  /** connected and first frame (ms from start()), once the frame is rendered */
  setUp(): Promise<SetUp>
  /** no frame is waited for any more */
  stop(): void
}

/**
 * In each floor page (one-page pair and two-browser pair): installs `benchRemote(caller, video, waitMs)`,
 * which shows the caller's remote tracks in `video` and times when the caller connects and renders the
 * first remote frame. (A function handed to page.evaluate carries no imports or closures, so the pages
 * share it this way.)
 */
function remoteWatchInPage (): void {
  (window as any).benchRemote = (caller: RTCPeerConnection, video: HTMLVideoElement, waitMs: number): RemoteWatch => {
    const remote = new MediaStream()
    caller.addEventListener('track', (e) => { remote.addTrack(e.track) })
    video.srcObject = remote
    video.play().catch(() => {})
    let t0 = Number.NaN
    let connected = Number.NaN
    caller.addEventListener('connectionstatechange', () => {
      if (caller.connectionState === 'connected' && Number.isNaN(connected)) connected = performance.now() - t0
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    const frame = new Promise<number>((resolve, reject) => {
      video.requestVideoFrameCallback((now) => { resolve(now) })
      timer = setTimeout(() => { reject(new Error(`no remote video frame within ${waitMs} ms`)) }, waitMs)
    })
    const stop = (): void => { clearTimeout(timer) }
    return {
      start: () => { t0 = performance.now() },
      setUp: async () => {
        try {
          const first = await frame
          return { connected, frame: first - t0 }
        } finally {
          stop()
        }
      },
      stop
    }
  }
}

/**
 * In the floor's page: the same steps as a MegaChat call between two RTCPeerConnections, signalled
 * directly; resolves at the caller's first rendered remote frame, then closes everything.
 */
async function bareCallInPage ({ waitMs }: { waitMs: number }): Promise<SetUp> {
  const caller = new RTCPeerConnection({ iceServers: [] })
  const callee = new RTCPeerConnection({ iceServers: [] })
  const streams: MediaStream[] = []
  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  document.body.append(video)
  let watch: RemoteWatch | undefined
  try {
    // trickle ICE: candidates wait until the other side has its remote description, as in the app
    const trickle = (from: RTCPeerConnection, to: RTCPeerConnection): () => void => {
      let held: RTCIceCandidate[] | undefined = []
      from.addEventListener('icecandidate', (e) => {
        if (e.candidate == null || e.candidate.candidate === '') return
        if (held != null) held.push(e.candidate)
        else void to.addIceCandidate(e.candidate)
      })
      return () => {
        for (const c of held ?? []) void to.addIceCandidate(c)
        held = undefined
      }
    }
    const toCallee = trickle(caller, callee)
    const toCaller = trickle(callee, caller)
    watch = (window as any).benchRemote(caller, video, waitMs) as RemoteWatch
    watch.start()
    const mine = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    streams.push(mine)
    for (const track of [mine.getAudioTracks()[0], mine.getVideoTracks()[0]]) caller.addTransceiver(track, { direction: 'sendrecv', streams: [mine] })
    await caller.setLocalDescription(await caller.createOffer())
    const theirs = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    streams.push(theirs)
    await callee.setRemoteDescription(caller.localDescription as RTCSessionDescription)
    toCallee()
    for (const t of callee.getTransceivers()) {
      t.direction = 'sendrecv'
      t.sender.setStreams(theirs)
      await t.sender.replaceTrack(t.receiver.track.kind === 'audio' ? theirs.getAudioTracks()[0] : theirs.getVideoTracks()[0])
    }
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription as RTCSessionDescription)
    toCaller()
    return await watch.setUp()
  } finally {
    watch?.stop()
    for (const s of streams) for (const t of s.getTracks()) t.stop()
    caller.close()
    callee.close()
    video.srcObject = null
    video.remove()
  }
}

/**
 * In each page of the two-browser floor: one side of a bare call, the other side in another Chromium,
 * the bench carrying the signalling between them in order (`benchSignal` out, `benchDeliver` in). The
 * same steps as bareCallInPage (the remote video watched by remoteWatchInPage's helper, as there); what it
 * adds to that pair is what two browser processes cost.
 */
function bareSideInPage (): void {
  const w = window as any
  let pc: RTCPeerConnection | undefined
  let streams: MediaStream[] = []
  let remoteSet: Promise<unknown> = Promise.resolve()
  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  document.body.append(video)
  const close = (): void => {
    pc?.close()
    pc = undefined
    for (const s of streams) for (const t of s.getTracks()) t.stop()
    streams = []
    video.srcObject = null
  }
  w.benchBareHangUp = close
  const reset = (): RTCPeerConnection => {
    close()
    const next = new RTCPeerConnection({ iceServers: [] })
    next.addEventListener('icecandidate', (e) => {
      if (e.candidate != null && e.candidate.candidate !== '') void w.benchSignal({ candidate: e.candidate.toJSON() })
    })
    pc = next
    return next
  }
  const media = async (): Promise<MediaStream> => {
    const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    streams.push(s)
    return s
  }
  w.benchBareCall = async (waitMs: number): Promise<SetUp> => {
    const caller = reset()
    const watch = w.benchRemote(caller, video, waitMs) as RemoteWatch
    try {
      watch.start()
      const mine = await media()
      for (const track of [mine.getAudioTracks()[0], mine.getVideoTracks()[0]]) caller.addTransceiver(track, { direction: 'sendrecv', streams: [mine] })
      await caller.setLocalDescription(await caller.createOffer())
      remoteSet = new Promise(() => {}) // until the answer comes
      void w.benchSignal({ offer: caller.localDescription?.sdp })
      return await watch.setUp()
    } finally {
      watch.stop()
    }
  }
  w.benchDeliver = (msg: any): void => {
    if (msg.candidate != null) {
      const to = pc
      void remoteSet.then(async () => { await to?.addIceCandidate(msg.candidate) }).catch(() => {})
    } else if (msg.answer != null) {
      remoteSet = (pc as RTCPeerConnection).setRemoteDescription({ type: 'answer', sdp: msg.answer })
    } else if (msg.offer != null) {
      const callee = reset()
      let applied: () => void = () => {}
      remoteSet = new Promise<void>(resolve => { applied = resolve })
      void (async () => {
        const theirs = await media()
        await callee.setRemoteDescription({ type: 'offer', sdp: msg.offer })
        applied()
        for (const t of callee.getTransceivers()) {
          t.direction = 'sendrecv'
          t.sender.setStreams(theirs)
          await t.sender.replaceTrack(t.receiver.track.kind === 'audio' ? theirs.getAudioTracks()[0] : theirs.getVideoTracks()[0])
        }
        await callee.setLocalDescription(await callee.createAnswer())
        void w.benchSignal({ answer: callee.localDescription?.sdp })
      })().catch((err: Error) => { console.error(`bare callee: ${err.message}`) })
    }
  }
}

interface Media {
  audioKbps: number
  videoKbps: number
  /** how long the call had been connected when the window began (ms) */
  age: number
  localCandidate?: string
  remoteCandidate?: string
  rttMs?: number
  frameWidth?: number
  frameHeight?: number
}

/**
 * In the caller's page, during a connected call: the session's stats() over `windowMs` (its bitrates
 * are over the span since the sample handed to it), with the candidate pair and frame size.
 */
async function mediaInPage ({ windowMs }: { windowMs: number }): Promise<Media> {
  const w = window as any
  const session = w.megachatModel.session
  const connectedAt: number = w.megachat.calls()[0]?.connectedAt ?? Date.now()
  const age = Date.now() - connectedAt
  const a = await session.stats()
  // the measuring window itself, not a wait for an event
  await new Promise(resolve => setTimeout(resolve, windowMs))
  const s = await session.stats(a)
  return {
    audioKbps: s.audioInKbps ?? 0,
    videoKbps: s.videoInKbps ?? 0,
    age,
    localCandidate: s.localCandidate,
    remoteCandidate: s.remoteCandidate,
    rttMs: s.rttMs,
    frameWidth: s.frameWidth,
    frameHeight: s.frameHeight
  }
}

/** the first line of an error, without Playwright's "page.evaluate: Error: " */
const oneLine = (err: any): string => String(err?.message ?? err).split('\n')[0].replace(/^page\.\w+: (Error: )?/, '')
const range = (s: Summary): string => `min ${ms(s.min)} max ${ms(s.max)}`

/** what the section has started and not stopped yet (for stopCalls) */
let running: Cleanup | undefined

/** Stops what the section runs now, at most `ms` (the bench is interrupted: its browsers must stop writing to their profiles before those are removed). */
export async function stopCalls (ms = 5_000): Promise<void> {
  const cleanup = running
  if (cleanup == null) return
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([cleanup.run(), new Promise(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

/** `step` hears what the section is doing (for the bench's watchdog). */
export async function benchCalls (step: (what: string) => void = () => {}): Promise<string[]> {
  const lines: string[] = []
  if (!existsSync(join(WEB_DIR, 'index.html'))) return ['calls: skipped: dist/web is not built (run npm run web:build first)']
  if (!existsSync(CHROMIUM)) return [`calls: skipped: no Chromium at ${CHROMIUM}`]
  if (!WEBRTC) return ['calls: skipped: calls need WebRTC, which needs the test network namespace (run through npm run bench)']

  const cleanup = new Cleanup()
  running = cleanup
  const dirs: string[] = []
  const log: string[] = []
  let doing = ''
  const stepTo = (what: string): void => {
    doing = what
    step(`calls: ${what}`)
  }
  stepTo('setting up')
  const failures: string[] = []
  const profile = async (name: string): Promise<Page> => {
    // the bench's own temporary directories: removed even when the bench is interrupted
    const dir = await tempDir(`chromium-${name}`)
    dirs.push(dir)
    return (await openProfile(cleanup, name, { existing: dir, args: FAKE_MEDIA_ARGS, log })).page
  }
  try {
    const boot = cleanup.add(await startBootstrap())
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    if (ws == null) throw new Error('the bootstrap node has no WebSocket address')
    const app = cleanup.add(await serveBuiltApp())
    const floorDir = await tempDir('calls-floor')
    dirs.push(floorDir)
    await writeFile(join(floorDir, 'index.html'), FLOOR_HTML)
    const floorServer = await serveWebApp({ dir: floorDir, host: '127.0.0.1', port: 0 })
    cleanup.add({ stop: async () => { await floorServer.close() } })

    const [alicePage, bobPage, floor, floorA, floorB] = await Promise.all(['alice', 'bob', 'floor', 'floor-a', 'floor-b'].map(profile))
    const alice: Side = { name: 'alice', page: alicePage, id: '', offers: [] }
    const bob: Side = { name: 'bob', page: bobPage, id: '', offers: [] }
    const sides = [alice, bob]
    await Promise.all(sides.map(async side => {
      const p = side.page
      await p.goto(`${app.url}?bootstrap=${encodeURIComponent(ws)}`)
      await p.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
      // ready is a connection to the bootstrap node; to be found by the other, each needs a relay address on it
      await p.waitForFunction(() => (window as any).megachat.libp2p.getMultiaddrs().some((a: any) => a.toString().includes('/p2p-circuit')),
        undefined, { polling: POLL_MS, timeout: WAIT_MS })
      side.id = await p.evaluate(() => (window as any).megachat.peerId.toString() as string)
    }))
    await floor.goto(floorServer.url)
    await floor.evaluate(remoteWatchInPage)
    // the two-browser floor: each page's signals reach the other in order
    for (const [me, them] of [[floorA, floorB], [floorB, floorA]]) {
      let queue: Promise<unknown> = Promise.resolve()
      await me.exposeFunction('benchSignal', (msg: unknown) => {
        queue = queue.then(async () => await them.evaluate((m) => { (window as any).benchDeliver(m) }, msg)).catch(() => {})
      })
      await me.goto(floorServer.url)
      await me.evaluate(remoteWatchInPage)
      await me.evaluate(bareSideInPage)
    }
    for (const [me, them] of [[alice, bob], [bob, alice]]) {
      await me.page.evaluate(async ({ id, name }) => { await (window as any).megachatModel.addContact(id, name) }, { id: them.id, name: them.name })
      await me.page.evaluate(autoAcceptInPage)
    }

    let paced = 0
    /** `from` calls the other side; waits first if it would go over the callee's limit of calls per minute (a callee answers busy beyond it) */
    const appCall = async (from: Side): Promise<AppSetUp> => {
      const to = from === alice ? bob : alice
      const recent = from.offers.filter(t => t > Date.now() - 60_000)
      if (recent.length >= MAX_OFFERS_PER_MINUTE) {
        const wait = recent[recent.length - MAX_OFFERS_PER_MINUTE] + 60_000 + PACE_MARGIN_MS - Date.now()
        paced += wait
        // a wait for the end of the callee's rate window, not for an event
        await new Promise(resolve => setTimeout(resolve, wait))
      }
      from.offers.push(Date.now())
      // the conversation with them is open (it stays open from call to call), and so ready to call
      if (await from.page.locator('#conversation-title', { hasText: to.name }).count() === 0) {
        await from.page.locator(`.list button[data-name="${to.name}"]`).click()
      }
      // the pointer goes to the call button, as a person's does (it prepares the call again when the
      // stream prepared with the conversation went, with a connection that closed since)
      await from.page.mouse.move(0, 0)
      await from.page.getByRole('button', { name: `Video call ${to.name}` }).hover()
      await from.page.waitForFunction((name) => { const chat = (window as any).megachat; return (window as any).megachatInternals.calls.isPrepared(chat.resolve(name)) as boolean },
        to.name, { polling: POLL_MS, timeout: WAIT_MS }).catch(async () => {
        const seen = await from.page.evaluate((name) => {
          const chat = (window as any).megachat
          const peer = chat.resolve(name).toString()
          return { online: chat.isOnline(peer), paths: chat.connections().peers?.filter((p: any) => p.peerId === peer) ?? [] }
        }, to.name).catch((err: Error) => err.message)
        throw new Error(`no call stream to ${to.name} prepared within ${WAIT_MS} ms; ${from.name} sees ${JSON.stringify(seen)}`)
      })
      return await from.page.evaluate(appCallInPage, { name: to.name, waitMs: WAIT_MS })
    }
    /** hangs up whatever is left on either side (a failed call may leave the callee ringing) and waits until both are idle */
    const hangUp = async (): Promise<void> => {
      await Promise.all(sides.map(async ({ page: p }) => {
        await p.evaluate(async () => { for (const c of (window as any).megachat.calls()) await (window as any).megachat.hangup(c.id) })
        await p.waitForFunction(idleInPage, undefined, { polling: POLL_MS, timeout: WAIT_MS })
      }))
    }
    const bareCall = async (): Promise<SetUp> => await floor.evaluate(bareCallInPage, { waitMs: WAIT_MS })
    const twoBrowserCall = async (): Promise<SetUp> => {
      try {
        return await floorA.evaluate(async (waitMs) => await (window as any).benchBareCall(waitMs), WAIT_MS)
      } finally {
        // nothing left sending video beside the next call
        await Promise.all([floorA, floorB].map(async p => { await p.evaluate(() => { (window as any).benchBareHangUp() }) }))
      }
    }
    /** a call that fails is made again (and reported), up to MAX_FAILURES in all */
    const attempt = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      stepTo(what)
      for (;;) {
        try {
          return await run()
        } catch (err) {
          failures.push(`${what}: ${oneLine(err)}`)
          if (failures.length > MAX_FAILURES) throw err
          await hangUp()
        }
      }
    }

    // warm-up: the first call each way (the very first one also reaches the other peer), and the bare pair
    const first = await attempt('the warm-up call alice to bob', async () => await appCall(alice))
    await hangUp()
    await attempt('the warm-up call bob to alice', async () => await appCall(bob))
    await hangUp()
    await attempt('the warm-up bare pair', bareCall)
    await attempt('the warm-up bare pair across two browsers', twoBrowserCall)
    const apps: AppSetUp[] = []
    const bares: SetUp[] = []
    const twoBrowsers: SetUp[] = []
    for (let i = 0; i < RUNS; i++) {
      const from = sides[i % 2]
      apps.push(await attempt(`call ${i + 1} of ${RUNS} (${from.name} calls)`, async () => await appCall(from)))
      await hangUp()
      bares.push(await attempt(`bare pair ${i + 1} of ${RUNS}`, bareCall))
      twoBrowsers.push(await attempt(`bare pair across two browsers ${i + 1} of ${RUNS}`, twoBrowserCall))
    }
    const appFrame = summarize(apps.map(s => s.frame))
    const bareFrame = summarize(bares.map(s => s.frame))
    const appConnected = summarize(apps.map(s => s.connected))
    const bareConnected = summarize(bares.map(s => s.connected))
    lines.push(`calls: set-up to first remote frame p50 ${ms(appFrame.p50)} (${range(appFrame)})  floor bare RTCPeerConnection pair ${ms(bareFrame.p50)} (${range(bareFrame)})` +
      `  ratio ${ratio(appFrame.p50, bareFrame.p50)}  goal <=${GOAL}x ${verdict(appFrame.p50, bareFrame.p50, GOAL)}  (${RUNS} calls each)`)
    lines.push(`calls:   to connected (ICE+DTLS) p50 ${ms(appConnected.p50)}  bare pair ${ms(bareConnected.p50)}  ratio ${ratio(appConnected.p50, bareConnected.p50)}  (for information)`)
    const p50 = (step: keyof AppSetUp): string => ms(summarize(apps.map(s => s[step])).p50)
    lines.push(`calls:   diag: MegaChat steps p50: ringing ${p50('ringing')}, accepted ${p50('accepted')}, connected ${p50('connected')}, first frame ${p50('frame')},` +
      ` video shown by the call view ${p50('shown')}`)
    const twoFrame = summarize(twoBrowsers.map(s => s.frame))
    lines.push(`calls:   diag: a bare pair across two browsers (the bench carries the signalling) p50 ${ms(twoFrame.p50)} (${range(twoFrame)}),` +
      ` connected ${ms(summarize(twoBrowsers.map(s => s.connected)).p50)}; MegaChat / this ${ratio(appFrame.p50, twoFrame.p50)}`)
    lines.push(`calls:   first call, warm-up (not counted): first frame ${ms(first.frame)}, connected ${ms(first.connected)}`)
    if (paced > 0) lines.push(`calls:   note: ${(paced / 1000).toFixed(1)} s spent waiting between calls for the callee's limit of ${MAX_OFFERS_PER_MINUTE} calls per peer per minute`)
    // which libp2p connection carries the signalling: through the bootstrap node's relay, or direct WebRTC
    const links = await alice.page.evaluate((id) => (window as any).megachat.libp2p.getConnections()
      .filter((c: any) => c.remotePeer.toString() === id)
      .map((c: any) => `${c.remoteAddr.toString().includes('/p2p-circuit') ? 'relayed' : c.remoteAddr.toString().includes('/webrtc') ? 'direct WebRTC' : 'other'}${c.limits != null ? ' (limited)' : ''}`) as string[], bob.id)
    lines.push(`calls:   diag: libp2p connections between the two after the calls: ${links.length > 0 ? links.join(', ') : 'none'}`)

    // (b) one more call, kept up for the media figures
    await attempt('the call for the media figures', async () => await appCall(alice))
    const media = await alice.page.evaluate(mediaInPage, { windowMs: MEDIA_WINDOW_MS })
    await hangUp()
    const direct = media.localCandidate === 'host' && media.remoteCandidate === 'host'
    const relayed = media.localCandidate === 'relay' || media.remoteCandidate === 'relay'
    lines.push(`calls: media path ${media.localCandidate ?? '?'}/${media.remoteCandidate ?? '?'} (${direct ? 'direct, no relay' : relayed ? 'via TURN relay' : 'not host/host'})` +
      `${media.rttMs != null ? `, RTT ${media.rttMs < 1 ? 'under 1 ms' : ms(media.rttMs)}` : ''}` +
      `; received by the caller over ${(MEDIA_WINDOW_MS / 1000).toFixed(0)} s from ${(media.age / 1000).toFixed(1)} s into the call:` +
      ` audio ${media.audioKbps.toFixed(0)} kbit/s, video ${media.videoKbps.toFixed(0)} kbit/s` +
      `${media.frameWidth != null ? ` (${media.frameWidth}x${media.frameHeight ?? '?'})` : ''}`)
    for (const f of failures) lines.push(`calls:   note: a call failed and was made again: ${f}`)
  } catch (err: any) {
    lines.push(`calls: ERROR in ${doing}: ${oneLine(err)}`)
    for (const f of failures.slice(0, -1)) lines.push(`calls:   before that: ${f}`)
    for (const l of log.slice(-LOG_LINES)) lines.push(`calls:   page log: ${l}`)
  } finally {
    await cleanup.run()
    running = undefined
    for (const dir of dirs) await removeTempDir(dir).catch(() => {})
  }
  return lines
}
