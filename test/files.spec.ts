/**
 * Files between Node clients: DMs both ways, rooms (fetched from a member who is not the author), resume
 * after a crash of the receiver and a restart of the sender, hostile senders and file names, the policy
 * for strangers, and the terminal commands.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Cleanup, startChat, tempDir, waitFor } from './fixtures.js'
import type { Chat, FileTransfer } from '../src/index.js'

/** A file of `size` random bytes in `dir`; returns its path and SHA-256. */
export async function randomFile (dir: string, name: string, size: number): Promise<{ path: string, hash: string }> {
  const path = join(dir, name)
  const hash = createHash('sha256')
  await writeFile(path, new Uint8Array(0))
  const { open } = await import('node:fs/promises')
  const h = await open(path, 'w')
  for (let done = 0; done < size;) {
    const part = randomBytes(Math.min(4 * 2 ** 20, size - done))
    await h.write(part)
    hash.update(part)
    done += part.byteLength
  }
  await h.close()
  return { path, hash: hash.digest('hex') }
}

export async function hashOf (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export async function source (path: string, name?: string): Promise<{ name: string, blob: Blob, path: string }> {
  const { openAsBlob } = await import('node:fs')
  return { name: name ?? path.split('/').pop() as string, blob: await openAsBlob(path), path }
}

async function befriend (a: Chat, b: Chat): Promise<void> {
  await a.addContact(b.peerId.toString(), 'bob')
  await b.addContact(a.peerId.toString(), 'alice')
  await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
}

describe('files', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  async function pair (): Promise<{ a: Chat, b: Chat, dir: string }> {
    const dir = cleanup.dir(await tempDir())
    const a = cleanup.add(await startChat({ dataDir: join(dir, 'a') }))
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
    await befriend(a, b)
    return { a, b, dir }
  }

  it('sends a file in a DM both ways, fetched at once from a contact and equal by hash', async () => {
    const { a, b, dir } = await pair()
    const one = await randomFile(dir, 'one.bin', 3 * 2 ** 20 + 12345)
    const offered = waitFor<FileTransfer>(b, 'file-offer')
    const done = waitFor<FileTransfer>(b, 'file-done')
    const sent = await a.sendFile('bob', await source(one.path))
    assert.equal(sent.state, 'serving')
    assert.equal(sent.direction, 'out')
    const offer = await offered
    assert.equal(offer.id, sent.id)
    assert.equal(offer.name, 'one.bin')
    assert.equal(offer.size, 3 * 2 ** 20 + 12345)
    const got = await done
    assert.equal(got.state, 'done')
    assert.ok(got.path?.startsWith(join(dir, 'b', 'files')), got.path)
    assert.equal(await hashOf(got.path as string), one.hash)
    // the message that carried it names the transfer, with empty text
    const [message] = await b.history('alice')
    assert.equal(message.file, sent.id)
    assert.equal(message.text, '')
    // and back
    const two = await randomFile(dir, 'two.txt', 1000)
    const back = waitFor<FileTransfer>(a, 'file-done')
    await b.sendFile('alice', await source(two.path))
    assert.equal(await hashOf((await back).path as string), two.hash)
    assert.equal(a.files.list().length, 2)
    assert.equal((await readFile(join(dir, 'a', 'files', 'two.txt'))).byteLength, 1000)
  })
})
