/**
 * Files in the web app, in a real Chromium: the attach button, a drop and a pasted picture drive
 * `chat.sendFile`; a file's bubble follows its transfer's states; pictures show inline and open in a
 * lightbox; the automatic download size is a setting. The tab runs alone (no bootstrap node, no peer):
 * `recordSends()` stands in for the transfer engine's sending and `fakeTransfer()` for its events, on the
 * live `window.megachat`. With the engine in the Chat, the same steps (`attach`, `drop`, `paste`) drive the
 * real one; an end-to-end test then waits for the offer on the other side instead of reading `window.sent`.
 * Screenshots go to test-output/web-files/.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CHROMIUM, WEB_DIR, attach, drop, openProfile, pollPage, serveBuiltApp } from './browser.js'
import { Cleanup } from './fixtures.js'
import type { FileTransfer } from '../src/files/types.js'
import type { Page } from 'playwright-core'

const MiB = 2 ** 20

const OUTPUT = resolve('test-output/web-files')
const WAIT_MS = 20_000

/** What the stand-in sendFile was given, as the page saw it. */
interface Sent {
  ref: string
  name: string
  type?: string
  size: number
  isBlob: boolean
  thumbnail?: { bytes: number, riff: string, webp: string, width: number, height: number }
}

/** A picture made in the page (a gradient with shapes: a real photo's preview does not fit 16 KiB at full quality). */
async function picture (page: Page, width: number, height: number): Promise<Buffer> {
  const base64: string = await page.evaluate(async ({ width, height }) => {
    const canvas = new OffscreenCanvas(width, height)
    const ctx = canvas.getContext('2d')!
    const g = ctx.createLinearGradient(0, 0, width, height)
    g.addColorStop(0, '#ff7e5f')
    g.addColorStop(0.5, '#feb47b')
    g.addColorStop(1, '#3a1c71')
    ctx.fillStyle = g
    ctx.fillRect(0, 0, width, height)
    for (let i = 0; i < 300; i++) {
      ctx.fillStyle = `hsl(${(i * 37) % 360} 80% ${30 + (i % 50)}% / 0.5)`
      ctx.beginPath()
      ctx.arc((i * 97) % width, (i * 61) % height, 10 + (i % 40), 0, Math.PI * 2)
      ctx.fill()
    }
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())
    let binary = ''
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
    return btoa(binary)
  }, { width, height })
  return Buffer.from(base64, 'base64')
}

/**
 * Replaces chat.sendFile in the page with one that records what it is given (in `window.sent`), keeps
 * the Blob for chat.files.blob, and reports the transfer as the engine would (file-offer, state 'serving').
 * chat.files answers for the transfers these fakes made up (`window.fakes`) before asking the engine (or
 * the web app's stand-in), and records fetch and cancel calls in `window.calls`.
 */
async function recordSends (page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any
    const chat = w.megachat
    w.sent = []
    w.blobs = new Map()
    w.calls = []
    w.fakes = new Map()
    const { get, list } = chat.files
    chat.files.get = (id: string) => w.fakes.get(id) ?? get.call(chat.files, id)
    chat.files.list = (conversation?: string) => [...w.fakes.values(), ...list.call(chat.files, conversation)]
    chat.files.blob = async (id: string) => w.blobs.get(id)
    chat.files.fetch = async (id: string) => { w.calls.push(`fetch ${id}`) }
    chat.files.cancel = async (id: string) => { w.calls.push(`cancel ${id}`) }
    chat.sendFile = async (ref: string, source: { name: string, type?: string, blob: Blob, thumbnail?: Uint8Array }) => {
      const rec: Record<string, unknown> = { ref, name: source.name, type: source.type, size: source.blob.size, isBlob: source.blob instanceof Blob }
      if (source.thumbnail != null) {
        const t = source.thumbnail
        const bitmap = await createImageBitmap(new Blob([t as Uint8Array<ArrayBuffer>], { type: 'image/webp' }))
        const ascii = (a: number, b: number): string => String.fromCharCode(...t.slice(a, b))
        rec.thumbnail = { bytes: t.byteLength, riff: ascii(0, 4), webp: ascii(8, 12), width: bitmap.width, height: bitmap.height }
      }
      w.sent.push(rec)
      const id = [...crypto.getRandomValues(new Uint8Array(16))].map(b => b.toString(16).padStart(2, '0')).join('')
      w.blobs.set(id, source.blob)
      const transfer = {
        id, conversation: ref, room: false, from: chat.peerId.toString(), direction: 'out', name: source.name,
        size: source.blob.size, type: source.type ?? '', thumbnail: source.thumbnail, state: 'serving', bytes: 0, rate: 0
      }
      w.fakes.set(id, transfer)
      chat.dispatchEvent(new CustomEvent('file-offer', { detail: transfer }))
      return transfer
    }
  })
}

/** Dispatches a file event on the page's Chat, as the engine does. */
async function fakeTransfer (page: Page, event: 'file-offer' | 'file-progress' | 'file-done' | 'file-error', t: Partial<FileTransfer> & { id: string }): Promise<void> {
  await page.evaluate(({ event, t }) => {
    const detail = { ...t, thumbnail: t.thumbnail != null ? new Uint8Array(t.thumbnail as unknown as number[]) : undefined }
    ;(window as any).fakes.set(t.id, detail)
    ;(window as any).megachat.dispatchEvent(new CustomEvent(event, { detail }))
  }, { event, t: { ...t, thumbnail: t.thumbnail != null ? [...t.thumbnail] as unknown as Uint8Array : undefined } })
}

async function sentSoFar (page: Page, n: number): Promise<Sent[]> {
  return await pollPage(page, (n) => (window as any).sent.length >= n ? (window as any).sent : false, n, `${n} files given to chat.sendFile`, WAIT_MS)
}

describe('files in the web app (Chromium)', function () {
  this.timeout(90_000)
  const cleanup = new Cleanup()
  let page: Page
  let url: string
  let contact: string
  let png: Buffer

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM})`)
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    await mkdir(OUTPUT, { recursive: true })
    url = cleanup.add(await serveBuiltApp()).url
    ;({ page } = await openProfile(cleanup, 'files'))
    contact = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await page.goto(url)
    await page.locator('#peer-id').waitFor({ timeout: WAIT_MS })
    await page.evaluate(async (id) => { await (window as any).megachatModel.addContact(id, 'bea') }, contact)
    await page.locator('.list button[data-name="bea"]').click()
    await page.locator('#conversation-title', { hasText: 'bea' }).waitFor({ timeout: WAIT_MS })
    await recordSends(page)
    png = await picture(page, 1600, 1200)
  })

  after(async () => { await cleanup.run() })

  it('the attach button sends the picked files with chat.sendFile, a picture with a WebP preview of at most 320 px and 16 KiB', async () => {
    await attach(page, [
      { name: 'sunset.png', mimeType: 'image/png', buffer: png },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('bring the tent\n') }
    ])
    const [picture, text] = await sentSoFar(page, 2)
    assert.equal(picture.ref, contact)
    assert.deepEqual({ ...picture, thumbnail: undefined }, { ref: contact, name: 'sunset.png', type: 'image/png', size: png.length, isBlob: true, thumbnail: undefined })
    assert.ok(picture.thumbnail != null, 'a picture is sent with a preview')
    assert.equal(picture.thumbnail.riff, 'RIFF')
    assert.equal(picture.thumbnail.webp, 'WEBP')
    assert.ok(picture.thumbnail.bytes <= 16 * 1024, `the preview is ${picture.thumbnail.bytes} bytes`)
    assert.deepEqual([picture.thumbnail.width, picture.thumbnail.height], [320, 240], 'the longer side is 320 px, the shape kept')
    assert.deepEqual(text, { ref: contact, name: 'notes.txt', type: 'text/plain', size: 15, isBlob: true })
    // both show in the conversation at once: the picture inline, the other file with its name and size
    await page.locator('.msg.out .file-image img').waitFor({ timeout: WAIT_MS })
    await page.locator('.msg.out .file', { hasText: 'notes.txt' }).filter({ hasText: '15 bytes' }).waitFor({ timeout: WAIT_MS })
    assert.equal(await page.getByLabel('Attach a file').inputValue(), '', 'the input is emptied, so that the same file can be picked again')
  })

  it('a sent file\'s bubble becomes its stored offer message when the Chat reports it, once', async () => {
    const id: string = await page.evaluate(() => [...(window as any).fakes.values()].find((t: any) => t.name === 'notes.txt').id)
    const before = await page.locator('.msg.out').count()
    await page.evaluate(({ peer, id }) => {
      const now = Date.now()
      ;(window as any).megachat.dispatchEvent(new CustomEvent('sent', {
        detail: { id: 'ef'.repeat(16), peer, direction: 'out', text: '', timestamp: now, state: 'pending', order: now * 1000, file: id }
      }))
    }, { peer: contact, id })
    await page.locator(`.msg.out[data-id="${'ef'.repeat(16)}"] .file[data-file="${id}"]`).waitFor({ timeout: WAIT_MS })
    assert.equal(await page.locator(`.file[data-file="${id}"]`).count(), 1)
    assert.equal(await page.locator('.msg.out').count(), before)
  })

  it('a drop on the conversation shows the overlay while the files are over it, and sends them', async () => {
    await drop(page, { name: 'plan.pdf', mimeType: 'application/pdf', bytes: [37, 80, 68, 70] }, async () => {
      await page.locator('#drop-overlay', { hasText: 'Drop to send to bea' }).waitFor({ timeout: WAIT_MS })
      await page.screenshot({ path: join(OUTPUT, 'drop-overlay.png') })
    })
    const sent = await sentSoFar(page, 3)
    assert.deepEqual(sent[2], { ref: contact, name: 'plan.pdf', type: 'application/pdf', size: 4, isBlob: true })
    await page.locator('#drop-overlay').waitFor({ state: 'detached', timeout: WAIT_MS })
    // a drag that leaves again sends nothing and hides the overlay
    await page.evaluate(() => {
      const dt = new DataTransfer()
      dt.items.add(new File(['x'], 'x.txt'))
      const target = document.querySelector('.messages')!
      target.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }))
      target.dispatchEvent(new DragEvent('dragleave', { bubbles: true, cancelable: true, dataTransfer: dt }))
    })
    await page.locator('#drop-overlay').waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => (window as any).sent.length), 3)
    // a drop beside the conversation (the sidebar) is refused, and the browser does not open the file in place of the app
    const refused = await page.evaluate(() => {
      const dt = new DataTransfer()
      dt.items.add(new File(['x'], 'x.txt'))
      const drop = new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt })
      document.querySelector('.sidebar')!.dispatchEvent(drop)
      return drop.defaultPrevented
    })
    assert.equal(refused, true)
    assert.equal(await page.evaluate(() => (window as any).sent.length), 3)
  })

  it('a picture pasted into the composer is sent as a file with its preview; pasted text stays text', async () => {
    const bytes = [...await picture(page, 200, 100)]
    await page.evaluate((bytes) => {
      const dt = new DataTransfer()
      dt.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }))
      document.getElementById('composer-input')!.dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: dt }))
    }, bytes)
    const sent = (await sentSoFar(page, 4))[3]
    assert.match(sent.name, /^Pasted image \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.png$/)
    assert.equal(sent.size, bytes.length)
    assert.deepEqual([sent.thumbnail?.width, sent.thumbnail?.height], [200, 100], 'a small picture keeps its size')
    const box = page.locator('#composer-input')
    await box.focus()
    await page.evaluate(() => {
      const dt = new DataTransfer()
      dt.setData('text/plain', 'just words')
      document.getElementById('composer-input')!.dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: dt }))
    })
    assert.equal(await page.evaluate(() => (window as any).sent.length), 4, 'text on the clipboard is no file')
  })

  it('says in one line why a file could not be sent', async () => {
    await page.evaluate(() => {
      const chat = (window as any).megachat
      const record = chat.sendFile
      chat.sendFile = async () => { chat.sendFile = record; throw new Error('the file is larger than 4 GB, the most this side sends') }
    })
    await attach(page, [{ name: 'huge.iso', mimeType: 'application/octet-stream', buffer: Buffer.from([1]) }])
    const line = page.locator('#file-error')
    await line.waitFor({ timeout: WAIT_MS })
    assert.equal(await line.textContent(), 'The file is larger than 4 GB, the most this side sends')
  })

  it('a received file\'s bubble follows its transfer: offered, fetching with speed and time left, paused, failed, done', async () => {
    const id = 'ab'.repeat(16)
    const thumbnail: number[] = await page.evaluate(async () => {
      const c = new OffscreenCanvas(64, 48)
      const ctx = c.getContext('2d')!
      ctx.fillStyle = '#3a1c71'
      ctx.fillRect(0, 0, 64, 48)
      return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/webp' })).arrayBuffer())]
    })
    const base: FileTransfer = {
      id, conversation: contact, room: false, from: contact, direction: 'in', name: 'holiday.png', size: 10 * MiB,
      type: 'image/png', thumbnail: new Uint8Array(thumbnail), state: 'offered', bytes: 0, rate: 0
    }
    await fakeTransfer(page, 'file-offer', base)
    await page.evaluate(({ peer, id }) => {
      const now = Date.now()
      ;(window as any).megachat.dispatchEvent(new CustomEvent('message', {
        detail: { id: 'cd'.repeat(16), peer, direction: 'in', text: '', timestamp: now, receivedAt: now, name: 'bea', file: id }
      }))
    }, { peer: contact, id })
    const bubble = page.locator(`.file[data-file="${id}"]`)
    await bubble.locator('img.file-thumb').waitFor({ timeout: WAIT_MS })
    assert.match(await bubble.textContent() ?? '', /holiday\.png.*10 MiB · not downloaded yet/)
    await bubble.getByRole('button', { name: 'Download' }).click()
    await pollPage(page, (id) => (window as any).calls.includes(`fetch ${id}`), id, 'chat.files.fetch called', WAIT_MS)

    await fakeTransfer(page, 'file-progress', { ...base, state: 'fetching', bytes: Math.ceil(3.2 * MiB), rate: 1.5 * MiB })
    await bubble.locator('[role="progressbar"][aria-valuenow="32"]').waitFor({ timeout: WAIT_MS })
    assert.match(await bubble.locator('.file-sub').textContent() ?? '', /^3\.2 MiB of 10 MiB · 1\.5 MiB\/s · 5 s left$/)
    await page.screenshot({ path: join(OUTPUT, 'conversation.png') })
    await bubble.getByRole('button', { name: 'Cancel holiday.png' }).click()
    await pollPage(page, (id) => (window as any).calls.includes(`cancel ${id}`), id, 'chat.files.cancel called', WAIT_MS)

    await fakeTransfer(page, 'file-progress', { ...base, state: 'paused', bytes: 4 * MiB, rate: 0 })
    await bubble.locator('.progress.paused[aria-valuenow="40"]').waitFor({ timeout: WAIT_MS })
    assert.match(await bubble.locator('.file-sub').textContent() ?? '', /paused, resumes when they are back/)

    await fakeTransfer(page, 'file-error', { ...base, state: 'failed', bytes: 4 * MiB, error: 'a chunk did not match its hash: the sender was dropped' })
    await bubble.getByRole('alert').filter({ hasText: 'a chunk did not match its hash' }).waitFor({ timeout: WAIT_MS })
    assert.equal(await bubble.locator('[role="progressbar"]').count(), 0)
    assert.equal(await bubble.getByRole('button').count(), 0, 'a failed file offers nothing to press')

    await page.evaluate(async ({ id, png }) => {
      (window as any).blobs.set(id, await (await fetch(`data:image/png;base64,${png}`)).blob())
    }, { id, png: png.toString('base64') })
    await fakeTransfer(page, 'file-done', { ...base, state: 'done', bytes: base.size })
    await bubble.locator('.file-image img[src^="blob:"]').waitFor({ timeout: WAIT_MS })
    assert.equal(await bubble.getByRole('alert').count(), 0)
    await bubble.getByRole('button', { name: 'Save holiday.png' }).waitFor({ timeout: WAIT_MS })
  })

  it('fits a phone-sized window, light and dark', async () => {
    try {
      await page.setViewportSize({ width: 390, height: 760 })
      await page.emulateMedia({ colorScheme: 'dark' })
      const bubbles = page.locator('.bubble.file-bubble')
      await bubbles.last().scrollIntoViewIfNeeded()
      for (const box of await Promise.all((await bubbles.all()).map(async b => await b.boundingBox()))) {
        assert.ok(box != null && box.x >= 0 && box.x + box.width <= 390, `a file bubble leaves the window: ${JSON.stringify(box)}`)
      }
      await page.screenshot({ path: join(OUTPUT, 'phone-dark.png') })
    } finally {
      await page.emulateMedia({ colorScheme: 'light' })
      await page.setViewportSize({ width: 1100, height: 720 })
    }
  })

  it('a picture opens in a lightbox that traps focus, closes on Escape and on a click, and gives focus back', async () => {
    const opener = page.getByRole('button', { name: 'Open the picture holiday.png' })
    await opener.click()
    const box = page.locator('dialog.lightbox[open]')
    await box.waitFor({ timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Close')
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab')
      assert.ok(await page.evaluate(() => document.activeElement?.closest('dialog.lightbox') != null), 'Tab stays in the lightbox')
    }
    const size = await box.boundingBox()
    assert.deepEqual([size?.width, size?.height], [1100, 720], 'it covers the window')
    await page.screenshot({ path: join(OUTPUT, 'lightbox.png') })
    await page.keyboard.press('Escape')
    await box.waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Open the picture holiday.png', 'focus returns to the picture')

    await opener.click()
    await box.locator('img').click()
    await box.waitFor({ state: 'detached', timeout: WAIT_MS })
  })

  it('revokes a picture\'s object URL when its bubble goes', async () => {
    const src = await page.locator('.file-image img').first().getAttribute('src')
    assert.match(src ?? '', /^blob:/)
    assert.equal(await page.evaluate(async (src) => (await fetch(src)).ok, src!), true)
    await page.getByRole('button', { name: 'Settings', exact: true }).click()
    await page.locator('#settings-heading').waitFor({ timeout: WAIT_MS })
    assert.equal(await page.evaluate(async (src) => await fetch(src).then(() => 'read', () => 'revoked'), src!), 'revoked')
  })

  it('sets the automatic download size in Settings, kept across a reload', async () => {
    if (await page.locator('#settings-heading').count() === 0) await page.getByRole('button', { name: 'Settings', exact: true }).click()
    const field = page.locator('#settings-auto-fetch')
    const before: number = await page.evaluate(() => (window as any).megachat.files.autoFetchBytes)
    assert.equal(await field.inputValue(), String(Math.round(before / MiB * 10) / 10), 'the field shows the size in use, in MiB (as --auto-fetch)')
    await field.fill('-1')
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('alert').filter({ hasText: 'Give a size in MiB' }).waitFor({ timeout: WAIT_MS })
    await field.fill('2.5')
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => (window as any).megachat.files.autoFetchBytes), 2.5 * MiB)
    await page.reload()
    await page.locator('#peer-id').waitFor({ timeout: WAIT_MS })
    assert.equal(await page.evaluate(() => (window as any).megachat.files.autoFetchBytes), 2.5 * MiB)
  })
})
