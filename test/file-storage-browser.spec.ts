/**
 * src/files/storage.browser.ts in a real Chromium: the built module (dist/src/files/storage.browser.js)
 * imported by a blank page served on loopback, writing to the page's origin private file system.
 */
import assert from 'node:assert/strict'
import { createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join, resolve } from 'node:path'
import { CHROMIUM, openProfile } from './browser.js'
import { Cleanup, tempDir } from './fixtures.js'
import type { OpfsFileStorage } from '../src/files/storage.browser.js'
import type { BrowserContext, Page } from 'playwright-core'

const MODULE = resolve('dist/src/files/storage.browser.js')
const WORKER = resolve('dist/src/files/opfs-worker.js')
const MiB = 1024 * 1024

declare global {
  interface Window {
    storage: OpfsFileStorage
    /** the error a call rejected with, as `{ name, message }` */
    failure: (p: Promise<unknown>) => Promise<{ name: string, message: string } | undefined>
  }
}

/**
 * A blank page at `/`, the module at `/storage.js` and the worker's module it imports, on 127.0.0.1 (a
 * secure context, so OPFS works).
 */
async function serve (): Promise<{ url: string, stop(): Promise<void> }> {
  const code = await readFile(MODULE)
  const worker = await readFile(WORKER)
  const server = createServer((req, res) => {
    if (req.url === '/storage.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(code)
    else if (req.url === '/opfs-worker.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(worker)
    else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>storage</title>')
    else res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/`, stop: async () => { await new Promise(resolve => server.close(resolve)) } }
}

/** Resident bytes of the renderer processes of the Chromium whose user-data-dir is `profile` (Linux /proc). */
function rendererRss (profile: string): number {
  const procs = new Map<number, { ppid: number, args: string[] }>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split(/[\0 ]/)
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      procs.set(Number(name), { ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), args })
    } catch {} // gone meanwhile
  }
  const browser = [...procs].find(([, p]) => p.args.includes(`--user-data-dir=${profile}`) && !p.args.some(a => a.startsWith('--type=')))?.[0]
  assert.ok(browser != null, `no Chromium process with --user-data-dir=${profile}`)
  const under = (pid: number): boolean => {
    for (let p = procs.get(pid); p != null; p = procs.get(p.ppid)) if (p.ppid === browser) return true
    return false
  }
  let rss = 0
  let renderers = 0
  for (const [pid, p] of procs) {
    if (!p.args.includes('--type=renderer') || !under(pid)) continue
    try {
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
      renderers++
    } catch {}
  }
  assert.ok(renderers > 0 && rss > 0, `no renderer process of the Chromium with --user-data-dir=${profile}`)
  return rss
}

describe('file storage in Chromium (OPFS)', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  let url: string
  let context: BrowserContext
  let page: Page
  let profile: string

  /** Loads the page afresh and makes `window.storage` (a new worker, the same OPFS). */
  async function load (dataDir = 'megachat'): Promise<void> {
    await page.goto(url)
    await page.evaluate(async (dataDir) => {
      const { openFileStorage } = await import('/storage.js' as string)
      window.storage = await openFileStorage(dataDir)
      window.failure = async (p) => {
        try {
          await p
          return undefined
        } catch (err: any) {
          return { name: err.name, message: err.message }
        }
      }
    }, dataDir)
  }

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM})`)
      this.skip()
    }
    if (!existsSync(MODULE)) throw new Error(`${MODULE} is missing: run \`npm run build\` first`)
    url = cleanup.add(await serve()).url
    ;({ context, page, profile } = await openProfile(cleanup, 'storage'))
    await load()
  })

  after(async () => { await cleanup.run() })

  it('appends, resumes after a reload, truncates an overlap, finishes, reads, removes', async () => {
    const id = 'a1'.repeat(16)
    const r1 = await page.evaluate(async (id) => {
      const s = window.storage
      const before = await s.written(id)
      await s.append(id, 0, new Uint8Array([1, 2, 3, 4]))
      await s.append(id, 4, new Uint8Array([5, 6, 7, 8]))
      return { before, after: await s.written(id), part: [...await s.read(id, 2, 4)] }
    }, id)
    assert.deepEqual(r1, { before: 0, after: 8, part: [3, 4, 5, 6] })

    // a reload: the worker and its handles are gone; what was written is there
    await load()
    const r2 = await page.evaluate(async (id) => {
      const s = window.storage
      const resumed = await s.written(id)
      // a chunk again from offset 6 (the receiver verified only 6 bytes, say): the tail is cut first
      await s.append(id, 6, new Uint8Array([70, 80, 90]))
      const gap = await window.failure(s.append(id, 20, new Uint8Array([1])))
      const size = await s.written(id)
      const blobBefore = await s.blob(id)
      const name = await s.finish(id, '../../etc/pass\u202ewd.txt', 'text/plain')
      const blob = await s.blob(id)
      return {
        resumed,
        gap,
        size,
        blobBefore: blobBefore === undefined,
        name,
        afterFinish: await s.written(id),
        blob: blob == null ? undefined : { name: (blob as File).name, type: blob.type, bytes: [...new Uint8Array(await blob.arrayBuffer())] },
        read: [...await s.read(id, 5, 100)]
      }
    }, id)
    assert.equal(r2.resumed, 8)
    assert.equal(r2.gap?.name, 'FileStorageError', 'a chunk that does not continue the file is refused')
    assert.equal(r2.size, 9)
    assert.equal(r2.blobBefore, true, 'a partial file is no Blob yet')
    assert.equal(r2.name, '_.._etc_pass_wd.txt')
    assert.equal(r2.afterFinish, 0, 'no partial file is left')
    // the offer's MIME type comes with the received file (the web app shows pictures by it)
    assert.deepEqual(r2.blob, { name: '_.._etc_pass_wd.txt', type: 'text/plain', bytes: [1, 2, 3, 4, 5, 6, 70, 80, 90] })
    assert.deepEqual(r2.read, [6, 70, 80, 90])

    const r3 = await page.evaluate(async (id) => {
      const s = window.storage
      await s.remove(id)
      const root = await navigator.storage.getDirectory()
      const names: string[] = []
      for await (const name of (await (await root.getDirectoryHandle('megachat')).getDirectoryHandle('files') as any).keys()) names.push(name)
      return { blob: await s.blob(id) === undefined, read: (await window.failure(s.read(id, 0, 1)))?.name, names }
    }, id)
    assert.deepEqual(r3, { blob: true, read: 'FileNotFoundError', names: [] })
  })

  it('refuses ids that are not hex (no name from the network becomes an OPFS name)', async () => {
    const names = await page.evaluate(async () => await Promise.all(['../x', 'AB', '', 'a'.repeat(65), 'x.part'].map(async id =>
      (await window.failure(window.storage.written(id)))?.name)))
    assert.deepEqual(names, Array(5).fill('FileStorageError'))
  })

  it('keeps a sent File in OPFS (it is gone after a reload, the copy is not) and serves reads from it', async () => {
    const id = 'b2'.repeat(16)
    await page.evaluate(async (id) => {
      const bytes = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251)
      await window.storage.keep(id, { name: 'photo.webp', type: 'image/webp', blob: new File([bytes], 'photo.webp', { type: 'image/webp' }) })
    }, id)
    await load()
    const r = await page.evaluate(async (id) => {
      const blob = await window.storage.blob(id) as File
      const all = new Uint8Array(await blob.arrayBuffer())
      let same = all.length === 3 * 1024 * 1024 + 5
      for (let i = 0; same && i < all.length; i++) same = all[i] === i % 251
      return { name: blob.name, type: blob.type, same, read: [...await window.storage.read(id, 1024 * 1024 - 1, 3)] }
    }, id)
    assert.deepEqual(r, { name: 'photo.webp', type: 'image/webp', same: true, read: [(MiB - 1) % 251, MiB % 251, (MiB + 1) % 251] })
    await page.evaluate(async (id) => { await window.storage.remove(id) }, id)
  })

  it('writes a 512 MiB file in 1 MiB chunks, and keeps a 512 MiB file from disk, with the tab\'s memory bounded', async () => {
    const SIZE = 512
    const id = 'c3'.repeat(16)
    const keptId = 'd4'.repeat(16)
    // the resident memory of the profile's renderer processes (the page and its worker), sampled while it writes
    const sample = async <T>(what: () => Promise<T>): Promise<{ value: T, peak: number }> => {
      const base = rendererRss(profile)
      let peak = 0
      const sampler = setInterval(() => { peak = Math.max(peak, rendererRss(profile) - base) }, 100)
      try {
        return { value: await what(), peak }
      } finally {
        clearInterval(sampler)
      }
    }
    const appended = await sample(async () => await page.evaluate(async ({ id, SIZE }) => {
      const chunk = new Uint8Array(1024 * 1024)
      const t = performance.now()
      for (let i = 0; i < SIZE; i++) {
        chunk.fill(i % 256)
        await window.storage.append(id, i * chunk.length, chunk)
      }
      const ms = performance.now() - t
      const written = await window.storage.written(id)
      await window.storage.finish(id, 'big.bin')
      const blob = await window.storage.blob(id) as Blob
      const probe = new Uint8Array(await blob.slice(300 * 1024 * 1024, 300 * 1024 * 1024 + 2).arrayBuffer())
      await window.storage.remove(id)
      return { written, size: blob.size, probe: [...probe], ms }
    }, { id, SIZE }))
    assert.deepEqual({ ...appended.value, ms: 0 }, { written: SIZE * MiB, size: SIZE * MiB, probe: [300 % 256, 300 % 256], ms: 0 })

    // a file the user picked: the File is backed by the disk, as one from a file input or a drop is
    const path = join(cleanup.dir(await tempDir('megachat-opfs-')), 'big-sent.bin')
    const out = createWriteStream(path)
    const block = Buffer.alloc(MiB, 7)
    for (let i = 0; i < SIZE; i++) if (!out.write(block)) await once(out, 'drain')
    await new Promise(resolve => out.end(resolve))
    await page.evaluate(() => { document.body.insertAdjacentHTML('beforeend', '<input type="file" id="pick">') })
    await page.locator('#pick').setInputFiles(path)
    const kept = await sample(async () => await page.evaluate(async (keptId) => {
      const file = (document.getElementById('pick') as HTMLInputElement).files![0]
      const t = performance.now()
      await window.storage.keep(keptId, { name: file.name, blob: file })
      const ms = performance.now() - t
      const blob = await window.storage.blob(keptId) as File
      const probe = new Uint8Array(await blob.slice(blob.size - 1).arrayBuffer())
      await window.storage.remove(keptId)
      return { size: blob.size, name: blob.name, probe: [...probe], ms }
    }, keptId))
    assert.deepEqual({ ...kept.value, ms: 0 }, { size: SIZE * MiB, name: 'big-sent.bin', probe: [7], ms: 0 })

    const mib = (n: number): string => (n / MiB).toFixed(1)
    console.log(`      renderer memory above the start: ${mib(appended.peak)} MiB at most while appending (${(SIZE * 1000 / appended.value.ms).toFixed(0)} MiB/s), ` +
      `${mib(kept.peak)} MiB while keeping (${(SIZE * 1000 / kept.value.ms).toFixed(0)} MiB/s)`)
    // (3-33 MiB seen; a file held in memory anywhere in the tab would add 512)
    assert.ok(appended.peak < 64 * MiB, `the renderer grew by ${mib(appended.peak)} MiB while appending ${SIZE} MiB`)
    assert.ok(kept.peak < 64 * MiB, `the renderer grew by ${mib(kept.peak)} MiB while keeping ${SIZE} MiB`)
  })

  it('says in one line that the storage is full when the quota is exceeded, and leaves the file as it was', async () => {
    const cdp = await context.newCDPSession(page)
    const origin = new URL(url).origin
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 8 * MiB })
    try {
      const r = await page.evaluate(async () => {
        const s = window.storage
        const id = 'e5'.repeat(16)
        const available = await s.available()
        await s.append(id, 0, new Uint8Array(1024 * 1024))
        const full = await window.failure(s.append(id, 1024 * 1024, new Uint8Array(16 * 1024 * 1024)))
        const written = await s.written(id)
        await s.remove(id)
        const keepFull = await window.failure(s.keep('f6'.repeat(16), { name: 'x', blob: new Blob([new Uint8Array(16 * 1024 * 1024)]) }))
        return { available, full, written, keepFull, kept: await s.blob('f6'.repeat(16)) === undefined }
      })
      // (Chromium's estimate() does not follow the DevTools quota override, the writes do)
      assert.ok(r.available != null && r.available > 0, `available() says how much is free: ${r.available}`)
      assert.equal(r.full?.name, 'StorageFullError')
      assert.doesNotMatch(r.full?.message ?? '', /\n/)
      assert.equal(r.written, MiB, 'the failed chunk left nothing behind')
      assert.equal(r.keepFull?.name, 'StorageFullError')
      assert.equal(r.kept, true, 'a copy that did not fit is removed')
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin })
    }
  })
})
