/**
 * Web app benchmark (issue 4): run inside the test network namespace like the rest of `npm run bench`.
 *
 *  (a) the gzipped size of the JavaScript the built app (dist/web) loads before anything else: the entry
 *      script(s) and the modulepreload links of index.html. Lazy chunks are listed apart, not counted.
 *      Goal: at most 300 kB (1 kB = 1000 bytes).
 *  (b) time from navigation start to "ready" (identity loaded, connection to the bootstrap node open:
 *      the moment libp2p emits its 'connection:open' event for it, recorded in the page by a wrapper
 *      around dispatchEvent that the bench installs before any page code runs, so that neither page is
 *      timed by a poll that waits behind whatever work follows the connection), in headless Chromium, fresh browser context per load (empty IndexedDB, empty cache), beside the same
 *      for a bare js-libp2p page with the same transports (webSockets, webRTC, webRTCDirect, circuit relay,
 *      noise, yamux, identify) that dials the same bootstrap node. Also the time until each holds a relay
 *      reservation on it, for information. Goal: ready within 1.2x the bare page.
 *
 * The bare page is built here with Vite from a small entry written to a temporary directory. Everything
 * started (bootstrap node, HTTP servers, Chromium, temporary directories) is stopped before returning.
 * Settings (environment): BENCH_WEB_RUNS (measured loads per page, default 9).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { build } from 'vite'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { serveWebApp } from '../bootstrap-node/web.js'
import { CHROMIUM, CHROMIUM_ARGS } from '../test/browser.js'
import { ms, summarize } from './stats.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { WebAppServer } from '../bootstrap-node/web.js'
import type { Browser } from 'playwright-core'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WEB_DIR = join(ROOT, 'dist/web')
const SIZE_GOAL_KB = 300
const READY_GOAL = 1.2
const RUNS = Math.max(1, Number.parseInt(process.env.BENCH_WEB_RUNS ?? '', 10) || 9)
const WAIT_MS = 30_000
const POLL_MS = 5

const kB = (bytes: number): string => `${(bytes / 1000).toFixed(1)} kB`

export interface InitialJs {
  /** entry scripts and modulepreloads: path relative to the app dir, gzipped bytes */
  initial: Array<{ file: string, gzip: number }>
  /** every other .js file of the build */
  lazy: Array<{ file: string, gzip: number }>
  total: number
}

/** Reads index.html of a built app and gzips what it loads up front (level 9, as a server would send it at best). */
export async function initialJs (dir: string): Promise<InitialJs> {
  const html = await readFile(join(dir, 'index.html'), 'utf8')
  const refs = new Set<string>()
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const attr = (name: string): string | undefined => new RegExp(`\\b${name}\\s*=\\s*["']([^"']+)["']`, 'i').exec(tag)?.[1]
    const isScript = /^<script/i.test(tag) && attr('src') != null
    const isPreload = /^<link/i.test(tag) && attr('rel')?.toLowerCase() === 'modulepreload' && attr('href') != null
    const ref = isScript ? attr('src') : isPreload ? attr('href') : undefined
    if (ref == null || /^(https?:)?\/\//.test(ref)) continue
    refs.add(new URL(ref, 'http://app/').pathname.slice(1))
  }
  const gz = async (file: string): Promise<number> => gzipSync(await readFile(join(dir, file)), { level: 9 }).length
  const initial = await Promise.all([...refs].map(async file => ({ file, gzip: await gz(file) })))
  const all = (await readdir(dir, { recursive: true })).map(f => String(f).split(sep).join('/')).filter(f => f.endsWith('.js'))
  const lazy = await Promise.all(all.filter(f => !refs.has(f)).sort().map(async file => ({ file, gzip: await gz(file) })))
  return { initial, lazy, total: initial.reduce((a, b) => a + b.gzip, 0) }
}

/** The bare page: the app's transports and nothing else; dials the bootstrap node given as ?bootstrap= */
const BARE_ENTRY = `
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// the same mark as the app's first step (web/main.tsx): the entry's own code begins, its imports evaluated
performance.mark('megachat:start')
const bootstrap = new URLSearchParams(location.search).get('bootstrap')
const rtcConfiguration = { iceServers: [] }
const node = await createLibp2p({
  addresses: { listen: ['/p2p-circuit', '/webrtc'] },
  transports: [webSockets(), webRTCDirect({ rtcConfiguration }), circuitRelayTransport(), webRTC({ rtcConfiguration })],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // as the app's browserGater with a loopback/LAN bootstrap node: its host and private addresses are dialled
  connectionGater: { denyDialMultiaddr: () => false },
  services: { identify: identify() }
})
window.node = node
await node.dial(multiaddr(bootstrap))
`
const BARE_HTML = '<!doctype html><html><head><meta charset="utf-8"><title>bare libp2p</title></head><body><script type="module" src="./main.js"></script></body></html>\n'

async function buildBarePage (work: string): Promise<string> {
  const src = join(work, 'src')
  const out = join(work, 'out')
  await mkdir(src, { recursive: true })
  await writeFile(join(src, 'index.html'), BARE_HTML)
  await writeFile(join(src, 'main.js'), BARE_ENTRY)
  await build({
    root: src,
    base: './',
    configFile: false,
    logLevel: 'silent',
    build: { outDir: out, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 }
  })
  return out
}

interface Load {
  ready: number
  reservation: number
  drawn?: number
  /** the page's own steps (ms since navigation start): its script running, and the app's performance marks */
  steps: Record<string, number>
}

/** In a page: when its first script ran, and the app's start-up marks (web/main.tsx), ms since navigation start. */
function stepsInPage (): Record<string, number> {
  const steps: Record<string, number> = {}
  const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined
  if (nav != null) steps['html received'] = nav.responseEnd
  const script = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find(e => /\/(index-[^/]*|main)\.js$/.test(e.name))
  if (script != null) steps['script loaded'] = script.responseEnd
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('megachat:')) steps[m.name.slice('megachat:'.length)] = m.startTime
  return steps
}

/**
 * One fresh load: new context (empty storage and cache), navigate, then wait for the connection to the
 * bootstrap peer (its 'connection:open' event), then poll until a relay address on it is held, and for
 * the app until its interface is drawn. Times are the page's own performance.now(), i.e. ms since
 * navigation start.
 */
async function load (browser: Browser, url: string, bootId: string, kind: 'app' | 'bare'): Promise<Load> {
  const context = await browser.newContext()
  const errors: string[] = []
  try {
    // the moment libp2p announces the connection to the bootstrap node, in either page: its
    // 'connection:open' event, seen by wrapping dispatchEvent before any of the page's code runs
    await context.addInitScript((bootId: string) => {
      const dispatch = EventTarget.prototype.dispatchEvent
      EventTarget.prototype.dispatchEvent = function (event: Event): boolean {
        const w = window as any
        if (w.benchConnected == null && event.type === 'connection:open' && (event as CustomEvent).detail?.remotePeer?.toString() === bootId) {
          w.benchConnected = performance.now()
        }
        return dispatch.call(this, event)
      }
    }, bootId)
    const page = await context.newPage()
    page.on('pageerror', err => { errors.push(err.message) })
    await page.goto(url, { waitUntil: 'commit' })
    const ready = await (await page.waitForFunction(() => (window as any).benchConnected ?? false, undefined, { polling: POLL_MS, timeout: WAIT_MS })).jsonValue() as number
    const reservation = await (await page.waitForFunction(({ kind, bootId }) => {
      const w = window as any
      const node = kind === 'app' ? w.megachat?.libp2p : w.node
      return node?.getMultiaddrs().some((ma: any) => ma.toString().includes(`/p2p/${bootId}/p2p-circuit`)) === true ? performance.now() : false
    }, { kind, bootId }, { polling: POLL_MS, timeout: WAIT_MS })).jsonValue() as number
    // the app's interface, drawn once connected (web/main.tsx): for information
    const drawn = kind === 'app'
      ? await (await page.waitForFunction(() => performance.getEntriesByName('megachat:rendered')[0]?.startTime ?? false, undefined, { polling: POLL_MS, timeout: WAIT_MS })).jsonValue() as number
      : undefined
    return { ready, reservation, drawn, steps: await page.evaluate(stepsInPage) }
  } catch (err: any) {
    throw new Error(`${kind} page: ${String(err?.message ?? err).split('\n')[0]}${errors.length > 0 ? ` (page error: ${errors[0]})` : ''}`)
  } finally {
    await context.close().catch(() => {})
  }
}

export async function benchWeb (): Promise<string[]> {
  const lines: string[] = []
  if (!existsSync(join(WEB_DIR, 'index.html'))) return ['web: skipped: dist/web is not built (run npm run web:build first)']

  // (a) size
  const app = await initialJs(WEB_DIR)
  lines.push(`web: initial JS ${kB(app.total)} gzip (goal <=${SIZE_GOAL_KB} kB) ${app.total <= SIZE_GOAL_KB * 1000 ? 'PASS' : 'MISS'}` +
    `  [${app.initial.map(f => `${f.file} ${kB(f.gzip)}`).join(', ')}]`)
  lines.push(app.lazy.length > 0
    ? `web:   lazy chunks, not counted: ${app.lazy.map(f => `${f.file} ${kB(f.gzip)}`).join(', ')}`
    : 'web:   lazy chunks: none')

  // (b) load to ready
  if (!existsSync(CHROMIUM)) {
    lines.push(`web: load to ready skipped: no Chromium at ${CHROMIUM}`)
    return lines
  }
  let boot: BootstrapNode | undefined
  let browser: Browser | undefined
  const servers: WebAppServer[] = []
  let work: string | undefined
  try {
    // under the repository, so that the entry's imports resolve from its node_modules
    await mkdir(join(ROOT, 'dist'), { recursive: true })
    work = await mkdtemp(join(ROOT, 'dist', '.bench-web-'))
    const bareDir = await buildBarePage(work)
    const bare = await initialJs(bareDir)

    boot = await createBootstrapNode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], stunPort: 0, stunHost: '127.0.0.1' })
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    if (ws == null) throw new Error('the bootstrap node has no WebSocket address')
    const bootId = boot.peerId.toString()
    // config.json for an app that reads it, ?bootstrap= for one that reads the URL
    const appServer = await serveWebApp({ dir: WEB_DIR, host: '127.0.0.1', port: 0, config: { bootstrap: [ws], iceServers: [] } })
    servers.push(appServer)
    const bareServer = await serveWebApp({ dir: bareDir, host: '127.0.0.1', port: 0 })
    servers.push(bareServer)
    const query = `?bootstrap=${encodeURIComponent(ws)}`

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: false, args: CHROMIUM_ARGS })
    const appLoads: Load[] = []
    const bareLoads: Load[] = []
    // one warm-up each (Chromium's first page and process start), then alternate so that drift hits both
    await load(browser, appServer.url + query, bootId, 'app')
    await load(browser, bareServer.url + query, bootId, 'bare')
    for (let i = 0; i < RUNS; i++) {
      appLoads.push(await load(browser, appServer.url + query, bootId, 'app'))
      bareLoads.push(await load(browser, bareServer.url + query, bootId, 'bare'))
    }
    const appReady = summarize(appLoads.map(l => l.ready)).p50
    const bareReady = summarize(bareLoads.map(l => l.ready)).p50
    const appRes = summarize(appLoads.map(l => l.reservation)).p50
    const bareRes = summarize(bareLoads.map(l => l.reservation)).p50
    const r = appReady / bareReady
    lines.push(`web: load to ready p50 ${ms(appReady)}  floor bare libp2p page ${ms(bareReady)}  ratio ${r.toFixed(2)}x  goal <=${READY_GOAL}x ${r <= READY_GOAL ? 'PASS' : 'MISS'}  (${RUNS} fresh loads each)`)
    lines.push(`web:   interface drawn (connected) p50 ${ms(summarize(appLoads.map(l => l.drawn ?? 0)).p50)}  (for information: the app draws it once the first connection is up)`)
    const steps = (loads: Load[]): string => [...new Set(loads.flatMap(l => Object.keys(l.steps)))]
      .map(name => ({ name, p50: summarize(loads.map(l => l.steps[name]).filter(t => t != null)).p50 }))
      .sort((a, b) => a.p50 - b.p50).map(({ name, p50 }) => `${name} ${ms(p50)}`).join(', ')
    lines.push(`web:   diag: app steps p50: ${steps(appLoads)}, connected ${ms(appReady)}`)
    lines.push(`web:   diag: bare page steps p50: ${steps(bareLoads)}, connected ${ms(bareReady)}`)
    lines.push(`web:   relay reservation p50 ${ms(appRes)}  bare page ${ms(bareRes)}  ratio ${(appRes / bareRes).toFixed(2)}x  (for information)`)
    lines.push(`web:   bare libp2p page initial JS ${kB(bare.total)} gzip`)
  } catch (err: any) {
    lines.push(`web: load to ready ERROR ${String(err?.message ?? err).split('\n')[0]}`)
  } finally {
    await browser?.close().catch(() => {})
    await Promise.allSettled(servers.map(async s => { await s.close() }))
    await boot?.stop().catch(() => {})
    if (work != null) await rm(work, { recursive: true, force: true }).catch(() => {})
  }
  return lines
}
