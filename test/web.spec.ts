/**
 * End to end: the built web app (dist/web, made by `npm run web:build`) in a real Chromium, with the
 * real bootstrap node and a chat node in Node.js. The page runs createChat() itself: IndexedDB for the
 * identity and the store, WebSockets to the bootstrap node, reachable through its relay reservation.
 * Screenshots go to test-output/web/.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { loadIdentity } from '../src/identity/index.js'
import { browserGater } from '../src/node/node.browser.js'
import { CHROMIUM, WEB_DIR, addContactInUi, openProfile as openBrowserProfile, serveBuiltApp } from './browser.js'
import { Cleanup, JsonClient, WEBRTC, freePort, startBootstrap, startChat, tempDir, until, waitFor } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Chat, IncomingMessage, RoomMessageEvent, StoredMessage } from '../src/index.js'
import type { Line } from './fixtures.js'
import type { Connection } from '@libp2p/interface'
import type { BrowserContext, Page } from 'playwright-core'

const OUTPUT = resolve('test-output/web')
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/
const WAIT_MS = 30_000
/** Browser to browser DMs go over the relay at once (a WebRTC upgrade, if any, follows in the background). */
const B2B_MS = 20_000

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
  /** the second browser profile (its own IndexedDB, so its own identity) */
  let pageB: Page
  let browserBId: string
  let invite: string
  /** the first profile's user-data-dir, opened again after its browser was closed */
  let profileA: string
  /** the terminal client (`--json` child process), its data directory and peer ID */
  let cli: JsonClient
  let cliData: string
  let cliId: string

  /** A Chromium profile in a user-data-dir: a new temporary one, or `profile` again (the same identity). */
  async function openProfile (name: string, existing?: string): Promise<{ context: BrowserContext, page: Page, profile: string }> {
    return await openBrowserProfile(cleanup, name, { existing, log: pageLog })
  }

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium package to run the web app tests)`)
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    await mkdir(OUTPUT, { recursive: true })
    app = cleanup.add(await serveBuiltApp())
    boot = cleanup.add(await startBootstrap())
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    assert.ok(ws != null, `the bootstrap node has no WebSocket address: ${boot.addresses().join(' ')}`)
    bootAddr = ws
    ;({ context, page, profile: profileA } = await openProfile('a'))
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

  async function shownPeerId (p = page): Promise<string> {
    return (await p.locator('#peer-id').textContent() ?? '').trim()
  }

  async function waitState (state: string, p = page): Promise<void> {
    await p.locator(`#status[data-state="${state}"]`).waitFor({ timeout: WAIT_MS })
  }

  /** Starts listening in the page now, so that an event fired before `received` is called is not missed. */
  async function expectInPage (event: 'message' | 'delivered', text: string, p = page): Promise<{ received(): Promise<any> }> {
    const key = `${event}:${text}`
    await p.evaluate(({ event, text, key }) => {
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
      received: async () => await p.evaluate(async ({ key, ms }) => await Promise.race([
        (window as any).expected[key],
        new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`timed out after ${ms} ms waiting for ${key} in the page`)) }, ms))
      ]), { key, ms: WAIT_MS })
    }
  }

  async function openConversation (p: Page, name: string): Promise<void> {
    await p.locator(`.list button[data-name="${name}"]`).click()
    await p.locator('#conversation-title', { hasText: name }).waitFor({ timeout: WAIT_MS })
  }

  /** Types a message into the open conversation's composer and presses Enter. */
  async function typeAndSend (p: Page, text: string): Promise<void> {
    const box = p.locator('#composer-input')
    await box.click()
    await box.pressSequentially(text)
    await box.press('Enter')
    await p.locator('.msg.out', { hasText: text }).first().waitFor({ timeout: WAIT_MS })
    assert.equal(await box.inputValue(), '', 'the composer is emptied once the message is stored')
  }

  async function shown (p: Page, selector: string, text: string): Promise<void> {
    await p.locator(selector, { hasText: text }).first().waitFor({ timeout: WAIT_MS })
  }

  /** Starts the terminal client in `--json` mode on `data`, with the test bootstrap node's TCP address; waits for its ready line. */
  async function startCli (data: string): Promise<{ client: JsonClient, ready: Line }> {
    const tcp = boot.addresses().find(a => !a.includes('/ws'))
    assert.ok(tcp != null, `the bootstrap node has no TCP address: ${boot.addresses().join(' ')}`)
    const client = cleanup.add(new JsonClient(['--json', '--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', tcp, '--no-webrtc'],
      { MEGACHAT_RETRY_MS: '500', MEGACHAT_FIND_TIMEOUT_MS: '5000' }))
    const ready = await client.next(() => true, 0, WAIT_MS, 'the first line')
    assert.equal(ready.type, 'ready', `the first line is the ready line: ${JSON.stringify(ready)}`)
    assert.match(ready.peerId, PEER_ID)
    return { client, ready }
  }

  /** A message line of the terminal client, after `from`, with this text (and in this room, or a DM). */
  async function cliGot (text: string, from: number, room?: string): Promise<Line> {
    return await cli.next(l => l.type === 'message' && l.text === text && l.room === room, from, WAIT_MS, `the message "${text}" in the terminal client`)
  }

  function outgoing (p: Page, text: string, state: 'pending' | 'delivered'): ReturnType<Page['locator']> {
    return p.locator(`.msg.out[data-state="${state}"]`, { hasText: text })
  }

  it('runs a chat node in the tab: shows its peer ID and gets a relay reservation', async () => {
    await page.goto(withBootstrap())
    await waitState('ready')
    browserId = await shownPeerId()
    assert.match(browserId, PEER_ID)
    assert.equal(await page.evaluate(() => (window as any).megachat.peerId.toString()), browserId)
    assert.match(await page.locator('#status').textContent() ?? '', /Connected to 1 peer/)
    // reachable only through the bootstrap node's relay
    const addrs: string[] = await page.evaluate(() => (window as any).megachat.addresses())
    assert.ok(addrs.some(a => a.includes(`${boot.peerId.toString()}/p2p-circuit`)), `no relay address: ${addrs.join(' ')}`)
    // the welcome screen's QR code is loaded lazily, in its own chunk
    await page.locator('svg.qr').waitFor({ timeout: WAIT_MS })
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
    // a stranger's message shows in the sidebar with an unread count
    const item = page.locator(`.list button[data-id="${node.peerId.toString()}"]`)
    await item.waitFor({ timeout: WAIT_MS })
    assert.equal((await item.locator('.badge').textContent())?.trim(), '1')
  })

  it('shows a stranger\'s messages as a message request: Block refuses them and deletes it, Settings unblocks, Accept adds them', async () => {
    const stranger = cleanup.add(await startChat({ bootstrapNode: boot }))
    const id = stranger.peerId.toString()
    await stranger.addContact(browserId, 'target')
    const inPage = await expectInPage('message', 'cheap watches, today only')
    await stranger.send('target', 'cheap watches, today only')
    assert.equal((await inPage.received()).request, true)
    await page.getByRole('heading', { name: 'Message requests' }).waitFor({ timeout: WAIT_MS })
    const item = page.locator(`.list button[data-id="${id}"]`)
    await item.click()
    const bar = page.getByRole('form', { name: 'Message request' })
    await bar.waitFor({ timeout: WAIT_MS })
    await page.screenshot({ path: join(OUTPUT, 'message-request.png') })

    page.once('dialog', (d) => { void d.accept() })
    await bar.getByRole('button', { name: 'Block' }).click()
    await item.waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.deepEqual(await page.evaluate(() => (window as any).megachat.blocked()), [id])
    assert.deepEqual(await page.evaluate(async (p) => (await (window as any).megachat.history(p)).length, id), 0)
    const tab = peerIdFromString(browserId)
    await until(() => stranger.libp2p.getConnections(tab).length === 0, WAIT_MS, 'the blocked peer\'s connection to the tab to close')
    // what they write now waits on their side
    const refused = waitFor(stranger, 'unreachable', u => u.peerId === browserId, WAIT_MS)
    await stranger.send('target', 'are you there?')
    await refused

    await page.getByRole('button', { name: 'Settings' }).click()
    await page.getByRole('button', { name: `Unblock ${id}` }).click()
    await page.getByRole('button', { name: `Unblock ${id}` }).waitFor({ state: 'detached', timeout: WAIT_MS })
    await page.getByRole('button', { name: 'Back to conversations' }).first().click()
    // unblocked: the waiting message arrives, as a request again; Accept adds them under the name typed
    await item.click({ timeout: WAIT_MS })
    await shown(page, '.msg.in', 'are you there?')
    await bar.getByRole('textbox', { name: 'Their name' }).fill('sam')
    await bar.getByRole('button', { name: 'Accept' }).click()
    await page.locator('#conversation-title', { hasText: 'sam' }).waitFor({ timeout: WAIT_MS })
    await bar.waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.ok(await page.evaluate((p) => (window as any).megachat.requests().every((r: any) => r.peerId !== p), id), 'the request is gone')
    // the tests after this one count the tab's contacts and connections without sam
    await stranger.stop()
    await page.evaluate(async (p) => { await (window as any).megachatModel.removeContact(p) }, id)
  })

  it('refuses an invalid peer ID in the Add-contact dialog with a clear inline error, and closes on Escape', async () => {
    await page.getByRole('button', { name: 'Add contact', exact: true }).first().click()
    const peer = page.locator('#add-contact-peer')
    assert.ok(await peer.evaluate(el => el === document.activeElement), 'the dialog focuses its first field')
    await peer.fill('12D3KooWnotarealpeerid')
    await page.locator('#add-contact-name').fill('typo')
    await page.getByRole('button', { name: 'Add contact', exact: true }).last().click()
    await shown(page, '#add-contact-error', 'not a valid peer ID')
    assert.equal(await peer.inputValue(), '12D3KooWnotarealpeerid', 'what was typed stays')
    await page.screenshot({ path: join(OUTPUT, 'add-contact-dialog.png') })
    await page.keyboard.press('Escape')
    await page.locator('dialog[open]').waitFor({ state: 'detached', timeout: WAIT_MS })
  })

  it('adds the Node.js peer in the dialog, sends it a DM with Enter and shows the delivered mark', async () => {
    const text = 'hello, Node, from the tab'
    const got = waitFor<IncomingMessage>(node, 'message', m => m.text === text, WAIT_MS)
    await addContactInUi(page, node.peerId.toString(), 'node')
    // the message that came before the contact was added is in the conversation
    await shown(page, '.msg.in', 'hello, tab, from Node')
    // the safety code both sides compute is shown for the contact
    assert.equal((await page.locator('.safety-inline .safety-code').textContent())?.trim(), node.safetyCode(browserId))
    await typeAndSend(page, text)
    const message = await got
    assert.equal(message.peer, browserId)
    await page.locator('.msg.out[data-state="delivered"]', { hasText: text }).waitFor({ timeout: WAIT_MS })
    assert.equal((await page.locator('.msg.out', { hasText: text }).locator('.tick').textContent())?.trim(), '✓')
    // and an answer from Node shows up in the open conversation
    const answer = 'got it, tab'
    await node.send('browser', answer)
    await shown(page, '.msg.in', answer)
    await page.getByRole('button', { name: 'Contact details and safety code' }).click()
    await page.locator('[data-testid="safety-code"]').waitFor({ timeout: WAIT_MS })
    await page.screenshot({ path: join(OUTPUT, 'conversation.png') })
    await page.getByRole('button', { name: 'Contact details and safety code' }).click()
  })

  it('shows an error inline for a message that is too long, and keeps the text', async () => {
    const long = 'x'.repeat(70_000)
    const box = page.locator('#composer-input')
    await box.fill(long)
    await box.press('Enter')
    await shown(page, '.composer-error', 'the limit is')
    assert.equal((await box.inputValue()).length, long.length)
    await box.fill('')
  })

  it('gets a direct WebRTC connection with the Node.js chat node, signalled through the relay', async function () {
    if (!WEBRTC) this.skip() // needs the test network namespace: WebRTC skips loopback
    const isDirect = (c: Connection): boolean => c.remotePeer.toString() === browserId && c.limits == null && WebRTC.matches(c.remoteAddr)
    if (!node.libp2p.getConnections().some(isDirect)) await waitFor<Connection>(node.libp2p, 'connection:open', isDirect, WAIT_MS)
    const inTab: boolean = await page.evaluate((peer) => (window as any).megachat.libp2p.getConnections()
      .some((c: any) => c.remotePeer.toString() === peer && c.limits == null && c.remoteAddr.toString().includes('/webrtc')), node.peerId.toString())
    assert.ok(inTab, 'the tab has no direct WebRTC connection to the Node.js peer')
    await page.locator('#status', { hasText: /Connected to 2 peers/ }).waitFor({ timeout: WAIT_MS })
  })

  it('shows the connection to a contact, and the tab\'s own NAT, relays and TURN, under Connection details', async () => {
    await openConversation(page, 'node')
    await page.getByRole('button', { name: 'Contact details and safety code' }).click()
    await page.getByRole('button', { name: 'Check the connection to node' }).click()
    const peer = page.getByTestId('diag-peer')
    await peer.waitFor({ timeout: WAIT_MS })
    assert.match(await peer.textContent() ?? '', WEBRTC ? /^connected to node directly over WebRTC/ : /^connected to node/)
    // the tab's STUN server is the bootstrap node's: on one machine, no NAT
    assert.match(await page.getByTestId('diag-nat').first().textContent() ?? '', /^no NAT|no STUN server/)
    assert.match(await page.getByTestId('diag-turn').first().textContent() ?? '', /none \(no bootstrap node of yours runs --turn\)/)
    // the tab's reservation on the bootstrap node's relay, and when it is renewed
    assert.match(await page.getByTestId('diag-reservation').first().textContent() ?? '', /^reservation on \S+ until .+, renews at .+/)
    await page.screenshot({ path: join(OUTPUT, 'connection-details.png') })
    await page.getByRole('button', { name: 'Contact details and safety code' }).click()
  })

  it('two browser profiles add each other in the dialog and exchange DMs, each seeing the delivered mark', async function () {
    this.timeout(120_000)
    ;({ page: pageB } = await openProfile('b'))
    await pageB.goto(withBootstrap())
    await waitState('ready', pageB)
    browserBId = await shownPeerId(pageB)
    assert.match(browserBId, PEER_ID)
    assert.notEqual(browserBId, browserId)
    await addContactInUi(page, browserBId, 'bea')
    await addContactInUi(pageB, browserId, 'ann')
    // the safety codes agree
    assert.equal(await page.locator('.safety-inline .safety-code').textContent(), await pageB.locator('.safety-inline .safety-code').textContent())

    await typeAndSend(page, 'hi Bea, this is Ann')
    await pageB.locator('.msg.in', { hasText: 'hi Bea, this is Ann' }).waitFor({ timeout: B2B_MS })
    await page.locator('.msg.out[data-state="delivered"]', { hasText: 'hi Bea, this is Ann' }).waitFor({ timeout: B2B_MS })

    // Shift+Enter makes a new line; Enter sends
    const box = pageB.locator('#composer-input')
    await box.click()
    await box.pressSequentially('hi Ann!')
    await box.press('Shift+Enter')
    await box.pressSequentially('two lines')
    await box.press('Enter')
    const got = page.locator('.msg.in', { hasText: 'two lines' })
    await got.waitFor({ timeout: B2B_MS })
    assert.equal(await got.locator('.text').textContent(), 'hi Ann!\ntwo lines')
    await pageB.locator('.msg.out[data-state="delivered"]', { hasText: 'two lines' }).waitFor({ timeout: B2B_MS })
    await pageB.screenshot({ path: join(OUTPUT, 'browser-b-conversation.png') })
  })

  it('a room: the first browser creates it, the second joins by the invite link, the Node.js peer too; all see all', async () => {
    await page.getByRole('button', { name: 'Create room' }).click()
    await page.locator('#create-room-name').fill('friends')
    await page.locator('#create-room-name').press('Enter')
    const link = page.locator('#invite-link')
    await link.waitFor({ timeout: WAIT_MS })
    invite = await link.inputValue()
    assert.match(invite, /^megachat:\/\/room\/[A-Za-z0-9_-]+$/)
    await page.getByRole('button', { name: 'Copy the invite link' }).click()
    assert.equal(await page.evaluate(async () => await navigator.clipboard.readText()), invite)
    await page.getByRole('button', { name: 'Open the room' }).click()
    await page.locator('#conversation-title', { hasText: 'friends' }).waitFor({ timeout: WAIT_MS })

    await pageB.getByRole('button', { name: 'Join', exact: true }).click()
    // a link cut short when it was copied: said in plain words, and what was pasted stays to be fixed
    await pageB.locator('#join-room-invite').fill(invite.slice(0, -6))
    await pageB.locator('#join-room-invite').press('Enter')
    await pageB.locator('#join-room-error').waitFor({ timeout: WAIT_MS })
    assert.equal(await pageB.locator('#join-room-error').textContent(), 'This invite link is cut short: copy the whole link and try again')
    assert.equal(await pageB.locator('#join-room-invite').inputValue(), invite.slice(0, -6))
    await pageB.screenshot({ path: join(OUTPUT, 'invite-cut-short.png') })
    await pageB.locator('#join-room-invite').fill(invite)
    await pageB.locator('#join-room-invite').press('Enter')
    await pageB.locator('#conversation-title', { hasText: 'friends' }).waitFor({ timeout: WAIT_MS })
    const room = await node.joinRoom(invite)
    assert.equal(room.name, 'friends')

    const roomId = room.roomId
    const members = async (p: Page): Promise<number> => await p.evaluate((id) => (window as any).megachat.members(id).length, roomId)
    /** who sees whom in the room, over which connections (said when something below does not happen) */
    const seen = async (err: Error): Promise<never> => {
      const inTab = async (p: Page): Promise<unknown> => await p.evaluate((id) => {
        const chat = (window as any).megachat
        return { members: chat.members(id), connections: chat.libp2p.getConnections().map((c: any) => `${c.remotePeer.toString().slice(-6)} ${c.direct === true ? 'direct' : 'relayed'} ${c.status} ${c.remoteAddr.toString().slice(0, 40)}`) }
      }, roomId)
      const short = (id: string): string => id.slice(-6)
      // (gossipsub's own state, read for this message only)
      const gossipStreams = [...((node.libp2p.services.pubsub as any).streamsOutbound?.keys() ?? [])].map(short)
      throw new Error(`${err.message}: ann ${short(browserId)} ${JSON.stringify(await inTab(page))}; bea ${short(browserBId)} ${JSON.stringify(await inTab(pageB))}; ` +
        `node ${short(node.peerId.toString())} ${JSON.stringify({ members: node.members(roomId), gossipStreamsTo: gossipStreams, connections: node.libp2p.getConnections().map(c => `${c.remotePeer.toString().slice(-6)} ${c.direct ? 'direct' : 'relayed'} ${c.status}`) })}`)
    }
    await until(async () => node.members(roomId).length === 3 && await members(page) === 3 && await members(pageB) === 3, 60_000, 'all three members online in the room').catch(seen)
    // the room's header follows (on the room:members event)
    await page.locator('.conv-header', { hasText: '3 online · encrypted room' }).waitFor({ timeout: WAIT_MS })

    const fromNode = waitFor<RoomMessageEvent>(node, 'room:message', m => m.text === 'Ann here, in the room', WAIT_MS)
    await typeAndSend(page, 'Ann here, in the room')
    await shown(pageB, '.msg.in', 'Ann here, in the room')
    assert.equal((await fromNode).from, browserId)

    const fromB = waitFor<RoomMessageEvent>(node, 'room:message', m => m.text === 'Bea too', WAIT_MS)
    await typeAndSend(pageB, 'Bea too')
    await shown(page, '.msg.in', 'Bea too')
    await fromB

    await node.say(roomId, 'and Node')
    await shown(page, '.msg.in', 'and Node').catch(async (err: Error) => await seen(new Error(`on ann: ${err.message}`)))
    await shown(pageB, '.msg.in', 'and Node').catch(async (err: Error) => await seen(new Error(`on bea: ${err.message}`)))
    // authors: a contact's name in the room, or a short peer ID for someone who is not a contact
    await shown(page, '.msg.in .author', 'bea')
    await shown(pageB, '.msg.in .author', node.peerId.toString().slice(0, 6))
    await page.screenshot({ path: join(OUTPUT, 'room.png') })
    await page.getByRole('button', { name: 'Room details and invite link' }).click()
    await page.screenshot({ path: join(OUTPUT, 'room-details.png') })
  })

  it('Leave room asks first: Cancel keeps the room, OK leaves it', async () => {
    await page.getByRole('button', { name: 'Create room' }).click()
    await page.locator('#create-room-name').fill('scratch')
    await page.locator('#create-room-name').press('Enter')
    await page.getByRole('button', { name: 'Open the room' }).click()
    await page.locator('#conversation-title', { hasText: 'scratch' }).waitFor({ timeout: WAIT_MS })
    const rooms = async (): Promise<string[]> => await page.evaluate(() => (window as any).megachat.listRooms().map((r: any) => r.name))
    const details = page.getByRole('button', { name: 'Room details and invite link' })
    if (await details.getAttribute('aria-expanded') !== 'true') await details.click()
    const asked: string[] = []
    page.once('dialog', (d) => { asked.push(d.message()); void d.dismiss() })
    await page.getByRole('button', { name: 'Leave room' }).click()
    await until(() => asked.length === 1, WAIT_MS, 'the question')
    assert.equal(asked[0], 'Leave this room? Its messages are forgotten on this device.')
    assert.ok((await rooms()).includes('scratch'), 'Cancel keeps the room')
    page.once('dialog', (d) => { void d.accept() })
    await page.getByRole('button', { name: 'Leave room' }).click()
    await until(async () => !(await rooms()).includes('scratch'), WAIT_MS, 'the room left')
  })

  it('shows the settings page and a phone-sized layout', async () => {
    await page.getByRole('button', { name: 'Settings' }).click()
    await page.locator('#settings-bootstrap').waitFor({ timeout: WAIT_MS })
    assert.match(await page.locator('.settings').textContent() ?? '', /from the page address/)
    await page.screenshot({ path: join(OUTPUT, 'settings.png') })
    await page.getByRole('button', { name: 'Back to conversations' }).click()

    await page.setViewportSize({ width: 390, height: 844 })
    try {
      // one column: the list first, then the conversation with a way back
      assert.equal(await page.locator('.main').isVisible(), false)
      await page.screenshot({ path: join(OUTPUT, 'phone-list.png') })
      await openConversation(page, 'node')
      assert.equal(await page.locator('.sidebar').isVisible(), false)
      await page.screenshot({ path: join(OUTPUT, 'phone-conversation.png') })
      await page.getByRole('button', { name: 'Back to conversations' }).click()
      await page.locator('.sidebar').waitFor({ timeout: WAIT_MS })
    } finally {
      await page.setViewportSize({ width: 1100, height: 720 })
    }
  })

  it('keeps its identity, contacts, rooms and history across a reload (IndexedDB), visible in the interface', async () => {
    await page.reload()
    await waitState('ready')
    assert.equal(await shownPeerId(), browserId)
    const kept = await page.evaluate(async () => {
      const chat = (window as any).megachat
      const contacts = await chat.contacts()
      const history = await chat.history('node')
      return { contacts: contacts.map((c: any) => c.name), history: history.map((m: any) => `${m.direction} ${m.state ?? ''} ${m.text}`.replace(/ +/g, ' ')) }
    })
    assert.deepEqual(kept.contacts, ['bea', 'node'])
    assert.deepEqual(kept.history, ['in hello, tab, from Node', 'out delivered hello, Node, from the tab', 'in got it, tab'])
    assert.deepEqual(await page.locator('#contact-list button').evaluateAll(els => els.map(e => e.getAttribute('data-name'))), ['bea', 'node'])
    assert.deepEqual(await page.locator('#room-list button').evaluateAll(els => els.map(e => e.getAttribute('data-name'))), ['friends'])
    await openConversation(page, 'node')
    await shown(page, '.msg.in', 'hello, tab, from Node')
    await page.locator('.msg.out[data-state="delivered"]', { hasText: 'hello, Node, from the tab' }).waitFor({ timeout: WAIT_MS })
    await openConversation(page, 'friends')
    await shown(page, '.msg.in', 'and Node')
    await page.screenshot({ path: join(OUTPUT, 'after-reload.png') })
  })

  it('reads the tab\'s IndexedDB by key range, as datastore-idb wrote it (src/store/idb.ts pinned)', async () => {
    const seen = await page.evaluate(async () => {
      const ds = (window as any).megachatInternals.store.datastore
      const key = (s: string): { toString(): string } => ({ toString: () => s })
      // written by datastore-idb itself, out of order, with neighbours that share part of the prefix
      for (const k of ['/pin/b/3', '/pin/b/1', '/pin/bb/1', '/pin/a/9', '/pin/b/2', '/pin/b/4']) {
        await ds.put(key(k), new TextEncoder().encode(k)) // the adapter writes as the library does: this is its put
      }
      const strings = async (it: AsyncIterable<any>): Promise<string[]> => { const out: string[] = []; for await (const x of it) out.push(String(x.key ?? x)); return out }
      const library = Object.getPrototypeOf(Object.getPrototypeOf(ds))
      return {
        ranged: ds.database != null,
        keys: await strings(ds.queryKeys({ prefix: '/pin/b/' })),
        pairs: (await strings(ds.query({ prefix: '/pin/b/', offset: 1, limit: 2 }))),
        values: await (async () => { const out: string[] = []; for await (const { value } of ds.query({ prefix: '/pin/b/', filters: [(p: any) => !String(p.key).endsWith('3')] })) out.push(new TextDecoder().decode(value)); return out })(),
        last: (await ds.readRange('/pin/b/', { limit: 2, last: true })).map((e: any) => `${String(e.key)}=${new TextDecoder().decode(e.value)}`),
        after: (await ds.readRange('/pin/b/', { limit: 2, after: '/pin/b/1' })).map((e: any) => `${String(e.key)}=${new TextDecoder().decode(e.value)}`),
        rest: (await ds.readRange('/pin/b/', { limit: Infinity, after: '/pin/b/2' })).map((e: any) => String(e.key)),
        lastAfter: (await ds.readRange('/pin/b/', { limit: 9, after: '/pin/b/2', last: true })).map((e: any) => String(e.key)),
        none: await ds.readRange('/pin/c/', { limit: 5, last: true }),
        library: (await strings(library.queryKeys.call(ds, { prefix: '/pin/b/' }))).sort()
      }
    })
    assert.equal(seen.ranged, true, 'datastore-idb still has its database handle where the adapter looks')
    assert.deepEqual(seen.keys, ['/pin/b/1', '/pin/b/2', '/pin/b/3', '/pin/b/4'])
    assert.deepEqual(seen.library, seen.keys, 'the same keys as datastore-idb\'s own query')
    assert.deepEqual(seen.pairs, ['/pin/b/2', '/pin/b/3'])
    assert.deepEqual(seen.values, ['/pin/b/1', '/pin/b/2', '/pin/b/4'])
    assert.deepEqual(seen.last, ['/pin/b/3=/pin/b/3', '/pin/b/4=/pin/b/4'])
    assert.deepEqual(seen.after, ['/pin/b/2=/pin/b/2', '/pin/b/3=/pin/b/3'])
    assert.deepEqual(seen.rest, ['/pin/b/3', '/pin/b/4'])
    assert.deepEqual(seen.lastAfter, ['/pin/b/3', '/pin/b/4'])
    assert.deepEqual(seen.none, [])
  })

  it('a second tab waits while the first is open, says so, and takes over when the first is closed', async () => {
    const second = await context.newPage()
    second.on('console', msg => { pageLog.push(`[a2 ${msg.type()}] ${msg.text()}`) })
    await second.goto(withBootstrap())
    const status = second.locator('#status', { hasText: 'open in another tab' })
    await status.waitFor({ timeout: WAIT_MS })
    assert.equal(await status.textContent(), 'MegaChat is open in another tab of this browser. This tab takes over when that one is closed.')
    assert.equal(await second.locator('#status').getAttribute('data-state'), 'starting')
    await second.screenshot({ path: join(OUTPUT, 'second-tab-waiting.png') })
    // the first tab runs on meanwhile, and the second has started nothing
    assert.equal(await shownPeerId(), browserId)
    assert.equal(await second.evaluate(() => (window as any).megachat == null), true)

    await page.close()
    page = second
    await waitState('ready')
    assert.equal(await shownPeerId(), browserId, 'the same identity')
    await page.locator('#start-notice', { hasText: 'The other MegaChat tab was closed: this tab has taken over.' }).waitFor({ timeout: WAIT_MS })
    assert.deepEqual(await page.locator('#contact-list button').evaluateAll(els => els.map(e => e.getAttribute('data-name'))), ['bea', 'node'])
    await page.screenshot({ path: join(OUTPUT, 'second-tab-took-over.png') })
    await page.locator('#start-notice').getByRole('button', { name: 'OK' }).click()
    assert.equal(await page.locator('#start-notice').count(), 0)
  })

  it('refuses to start on a plain-http page from another address (no Web Crypto), says why, and links to localhost', async () => {
    const log: string[] = []
    // megachat.test is this machine, but not "localhost" to the browser: a page from it over http is not a secure context
    const { context: lanContext, page: lan } = await openBrowserProfile(cleanup, 'lan', { args: ['--host-resolver-rules=MAP megachat.test 127.0.0.1'], log })
    const port = new URL(app.url).port
    await lan.goto(`http://megachat.test:${port}/?bootstrap=${encodeURIComponent(bootAddr)}`)
    await lan.locator('#status[data-state="error"]').waitFor({ timeout: WAIT_MS })
    assert.equal(await lan.locator('#status').textContent(), 'MegaChat cannot run on this page: it is not a secure one.')
    assert.match(await lan.locator('.not-secure').textContent() ?? '', /plain http:\/\/ from megachat\.test:\d+, so the browser keeps its cryptography \(Web Crypto\) from it/)
    assert.match(await lan.locator('.not-secure').textContent() ?? '', /served over HTTPS/)
    const local = `http://localhost:${port}/?bootstrap=${encodeURIComponent(bootAddr)}`
    assert.equal(await lan.locator('#local-url').getAttribute('href'), local)
    assert.equal(await lan.evaluate(() => ({ secure: window.isSecureContext, chat: (window as any).megachat != null })).then(JSON.stringify), JSON.stringify({ secure: false, chat: false }))
    assert.equal(await lan.locator('#peer-id').count(), 0)
    await lan.screenshot({ path: join(OUTPUT, 'not-secure.png') })
    await lan.setViewportSize({ width: 390, height: 800 })
    await lan.screenshot({ path: join(OUTPUT, 'not-secure-phone.png') })

    // the way out it offers works: the same server as http://localhost runs the app
    await lan.locator('#local-url').click()
    await lan.locator('#peer-id').waitFor({ timeout: WAIT_MS })
    assert.match(await shownPeerId(lan), PEER_ID)
    assert.equal(new URL(lan.url()).hostname, 'localhost')
    await lanContext.close()
  })

  it('says clearly that no bootstrap node is configured', async () => {
    await page.goto(app.url)
    await waitState('no-bootstrap')
    assert.match(await page.locator('#status').textContent() ?? '', /No bootstrap node configured/)
    // the identity is still there: the peer ID can be handed out before any network is set up
    assert.equal(await shownPeerId(), browserId)
    await page.screenshot({ path: join(OUTPUT, 'no-bootstrap.png') })
  })

  it('says when the bootstrap node is not reachable and that it retries, until it is reached', async () => {
    const bootDir = cleanup.dir(await tempDir('megachat-web-boot-'))
    const bootId = (await loadIdentity(bootDir)).peerId.toString()
    const port = await freePort()
    await page.goto(`${app.url}?bootstrap=${encodeURIComponent(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${bootId}`)}`)
    await waitState('unreachable')
    // a browser does not say why a WebSocket failed (the tab may have reached a contact directly: 'N other peers connected.')
    assert.match(await page.locator('#status').textContent() ?? '', /^Bootstrap node not reachable \(connection failed\) — retrying\./)
    assert.match(await page.locator('#bootstrap-banner').textContent() ?? '', new RegExp(`The bootstrap node 127\\.0\\.0\\.1:${port} is not reachable \\(connection failed\\): contacts cannot be found until it is\\.`))
    await page.screenshot({ path: join(OUTPUT, 'bootstrap-unreachable.png') })
    // the node comes up at that address with that identity: the tab reaches it at its next try
    cleanup.add(await createBootstrapNode({ dataDir: bootDir, listen: [`/ip4/127.0.0.1/tcp/${port}/ws`], stunPort: false }))
    const nextTry: number = await page.evaluate(() => (window as any).megachat.bootstrapStatus()[0].nextRetryAt ?? Date.now())
    await page.locator('#status[data-state="ready"]').waitFor({ timeout: Math.max(0, nextTry - Date.now()) + WAIT_MS })
    assert.equal(await page.locator('#bootstrap-banner').count(), 0)
  })

  it('talks with the terminal client (the --json child process) both ways, with delivered marks on each side', async () => {
    await page.goto(withBootstrap())
    await waitState('ready')
    cliData = cleanup.dir(await tempDir('megachat-web-cli-'))
    let ready: Line
    ;({ client: cli, ready } = await startCli(cliData))
    cliId = ready.peerId
    // as when a person hands out the peer ID: by then the bootstrap node (the DHT the tab asks) knows the
    // terminal client's relay address over WebSockets, the one a tab can dial (identify push brings it
    // a second or two after the reservation)
    await until(async () => (await boot.libp2p.peerStore.get(peerIdFromString(cliId)).catch(() => ({ addresses: [] }))).addresses
      .some(a => a.multiaddr.toString().includes('/ws/') && a.multiaddr.toString().includes('/p2p-circuit')), WAIT_MS, 'the terminal client\'s relay address in the bootstrap node')

    // the tab adds the terminal client in the dialog and writes to it
    const toCli = 'hello, terminal, from the tab'
    const from = cli.mark()
    await addContactInUi(page, cliId, 'term')
    await typeAndSend(page, toCli)
    const got = await cliGot(toCli, from)
    assert.equal(got.from, browserId)
    assert.equal(got.name, undefined, 'the tab is not yet one of the terminal client\'s contacts')
    assert.match(got.id, /^[0-9a-f]{32}$/)
    await outgoing(page, toCli, 'delivered').waitFor({ timeout: WAIT_MS })
    assert.equal(await page.locator(`.msg.out[data-id="${String(got.id)}"]`).count(), 1, 'the tab shows the id the terminal client got')

    // and the terminal client answers
    const added = await cli.command(`/add ${browserId} web`, ['contact', 'error'])
    assert.equal(added.type, 'contact', JSON.stringify(added))
    assert.equal(added.safetyCode, (await page.locator('.safety-inline .safety-code').textContent())?.trim(), 'both sides show the same safety code')
    const toTab = 'hi tab, the terminal here'
    const mark = cli.mark()
    const sent = await cli.command(`/msg web ${toTab}`, ['sent', 'error'])
    assert.equal(sent.type, 'sent', JSON.stringify(sent))
    assert.equal(sent.to, browserId)
    await shown(page, '.msg.in', toTab)
    assert.equal(await page.locator(`.msg.in[data-id="${String(sent.id)}"]`).count(), 1)
    const delivered = await cli.next(l => l.type === 'delivered' && l.id === sent.id, mark, WAIT_MS, 'delivered')
    assert.equal(delivered.to, browserId)
    await page.screenshot({ path: join(OUTPUT, 'cli-conversation.png') })
    assert.deepEqual(cli.notJson, [])
  })

  it('a room made in the tab: the terminal client joins by the invite link, and each sees the other\'s messages', async () => {
    await page.getByRole('button', { name: 'Create room' }).click()
    await page.locator('#create-room-name').fill('crew')
    await page.locator('#create-room-name').press('Enter')
    const link = page.locator('#invite-link')
    await link.waitFor({ timeout: WAIT_MS })
    const crewInvite = await link.inputValue()
    await page.getByRole('button', { name: 'Open the room' }).click()
    await page.locator('#conversation-title', { hasText: 'crew' }).waitFor({ timeout: WAIT_MS })

    const joined = await cli.command(`/join ${crewInvite}`, ['room', 'error'])
    assert.equal(joined.type, 'room', JSON.stringify(joined))
    assert.equal(joined.action, 'joined')
    assert.equal(joined.name, 'crew')

    // said at once, without waiting for the mesh: live if it has formed, from the room history otherwise
    const fromTab = 'the tab, in crew'
    const from = cli.mark()
    await typeAndSend(page, fromTab)
    const got = await cliGot(fromTab, from, 'crew')
    assert.equal(got.from, browserId)

    const fromCli = 'the terminal, in crew'
    const said = await cli.command(`/say crew ${fromCli}`, ['said', 'error'])
    assert.equal(said.type, 'said', JSON.stringify(said))
    await shown(page, '.msg.in', fromCli)
    await shown(page, '.msg.in .author', 'term') // the terminal client is a contact: shown by its name
    const history = await cli.command('/room-history crew', 'room-history')
    assert.deepEqual(history.messages.map((m: Line) => m.text), [fromTab, fromCli])
    await page.screenshot({ path: join(OUTPUT, 'cli-room.png') })
  })

  it('a message to the stopped terminal client waits (⋯) and is delivered when it starts again on the same data directory', async () => {
    const stopped = cli
    stopped.kill('SIGTERM')
    const exit = await stopped.exited
    assert.equal(exit.code, 0, exit.stderr)
    assert.deepEqual(stopped.lines[stopped.lines.length - 1], { type: 'stopped' })
    await openConversation(page, 'term')
    await page.locator(`#contact-list button[data-id="${cliId}"] .presence[data-online="false"]`).waitFor({ timeout: WAIT_MS })

    const text = 'are you there, terminal?'
    await typeAndSend(page, text)
    await outgoing(page, text, 'pending').waitFor({ timeout: WAIT_MS })
    assert.equal((await page.locator('.msg.out', { hasText: text }).locator('.tick').textContent())?.trim(), '⋯')
    await page.screenshot({ path: join(OUTPUT, 'cli-pending.png') })

    let ready: Line
    ;({ client: cli, ready } = await startCli(cliData))
    assert.equal(ready.peerId, cliId, 'the same data directory, the same identity')
    const got = await cliGot(text, 0)
    assert.equal(got.from, browserId)
    assert.equal(got.name, 'web')
    await outgoing(page, text, 'delivered').waitFor({ timeout: WAIT_MS })
    assert.equal((await page.locator('.msg.out', { hasText: text }).locator('.tick').textContent())?.trim(), '✓')
    assert.equal(cli.lines.filter(l => l.type === 'message' && l.text === text).length, 1, 'shown once')
  })

  it('a message from the terminal client to the closed browser waits, and arrives when the same profile is opened again', async () => {
    await context.close()
    const text = 'for when the tab is back'
    const mark = cli.mark()
    const sent = await cli.command(`/msg web ${text}`, ['sent', 'error'])
    assert.equal(sent.type, 'sent', JSON.stringify(sent))
    // tried, and not delivered: the tab is gone
    await cli.next(l => l.type === 'unreachable' && l.to === browserId, mark, WAIT_MS, 'unreachable')
    const waiting = await cli.command('/history web 1', 'history')
    assert.deepEqual(waiting.messages.map((m: Line) => [m.id, m.state]), [[sent.id, 'pending']])
    assert.equal(cli.lines.slice(mark).some(l => l.type === 'delivered'), false)

    // the same user-data-dir: the same IndexedDB, so the same identity
    ;({ context, page } = await openProfile('a', profileA))
    await page.goto(withBootstrap())
    await waitState('ready')
    assert.equal(await shownPeerId(), browserId)
    const delivered = await cli.next(l => l.type === 'delivered' && l.id === sent.id, mark, WAIT_MS, 'delivered')
    assert.equal(delivered.to, browserId)
    await openConversation(page, 'term')
    await shown(page, '.msg.in', text)
    assert.equal(await page.locator(`.msg.in[data-id="${String(sent.id)}"]`).count(), 1, 'shown once')
    await page.screenshot({ path: join(OUTPUT, 'cli-after-reopen.png') })
    assert.deepEqual(cli.notJson, [])
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
