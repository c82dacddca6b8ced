/**
 * Files between the web app in Chromium and a Node.js chat node, with the real transfer engine: the
 * attach button and a drop send from the tab (bytes kept in and served from OPFS), and a picture from
 * the node is fetched without asking (a contact's, under the automatic size), written to OPFS and shown
 * inline. Runs once src/files/index.ts is part of the Chat; before that it says why it cannot.
 */
import assert from 'node:assert/strict'
import { existsSync, openAsBlob } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { CHROMIUM, WEB_DIR, attach, drop, openProfile, pollPage, serveBuiltApp } from './browser.js'
import { Cleanup, startBootstrap, startChat, tempDir, waitFor } from './fixtures.js'
import type { Chat } from '../src/index.js'
import type { FileSource, FileTransfer } from '../src/files/types.js'
import type { Page } from 'playwright-core'

const WAIT_MS = 60_000

describe('files between the web app and a Node.js client', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  const log: string[] = []
  let page: Page
  let node: Chat & { sendFile?: (ref: string, source: FileSource) => Promise<FileTransfer> }
  let dir: string

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM})`)
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    const boot = cleanup.add(await startBootstrap())
    dir = cleanup.dir(await tempDir())
    node = cleanup.add(await startChat({ bootstrapNode: boot, dataDir: join(dir, 'node') }))
    if (typeof node.sendFile !== 'function') {
      console.warn('      (not run: the Chat has no sendFile yet — the transfer engine, src/files/index.ts, is not merged)')
      this.skip()
    }
    const app = cleanup.add(await serveBuiltApp())
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    assert.ok(ws != null)
    ;({ page } = await openProfile(cleanup, 'files-e2e', { log }))
    await page.goto(`${app.url}?bootstrap=${encodeURIComponent(ws)}`)
    await page.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
    const browserId: string = await page.evaluate(() => (window as any).megachat.peerId.toString())
    await node.addContact(browserId, 'browser')
    await page.evaluate(async (id) => { await (window as any).megachatModel.addContact(id, 'node') }, node.peerId.toString())
    await page.locator('.list button[data-name="node"]').click()
  })

  after(async () => { await cleanup.run() })
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(`      page log (last 40 lines):\n${log.slice(-40).map(l => `        ${l}`).join('\n')}`)
  })

  it('sends a file from the attach button and one dropped on the conversation; the node gets the same bytes', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17)
    const first = waitFor<FileTransfer>(node, 'file-done', t => t.name === 'data.bin', WAIT_MS)
    await attach(page, [{ name: 'data.bin', mimeType: 'application/octet-stream', buffer: bytes }])
    const got = await first
    assert.ok(got.path != null && (await readFile(got.path)).equals(bytes), 'the node has the same bytes')
    await page.locator('.msg.out .file', { hasText: 'data.bin' }).waitFor({ timeout: WAIT_MS })
    assert.equal(await page.locator('.msg.out .file', { hasText: 'data.bin' }).count(), 1, 'one bubble: the offer message took the early one\'s place')

    const second = waitFor<FileTransfer>(node, 'file-done', t => t.name === 'notes.txt', WAIT_MS)
    await drop(page, { name: 'notes.txt', mimeType: 'text/plain', bytes: [...Buffer.from('bring the tent\n')] })
    const dropped = await second
    assert.equal(await readFile(dropped.path!, 'utf8'), 'bring the tent\n')
  })

  it('fetches a picture from the node without asking, and shows it inline', async () => {
    const png: number[] = await page.evaluate(async () => {
      const c = new OffscreenCanvas(800, 600)
      const ctx = c.getContext('2d')!
      ctx.fillStyle = '#3a1c71'
      ctx.fillRect(0, 0, 800, 600)
      ctx.fillStyle = '#feb47b'
      ctx.fillRect(100, 100, 300, 200)
      return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer())]
    })
    const path = join(dir, 'pic.png')
    await writeFile(path, Buffer.from(png))
    const t = await node.sendFile!('browser', { name: 'pic.png', type: 'image/png', blob: await openAsBlob(path), path })
    try {
      await page.locator(`.file[data-file="${t.id}"] .file-image img[src^="blob:"]`).waitFor({ timeout: WAIT_MS })
    } catch (err: any) {
      // what each side knew of the transfer, for the failure's message
      const tab = await page.evaluate((id) => JSON.stringify((window as any).megachat.files.get(id) ?? null), t.id).catch((e: Error) => e.message)
      const mine = JSON.stringify(node.files.get(t.id) ?? null)
      const links = await page.evaluate(() => JSON.stringify((window as any).megachat.connections())).catch((e: Error) => e.message)
      throw new Error(`${String(err.message).split('\n')[0]}; the tab's transfer: ${tab}; the node's: ${mine}; the tab's connections: ${links}`)
    }
    const size = await pollPage(page, async (id) => (await (window as any).megachat.files.blob(id))?.size, t.id, 'the picture in OPFS', WAIT_MS)
    assert.equal(size, png.length)
  })
})
