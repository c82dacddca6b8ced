/**
 * End to end: the built web app (dist/web, made by `npm run web:build`) in a real Chromium, with the
 * real bootstrap node and a chat node in Node.js. The page runs createChat() itself: IndexedDB for the
 * identity and the store, WebSockets to the bootstrap node, reachable through its relay reservation.
 * Screenshots go to test-output/web/.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { chromium } from 'playwright-core'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { browserGater } from '../src/node/node.browser.js'
import { Cleanup, WEBRTC, startBootstrap, startChat, tempDir, waitFor } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Chat, IncomingMessage, StoredMessage } from '../src/index.js'
import type { Connection } from '@libp2p/interface'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'

const CHROMIUM = '/usr/bin/chromium'
const WEB_DIR = resolve('dist/web')
const OUTPUT = resolve('test-output/web')
const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // WebRTC inside the test namespace: host candidates on loopback and 10.77.0.x, no mDNS names
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'
]
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/
const WAIT_MS = 30_000

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm'
}

/** Serves dist/web on 127.0.0.1 at a random port. */
async function serveWebApp (): Promise<{ url: string, stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    const file = join(WEB_DIR, path.endsWith('/') ? `${path}index.html` : path)
    if (!file.startsWith(WEB_DIR + sep)) {
      res.writeHead(403).end()
      return
    }
    readFile(file).then(body => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body)
    }, () => { res.writeHead(404).end() })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

describe('web app in Chromium', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  const pageLog: string[] = []
  let app: { url: string }
  let boot: BootstrapNode
  let bootAddr: string
  let context: BrowserContext
  let page: Page
  let browserId: string
  let node: Chat

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium package to run the web app tests)`)
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    await mkdir(OUTPUT, { recursive: true })
    app = cleanup.add(await serveWebApp())
    boot = cleanup.add(await startBootstrap())
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    assert.ok(ws != null, `the bootstrap node has no WebSocket address: ${boot.addresses().join(' ')}`)
    bootAddr = ws
    const profile = cleanup.dir(await tempDir('megachat-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: false, // --headless=new is in the arguments
      args: CHROMIUM_ARGS,
      viewport: { width: 900, height: 600 }
    })
    cleanup.add({ stop: async () => { await context.close() } })
    page = context.pages()[0] ?? await context.newPage()
    page.on('console', msg => { pageLog.push(`[${msg.type()}] ${msg.text()}`) })
    page.on('pageerror', err => { pageLog.push(`[pageerror] ${err.message}`) })
  })

  after(async () => {
    await cleanup.run()
  })

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && pageLog.length > 0) {
      console.error(`      page log (last 40 lines):\n${pageLog.slice(-40).map(l => `        ${l}`).join('\n')}`)
    }
  })

  const withBootstrap = (): string => `${app.url}?bootstrap=${encodeURIComponent(bootAddr)}`

  async function shownPeerId (): Promise<string> {
    return (await page.locator('#peer-id').textContent() ?? '').trim()
  }

  async function waitState (state: string): Promise<void> {
    await page.locator(`#status[data-state="${state}"]`).waitFor({ timeout: WAIT_MS })
  }

  /** Starts listening in the page now, so that an event fired before `received` is called is not missed. */
  async function expectInPage (event: 'message' | 'delivered', text: string): Promise<{ received(): Promise<any> }> {
    const key = `${event}:${text}`
    await page.evaluate(({ event, text, key }) => {
      const chat = (window as any).megachat
      const w = window as any
      w.expected ??= {}
      w.expected[key] = new Promise(resolve => {
        chat.addEventListener(event, function listener (evt: CustomEvent) {
          if (evt.detail.text !== text) return
          chat.removeEventListener(event, listener)
          resolve(evt.detail)
        })
      })
    }, { event, text, key })
    return {
      received: async () => await page.evaluate(async ({ key, ms }) => await Promise.race([
        (window as any).expected[key],
        new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${key} in the page`)) }, ms))
      ]), { key, ms: WAIT_MS })
    }
  }

  it('runs a chat node in the tab: shows its peer ID and gets a relay reservation', async () => {
    await page.goto(withBootstrap())
    await waitState('ready')
    browserId = await shownPeerId()
    assert.match(browserId, PEER_ID)
    assert.equal(await page.evaluate(() => (window as any).megachat.peerId.toString()), browserId)
    // reachable only through the bootstrap node's relay
    const addrs: string[] = await page.evaluate(() => (window as any).megachat.addresses())
    assert.ok(addrs.some(a => a.includes(`${boot.peerId.toString()}/p2p-circuit`)), `no relay address: ${addrs.join(' ')}`)
    await page.screenshot({ path: join(OUTPUT, 'ready.png') })
  })

  it('receives a DM from a Node.js chat node, which gets the delivery receipt', async () => {
    node = cleanup.add(await startChat({ bootstrapNode: boot }))
    await node.addContact(browserId, 'browser')
    const text = 'hello, tab, from Node'
    const inPage = await expectInPage('message', text)
    const sent = await node.send('browser', text)
    const delivered = waitFor<StoredMessage>(node, 'delivered', m => m.id === sent.id, WAIT_MS)
    const [got] = await Promise.all([inPage.received(), delivered])
    assert.equal(got.peer, node.peerId.toString())
    assert.equal(got.id, sent.id)
    assert.equal(got.text, text)
  })

  it('sends a DM back to the Node.js chat node and sees it delivered', async () => {
    const text = 'hello, Node, from the tab'
    const got = waitFor<IncomingMessage>(node, 'message', m => m.text === text, WAIT_MS)
    const delivered = await expectInPage('delivered', text)
    await page.evaluate(async ({ peer, text }) => {
      const chat = (window as any).megachat
      await chat.addContact(peer, 'node')
      await chat.send('node', text)
    }, { peer: node.peerId.toString(), text })
    const [message] = await Promise.all([got, delivered.received()])
    assert.equal(message.peer, browserId)
    await page.screenshot({ path: join(OUTPUT, 'after-dm.png') })
  })

  it('gets a direct WebRTC connection with the Node.js chat node, signalled through the relay', async function () {
    if (!WEBRTC) this.skip() // needs the test network namespace: WebRTC skips loopback
    const isDirect = (c: Connection): boolean => c.remotePeer.toString() === browserId && c.limits == null && WebRTC.matches(c.remoteAddr)
    if (!node.libp2p.getConnections().some(isDirect)) await waitFor<Connection>(node.libp2p, 'connection:open', isDirect, WAIT_MS)
    const inTab: boolean = await page.evaluate((peer) => (window as any).megachat.libp2p.getConnections()
      .some((c: any) => c.remotePeer.toString() === peer && c.limits == null && c.remoteAddr.toString().includes('/webrtc')), node.peerId.toString())
    assert.ok(inTab, 'the tab has no direct WebRTC connection to the Node.js peer')
    await page.locator('#status', { hasText: 'Connected to 2 peers;' }).waitFor({ timeout: WAIT_MS })
  })

  it('keeps its identity, contacts and history across a reload (IndexedDB)', async () => {
    await page.reload()
    await waitState('ready')
    assert.equal(await shownPeerId(), browserId)
    const kept = await page.evaluate(async () => {
      const chat = (window as any).megachat
      const contacts = await chat.contacts()
      const history = await chat.history('node')
      return { contacts: contacts.map((c: any) => c.name), history: history.map((m: any) => `${m.direction} ${m.state ?? ''} ${m.text}`.replace(/ +/g, ' ')) }
    })
    assert.deepEqual(kept.contacts, ['node'])
    assert.deepEqual(kept.history, ['in hello, tab, from Node', 'out delivered hello, Node, from the tab'])
    await page.screenshot({ path: join(OUTPUT, 'after-reload.png') })
  })

  it('refuses a second tab on the same identity with a clear message', async () => {
    const second = await context.newPage()
    try {
      await second.goto(withBootstrap())
      await second.locator('#status[data-state="error"]').waitFor({ timeout: WAIT_MS })
      assert.match(await second.locator('#status').textContent() ?? '', /already open in another tab/)
      await second.screenshot({ path: join(OUTPUT, 'second-tab.png') })
    } finally {
      await second.close()
    }
  })

  it('says clearly that no bootstrap node is configured', async () => {
    await page.goto(app.url)
    await waitState('no-bootstrap')
    assert.match(await page.locator('#status').textContent() ?? '', /No bootstrap node configured/)
    // the identity is still there: the peer ID can be handed out before any network is set up
    assert.equal(await shownPeerId(), browserId)
    await page.screenshot({ path: join(OUTPUT, 'no-bootstrap.png') })
  })
})

describe('browser connection gater', () => {
  const BOOT = '12D3KooWHhQzYNMALggU3Z4vtbgGaVLs34NNGLPauNZ5gY69GcTy'
  const PEER = '12D3KooWFcmWo9t8EN52Sh1XAdvZvmq9FLtSeDRVGDqV1vr8riLr'
  const denied = (bootstrap: string[], addr: string): boolean => browserGater(bootstrap).denyDialMultiaddr?.(multiaddr(addr)) as boolean

  it('dials a LAN or loopback bootstrap node over plain WebSockets, and private addresses on that network', () => {
    const boot = [`/ip4/127.0.0.1/tcp/4002/ws/p2p/${BOOT}`]
    assert.equal(denied(boot, boot[0]), false)
    assert.equal(denied(boot, `${boot[0]}/p2p-circuit/p2p/${PEER}`), false)
    assert.equal(denied(boot, `/ip4/10.77.0.2/tcp/4002/ws/p2p/${PEER}`), false)
  })

  it('with a public bootstrap node, dials it and peers relayed through it, but no private address', () => {
    const boot = [`/dns4/boot.example.com/tcp/443/wss/p2p/${BOOT}`]
    assert.equal(denied(boot, `${boot[0]}/p2p-circuit/webrtc/p2p/${PEER}`), false)
    assert.equal(denied(boot, `/ip4/192.168.1.20/tcp/4002/ws/p2p/${PEER}`), true)
    // a plain-WebSocket public address (3fff::/20, the documentation prefix libp2p does not class as private) is fine from an http page
    assert.equal(denied(boot, `/ip6/3fff::7/tcp/4002/ws/p2p/${PEER}`), false)
  })

  it('on an https page, refuses plain WebSockets except to a bootstrap node', () => {
    const had = Object.getOwnPropertyDescriptor(globalThis, 'location')
    Object.defineProperty(globalThis, 'location', { value: { protocol: 'https:' }, configurable: true })
    try {
      const boot = [`/ip6/3fff::1/tcp/4002/ws/p2p/${BOOT}`]
      assert.equal(denied(boot, `${boot[0]}/p2p-circuit/p2p/${PEER}`), false)
      assert.equal(denied(boot, `/ip6/3fff::7/tcp/4002/ws/p2p/${PEER}`), true)
      assert.equal(denied(boot, `/ip6/3fff::7/tcp/4003/wss/p2p/${PEER}`), false)
    } finally {
      if (had != null) Object.defineProperty(globalThis, 'location', had)
      else delete (globalThis as any).location
    }
  })
})
