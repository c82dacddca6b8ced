/**
 * Resuming file transfers: after SIGKILL of a receiving terminal client mid-transfer (with its partial
 * file damaged, as a crash can leave it), and after a restart of the sender. Repeat with FILES_RESUME_RUNS.
 */
import assert from 'node:assert/strict'
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { openFileStorage } from '../src/files/storage.js'
import { Cleanup, freePort, JsonClient, startChat, tempDir, waitFor } from './fixtures.js'
import { hashOf, randomFile, source } from './files-fixtures.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { Chat, FileStorage, FileTransfer } from '../src/index.js'

const RUNS = Math.max(1, Number(process.env.FILES_RESUME_RUNS ?? 1))
const MiB = 2 ** 20

/** A storage whose reads (what a sender serves) take `ms` longer each: a transfer slow enough to interrupt. */
function slowReads (storage: FileStorage, ms: number): FileStorage {
  return new Proxy(storage, {
    get (target, prop) {
      const value = (target as any)[prop]
      if (prop === 'read') {
        return async (id: string, offset: number, length: number) => {
          await new Promise(resolve => setTimeout(resolve, ms))
          return await target.read(id, offset, length)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/**
 * A storage whose reads at or past `limit` bytes wait until release(): a transfer that cannot finish
 * before the test has interrupted it, however loaded the machine.
 */
function gatedReads (storage: FileStorage, limit: number): { storage: FileStorage, release: () => void } {
  let release!: () => void
  const open = new Promise<void>(resolve => { release = resolve })
  return {
    release,
    storage: new Proxy(storage, {
      get (target, prop) {
        const value = (target as any)[prop]
        if (prop === 'read') {
          return async (id: string, offset: number, length: number) => {
            if (offset + length > limit) await open
            return await target.read(id, offset, length)
          }
        }
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
  }
}

describe('files: resume', function () {
  this.timeout(180_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('cancels a file being fetched: the fetch stops, the partial file goes, the sender no longer serves it to a new fetch', async () => {
    const dir = cleanup.dir(await tempDir())
    // the sender's reads stop at 4 MiB until the end of the test: the transfer cannot finish before the
    // cancel, nor between two progress events (they come a few times a second)
    const gate = gatedReads(slowReads(await openFileStorage(join(dir, 'a')), 15), 4 * MiB)
    const a = cleanup.add(await startChat({ dataDir: join(dir, 'a'), files: gate.storage }))
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
    await a.addContact(b.peerId.toString(), 'bob')
    await b.addContact(a.peerId.toString(), 'alice')
    await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
    const file = await randomFile(dir, 'cancel.bin', 16 * MiB)
    const sent = await a.sendFile('bob', await source(file.path))
    await waitFor<FileTransfer>(b, 'file-progress', t => t.id === sent.id && t.bytes >= 2 * MiB, 60_000)
    let done = false
    b.addEventListener('file-done', () => { done = true })
    await b.files.cancel(sent.id)
    assert.equal(b.files.get(sent.id)?.state, 'cancelled')
    await assert.rejects(stat(join(dir, 'b', 'files', `${sent.id}.part`)), { code: 'ENOENT' })
    await assert.rejects(b.files.fetch(sent.id), { name: 'InvalidInputError' })
    // the sender's side: cancelled too, and refused to anyone after
    await a.files.cancel(sent.id)
    assert.equal(a.files.get(sent.id)?.state, 'cancelled')
    gate.release()
    assert.equal(done, false)
    assert.equal(await b.files.blob(sent.id), undefined)
  })

  for (let run = 1; run <= RUNS; run++) {
    it(`resumes after the receiving client is killed (SIGKILL) mid-transfer, its partial file damaged${RUNS > 1 ? ` (run ${run})` : ''}`, async () => {
      const dir = cleanup.dir(await tempDir())
      const gate = gatedReads(slowReads(await openFileStorage(join(dir, 'a')), 5), 16 * MiB)
      const sender = cleanup.add(await startChat({ dataDir: join(dir, 'a'), files: gate.storage }))
      const port = await freePort()
      const args = ['--json', '--data', join(dir, 'b'), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-webrtc']
      let b = cleanup.add(new JsonClient(args))
      const ready = await b.next(l => l.type === 'ready')
      await b.command(`/add ${sender.peerId.toString()} alice`, 'contact')
      await sender.addContact(ready.peerId, 'bob')
      await sender.libp2p.dial(multiaddr(ready.addresses[0]))
      const file = await randomFile(dir, 'big.bin', 32 * MiB + 1234)
      const sent = await sender.sendFile('bob', await source(file.path))
      // well into it, not at the end
      await b.next(l => l.type === 'file-progress' && l.id === sent.id && l.bytes >= 8 * MiB, 0, 60_000, 'progress past 8 MiB')
      b.kill('SIGKILL')
      await b.exited
      const part = join(dir, 'b', 'files', `${sent.id}.part`)
      const written = (await stat(part)).size
      assert.ok(written >= 8 * MiB && written <= 16 * MiB, `partial file of ${written} bytes`)
      // a crash may leave a torn last write: damage the last whole chunk and add bytes past it
      const whole = Math.floor(written / MiB)
      const h = await open(part, 'r+')
      await h.write(new Uint8Array([0xff, 0x00, 0xff]), 0, 3, (whole - 1) * MiB + 100)
      await h.write(new Uint8Array(1000).fill(1), 0, 1000, whole * MiB)
      await h.close()
      const servedBefore = sender.libp2p.services.files.stats.served
      gate.release()
      b = cleanup.add(new JsonClient(args))
      const done = await b.next(l => l.type === 'file-done' && l.id === sent.id, 0, 90_000, 'the file done after the restart')
      assert.equal(await hashOf(done.path), file.hash)
      // it went on from the damaged chunk, not from the start
      const again = sender.libp2p.services.files.stats.served - servedBefore
      assert.equal(again, 33 - (whole - 1), `served ${again} chunks after the restart; ${whole - 1} were good on disk`)
    })

    it(`resumes when the sender restarts mid-transfer${RUNS > 1 ? ` (run ${run})` : ''}`, async () => {
      const dir = cleanup.dir(await tempDir())
      const port = await freePort()
      // the first sender cannot serve past 8 MiB: it is stopped before the file could be done
      const senderInit = async (limit = Infinity): Promise<Chat> => await startChat({ dataDir: join(dir, 'a'), listen: [`/ip4/127.0.0.1/tcp/${port}`], files: gatedReads(slowReads(await openFileStorage(join(dir, 'a')), 5), limit).storage })
      let a = await senderInit(8 * MiB)
      let aStopped = false
      cleanup.add({ stop: async () => { if (!aStopped) await a.stop() } })
      const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
      await a.addContact(b.peerId.toString(), 'bob')
      await b.addContact(a.peerId.toString(), 'alice')
      await b.libp2p.dial(a.libp2p.getMultiaddrs()[0])
      const file = await randomFile(dir, 'sent.bin', 24 * MiB + 5)
      const sent = await a.sendFile('bob', await source(file.path))
      await waitFor<FileTransfer>(b, 'file-progress', t => t.id === sent.id && t.bytes >= 4 * MiB, 60_000)
      const paused = waitFor<FileTransfer>(b, 'file-progress', t => t.id === sent.id && t.state === 'paused', 60_000)
      aStopped = true
      await a.stop()
      const stalled = await paused
      assert.ok(stalled.bytes < stalled.size)
      const done = waitFor<FileTransfer>(b, 'file-done', t => t.id === sent.id, 90_000)
      a = await senderInit()
      aStopped = false
      assert.equal(a.files.get(sent.id)?.state, 'serving')
      assert.equal(await hashOf((await done).path as string), file.hash)
      assert.ok(a.libp2p.services.files.stats.served < 25, `the restarted sender served ${a.libp2p.services.files.stats.served} chunks, not all 25`)
    })
  }
})
