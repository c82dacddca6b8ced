/**
 * Shared by the browser tests and the web benchmarks: Debian's Chromium and its flags, the built app
 * served on loopback, and a Chromium profile of its own per simulated user.
 */
import { resolve } from 'node:path'
import { chromium } from 'playwright-core'
import { serveWebApp } from '../bootstrap-node/web.js'
import { tempDir } from './fixtures.js'
import type { Cleanup } from './fixtures.js'
import type { BrowserContext, Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const WEB_DIR = resolve('dist/web')
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // WebRTC inside the test namespace: host candidates on loopback and 10.77.0.x, no mDNS names
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'
]
/** a synthetic camera (a moving test pattern) and microphone (a beep), allowed without asking */
export const FAKE_MEDIA_ARGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']

/** dist/web on 127.0.0.1 at a free port, without /config.json (pages get `?bootstrap=`). */
export async function serveBuiltApp (): Promise<{ url: string, stop(): Promise<void> }> {
  const server = await serveWebApp({ dir: WEB_DIR, host: '127.0.0.1', port: 0 })
  return { url: server.url, stop: async () => { await server.close() } }
}

export interface ProfileOptions {
  /** a user-data-dir used before (the same identity); default a new temporary one */
  existing?: string
  args?: string[]
  /** the browser to run; default {@link CHROMIUM} (the NAT lab gives a wrapper that runs it in a namespace) */
  executablePath?: string
  /** console lines and page errors go here, marked with the profile's name */
  log?: string[]
}

/** A Chromium profile in its own user-data-dir, closed by `cleanup`. */
export async function openProfile (cleanup: Cleanup, name: string, options: ProfileOptions = {}): Promise<{ context: BrowserContext, page: Page, profile: string }> {
  const profile = options.existing ?? cleanup.dir(await tempDir(`megachat-chromium-${name}-`))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.executablePath ?? CHROMIUM,
    headless: false, // --headless=new is in the arguments
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    viewport: { width: 1100, height: 720 }
  })
  cleanup.add({ stop: async () => { await context.close() } })
  // camera and microphone too: without them Chromium gathers no ICE candidates at all in a profile with granted permissions
  await context.grantPermissions(['clipboard-read', 'clipboard-write', 'camera', 'microphone'])
  const page = context.pages()[0] ?? await context.newPage()
  // WEB_DEBUG='megachat*,libp2p:webrtc*' turns on the page's debug log (shown for a failed test)
  if (process.env.WEB_DEBUG != null) await page.addInitScript((d) => { localStorage.setItem('debug', d) }, process.env.WEB_DEBUG)
  const log = options.log
  if (log != null) {
    page.on('console', msg => { log.push(`[${name} ${msg.type()}] ${msg.text()}`) })
    page.on('pageerror', err => { log.push(`[${name} pageerror] ${err.message}`) })
  }
  return { context, page, profile }
}

/** Adds a contact through the Add-contact dialog, as a person would; the conversation opens. */
export async function addContactInUi (p: Page, peerId: string, name: string, ms = 30_000): Promise<void> {
  await p.getByRole('button', { name: 'Add contact', exact: true }).first().click()
  await p.locator('#add-contact-peer').fill(peerId)
  await p.locator('#add-contact-name').fill(name)
  await p.locator('#add-contact-name').press('Enter')
  await p.locator('#conversation-title', { hasText: name }).waitFor({ timeout: ms })
}

/**
 * Evaluates `fn` in the page (it may be async) until it returns something truthy, and returns that;
 * fails after `ms` naming `what`. Playwright's waitForFunction does not await a promise: an async
 * predicate given to it passes at once, whatever it would have resolved to.
 */
export async function pollPage<A, T> (page: Page, fn: (arg: A) => T | Promise<T>, arg: A, what: string, ms = 30_000, every = 50): Promise<T> {
  const end = Date.now() + ms
  let last: T | undefined
  for (;;) {
    last = await page.evaluate(fn as any, arg) as T
    if (last != null && last !== false) return last
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (last seen: ${JSON.stringify(last)})`)
    await new Promise(resolve => setTimeout(resolve, every))
  }
}

/** Picks files with the composer's attach button (its file input, labelled "Attach a file"). */
export async function attach (page: Page, files: Array<{ name: string, mimeType: string, buffer: Buffer }>): Promise<void> {
  await page.getByLabel('Attach a file').setInputFiles(files)
}

/** Drags files over the conversation and drops them there, as the browser reports a drop from the desktop. */
export async function drop (page: Page, file: { name: string, mimeType: string, bytes: number[] }, check?: () => Promise<void>): Promise<void> {
  await page.evaluate((f) => {
    const dt = new DataTransfer()
    dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.mimeType }))
    ;(window as any).dragged = dt
    const target = document.querySelector('.messages')!
    target.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }))
    target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }))
  }, file)
  await check?.()
  await page.evaluate(() => {
    const dt = (window as any).dragged as DataTransfer
    document.querySelector('.messages')!.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }))
  })
}
