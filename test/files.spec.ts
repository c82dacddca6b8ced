/**
 * Files between Node clients: DMs both ways, rooms (fetched from a member who is not the author), resume
 * after a crash of the receiver and a restart of the sender, hostile senders and file names, the policy
 * for strangers, and the terminal commands.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lpStream, streamPair } from '@libp2p/utils'
import { DM_PROTOCOL, FILE_PROTOCOL } from '../src/constants.js'
import { encodeDirectMessage } from '../src/direct/index.js'
import { safeFileName } from '../src/files/names.js'
import { decodeOffer, encodeOffer, sha256 } from '../src/files/offer.js'
import { FileHeader, FileRequest, FileWant } from '../src/files/pb/file.js'
import { IdleTimeout, creditFor, pull } from '../src/files/protocol.js'
import { multiaddr } from '@multiformats/multiaddr'
import { Cleanup, eachTestWithBootstrap, JsonClient, startChat, tempDir, until, waitFor } from './fixtures.js'
import { startAttacker } from './fuzz-frames.js'
import { hashOf, randomFile, source } from './files-fixtures.js'
import type { Chat, FileTransfer, RoomMessageEvent } from '../src/index.js'
import type { Libp2p, Stream } from '@libp2p/interface'

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

  it('hashes chunks in Node as WebCrypto does in the browser', async () => {
    // hash.ts (node:crypto) and hash.browser.ts (WebCrypto) must agree, or a browser and a terminal
    // client would refuse each other's chunks
    const { sha256: webSha256 } = await import('../src/files/hash.browser.js')
    for (const size of [0, 1, 55, 56, 64, 65_536, 2 ** 20 + 3]) {
      const bytes = crypto.getRandomValues(new Uint8Array(Math.min(size, 65_536)))
      const data = size > 65_536 ? new Uint8Array(size).fill(7) : bytes
      assert.deepEqual(new Uint8Array(await sha256(data)), await webSha256(data), `size ${size}`)
    }
    // a view into a larger buffer hashes only what it sees
    const whole = crypto.getRandomValues(new Uint8Array(1000))
    assert.deepEqual(new Uint8Array(await sha256(whole.subarray(10, 500))), await webSha256(whole.slice(10, 500)))
    // a chunk in the pieces it arrived in hashes as the whole
    const pieces = [whole.subarray(0, 1), whole.subarray(1, 1), whole.subarray(1, 700), whole.subarray(700)]
    assert.deepEqual(new Uint8Array(await sha256(pieces)), await webSha256(whole))
    assert.deepEqual(await webSha256(pieces), await webSha256(whole))
  })

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

describe('files: offers', () => {
  it('carry sizes across 2^31 and 2^32 exactly (protons-runtime 7.1.2 writes a bigint uint64 in [2^31, 2^32) wrongly)', () => {
    for (const size of [2 ** 31 - 1, 2 ** 31, 3e9, 2 ** 32 - 1, 2 ** 32, 64 * 2 ** 30]) {
      const offer = { id: new Uint8Array(16), name: 'x', size, type: '', chunkSize: 2 ** 20, manifest: new Uint8Array(32) }
      assert.equal(decodeOffer(encodeOffer(offer)).size, size)
    }
  })
})

describe('files: the idle limit of a stream', () => {
  /** resolves with when `signal` aborted (ms since `t0`) and its reason, or rejects after `ms` */
  async function aborted (signal: AbortSignal, t0: number, ms: number): Promise<{ at: number, reason: any }> {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`not aborted within ${ms} ms`)) }, ms)
      signal.addEventListener('abort', () => { clearTimeout(timer); resolve({ at: performance.now() - t0, reason: signal.reason }) }, { once: true })
    })
  }

  it('aborts with a TimeoutError once nothing moved for its time, each touch starting it again', async () => {
    const idle = new IdleTimeout(150)
    try {
      // touched every 30 ms for 450 ms (three times its limit): still running
      const t0 = performance.now()
      while (performance.now() - t0 < 450) {
        await new Promise(resolve => setTimeout(resolve, 30))
        assert.equal(idle.signal.aborted, false)
        idle.touch()
      }
      const last = performance.now()
      const { at, reason } = await aborted(idle.signal, last, 5000)
      assert.equal(reason.name, 'TimeoutError')
      assert.ok(at >= 140, `aborted ${at} ms after the last touch`)
    } finally {
      idle.clear()
    }
  })

  it('keeps its limit where a timer is a plain number, as in the browser', async () => {
    // a browser's setTimeout returns a number, without Node's refresh(): the tab's transfers use this too
    const real = globalThis.setTimeout
    globalThis.setTimeout = ((fn: () => void, ms?: number) => Number(real(fn, ms))) as unknown as typeof setTimeout
    let idle: IdleTimeout
    try {
      idle = new IdleTimeout(100)
      idle.touch()
    } finally {
      globalThis.setTimeout = real
    }
    const { reason } = await aborted(idle.signal, performance.now(), 5000)
    assert.equal(reason.name, 'TimeoutError')
  })

  it('follows its parent signal, and a cleared one never fires', async () => {
    const parent = new AbortController()
    const idle = new IdleTimeout(60_000, parent.signal)
    const abort = aborted(idle.signal, performance.now(), 5000)
    parent.abort(new Error('cancelled'))
    assert.equal((await abort).reason.message, 'cancelled')
    idle.clear()
    const cleared = new IdleTimeout(50)
    cleared.clear()
    await assert.rejects(aborted(cleared.signal, performance.now(), 300), /not aborted/)
  })
})

describe('files: credit', () => {
  const MIB = 2 ** 20

  it('is sized by the round trip: the least on a LAN, more the longer it is, never more than asked', () => {
    assert.equal(creditFor(0.3, MIB, 16), 4)
    assert.equal(creditFor(50, MIB, 16), 7) // 100 MiB/s over 50 ms is 5 chunks, and 2 more
    assert.equal(creditFor(300, MIB, 16), 16)
    assert.equal(creditFor(300, MIB, 3), 3)
  })

  // chunks of 64 KiB: 100 MiB/s over 1 ms is 1.6 of them, over 3 ms 4.7, over 150 ms 240
  for (const [rtt, credit] of [[1, 4], [3, 7], [150, 16]]) {
    it(`grants ${credit} chunks ahead when asking took ${rtt} ms, and the holder never has more`, async () => {
      const [receiver, holder] = await streamPair()
      const chunkSize = 64 * 1024
      const chunks = Array.from({ length: 24 }, (_, i) => new Uint8Array(chunkSize).fill(i))
      const hashes = new Uint8Array(chunks.length * 32)
      for (const [i, c] of chunks.entries()) hashes.set(await sha256(c), i * 32)
      // the clock the receiver measures its request by: the holder moves it on by the round trip
      let clock = 1000
      const granted: number[] = []
      let mostAhead = 0
      const serving = (async () => {
        const lp = lpStream(holder)
        FileRequest.decode((await lp.read()).subarray())
        clock += rtt
        await lp.write(FileHeader.encode({ hashes }))
        let ahead = 0
        let next = 0
        let wake: (() => void) | undefined
        const reading = (async () => {
          while (next < chunks.length) {
            const want = FileWant.decode((await lp.read()).subarray())
            granted.push(want.count)
            ahead += want.count
            mostAhead = Math.max(mostAhead, ahead)
            wake?.()
          }
        })().catch(() => {})
        while (next < chunks.length) {
          if (ahead === 0) await new Promise<void>(resolve => { wake = resolve })
          ahead--
          await lp.write(chunks[next++])
        }
        await holder.close()
        await reading
      })()
      const written: number[] = []
      await pull(receiver, {
        id: new Uint8Array(16),
        manifest: await sha256(hashes),
        size: chunks.length * chunkSize,
        chunkSize,
        overhead: 0,
        start: async () => 0,
        onChunk: async (index) => { written.push(index) },
        stats: { served: 0, refused: 0, oversized: 0, malformed: 0, badChunks: 0, failedStreams: 0 },
        now: () => clock
      })
      await serving
      assert.deepEqual(written, chunks.map((_, i) => i))
      assert.equal(granted[0], credit, 'the first grant')
      assert.equal(mostAhead, credit, 'chunks granted and not yet sent, at most')
    })
  }
})

describe('files: names from the network', () => {
  it('are made one safe name inside the folder', () => {
    assert.equal(safeFileName('../../x'), '_.._x')
    assert.equal(safeFileName('..'), 'file')
    assert.equal(safeFileName('/etc/passwd'), '_etc_passwd')
    assert.equal(safeFileName('a\\b:c*?.txt'), 'a_b_c__.txt')
    assert.equal(safeFileName('evil\u202egnp.exe'), 'evilgnp.exe')
    assert.equal(safeFileName('bell\u0007\n.txt'), 'bell.txt')
    assert.equal(safeFileName('.hidden'), 'hidden')
    assert.equal(safeFileName('CON'), '_CON')
    assert.equal(safeFileName('nul.txt'), '_nul.txt')
    assert.equal(safeFileName('com1.tar.gz'), '_com1.tar.gz')
    assert.equal(safeFileName('trailing. . '), 'trailing')
    assert.equal(safeFileName(''), 'file')
    const long = safeFileName('é'.repeat(300) + '.jpeg')
    assert.ok(new TextEncoder().encode(long).byteLength <= 200, long)
    assert.ok(long.endsWith('é.jpeg'))
  })
})

describe('files: policy and hostile senders', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  /** A victim client and a raw attacker node connected to it. */
  async function victimAndAttacker (contact: boolean): Promise<{ victim: Chat, attacker: Libp2p, dir: string }> {
    const dir = cleanup.dir(await tempDir())
    const victim = cleanup.add(await startChat({ dataDir: join(dir, 'victim') }))
    const attacker = await startAttacker()
    cleanup.add({ stop: async () => { await attacker.stop() } })
    await attacker.dial(victim.libp2p.getMultiaddrs()[0])
    if (contact) await victim.addContact(attacker.peerId.toString(), 'mallory')
    return { victim, attacker, dir }
  }

  /** The attacker offers a file by DM: `chunks` are the chunks it will serve, `hashed` those the offer is made from. */
  async function offer (attacker: Libp2p, victim: Chat, name: string, size: number, hashed: Uint8Array[]): Promise<string> {
    const hashes = new Uint8Array(hashed.length * 32)
    for (const [i, c] of hashed.entries()) hashes.set(await sha256(c), i * 32)
    const id = crypto.getRandomValues(new Uint8Array(16))
    const file = encodeOffer({ id, name, size, type: '', chunkSize: 2 ** 20, manifest: await sha256(hashes) })
    const stream = await attacker.dialProtocol(victim.peerId, DM_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(encodeDirectMessage({ id: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex'), timestamp: Date.now(), text: '', seq: 1, file }))
    await lp.read({ signal: AbortSignal.timeout(10_000) })
    await stream.close()
    return Buffer.from(id).toString('hex')
  }

  /** The attacker serves these hashes and chunks for any request. */
  async function serve (attacker: Libp2p, hashed: Uint8Array[], chunks: Uint8Array[]): Promise<void> {
    const hashes = new Uint8Array(hashed.length * 32)
    for (const [i, c] of hashed.entries()) hashes.set(await sha256(c), i * 32)
    await attacker.handle(FILE_PROTOCOL, async (stream: Stream) => {
      const lp = lpStream(stream, { maxDataLength: 2 ** 22 })
      try {
        FileRequest.decode((await lp.read()).subarray())
        await lp.write(FileHeader.encode({ hashes }))
        const want = FileWant.decode((await lp.read()).subarray())
        for (const c of chunks.slice(want.first)) await lp.write(c)
        await stream.close()
      } catch (err: any) {
        stream.abort(err)
      }
    })
  }

  it('refuses a chunk that does not match its hash, and says so', async () => {
    const { victim, attacker } = await victimAndAttacker(true)
    const good = [new Uint8Array(2 ** 20).fill(1), new Uint8Array(100).fill(2)]
    const bad = [good[0], new Uint8Array(100).fill(3)]
    await serve(attacker, good, bad)
    const failed = waitFor<FileTransfer>(victim, 'file-error')
    await offer(attacker, victim, 'bad.bin', 2 ** 20 + 100, good)
    const t = await failed
    assert.equal(t.state, 'failed')
    assert.match(t.error ?? '', /do not match/)
    assert.equal(victim.libp2p.services.files.stats.badChunks, 1)
    // nothing kept of it but the verified first chunk's partial file, and no finished file
    assert.equal(t.path, undefined)
  })

  it('refuses a sender that lies about the size', async () => {
    const { victim, attacker } = await victimAndAttacker(true)
    const chunk = new Uint8Array(1000).fill(7)
    // the offer says 5 MiB, the hashes are of one 1000-byte chunk: the manifest matches what is served
    await serve(attacker, [chunk], [chunk])
    const failed = waitFor<FileTransfer>(victim, 'file-error')
    await offer(attacker, victim, 'liar.bin', 5 * 2 ** 20, [chunk])
    const t = await failed
    assert.equal(t.state, 'failed')
    assert.match(t.error ?? '', /number of chunk hashes/)
    assert.equal(victim.libp2p.services.files.stats.malformed, 1)
  })

  it('keeps a stranger\'s file for the user, then fetches it when asked, under a safe name', async () => {
    const { victim, attacker, dir } = await victimAndAttacker(false)
    const chunk = new Uint8Array(5000).fill(9)
    await serve(attacker, [chunk], [chunk])
    const offered = waitFor<FileTransfer>(victim, 'file-offer')
    const id = await offer(attacker, victim, '../../\u202eCON', 5000, [chunk])
    const t = await offered
    assert.equal(t.id, id)
    assert.equal(t.state, 'offered')
    // a message request carries it
    assert.equal(victim.requests().length, 1)
    const done = waitFor<FileTransfer>(victim, 'file-done')
    await victim.files.fetch(id)
    const got = await done
    assert.equal(got.path, join(dir, 'victim', 'files', '_.._CON'))
    assert.deepEqual(new Uint8Array(await readFile(got.path as string)), chunk)
  })

  it('leaves a contact\'s file over the automatic size for the user', async () => {
    const dir = cleanup.dir(await tempDir())
    const a = cleanup.add(await startChat({ dataDir: join(dir, 'a') }))
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b'), autoFetchBytes: 1000 }))
    await befriend(a, b)
    const file = await randomFile(dir, 'big.bin', 1001)
    const offered = waitFor<FileTransfer>(b, 'file-offer')
    await a.sendFile('bob', await source(file.path))
    assert.equal((await offered).state, 'offered')
    const done = waitFor<FileTransfer>(b, 'file-done')
    await b.files.fetch((await offered).id)
    assert.equal(await hashOf((await done).path as string), file.hash)
  })

  it('serves a DM file only to the peer it was offered to', async () => {
    const dir = cleanup.dir(await tempDir())
    const a = cleanup.add(await startChat({ dataDir: join(dir, 'a') }))
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
    await befriend(a, b)
    const file = await randomFile(dir, 'private.bin', 100)
    const sent = await a.sendFile('bob', await source(file.path))
    const eve = await startAttacker()
    cleanup.add({ stop: async () => { await eve.stop() } })
    await eve.dial(a.libp2p.getMultiaddrs()[0])
    const stream = await eve.dialProtocol(a.peerId, FILE_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(FileRequest.encode({ id: Buffer.from(sent.id, 'hex') }))
    const header = FileHeader.decode((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
    assert.equal(header.error, 'unknown')
    assert.equal(header.hashes.byteLength, 0)
    assert.equal(a.libp2p.services.files.stats.refused, 1)
  })
})

describe('files in rooms', function () {
  this.timeout(120_000)
  const env = eachTestWithBootstrap()

  it('fetches a room file from a member who is not the author while the author is offline', async () => {
    const dir = env.cleanup.dir(await tempDir())
    const a = await startChat({ bootstrapNode: env.boot, dataDir: join(dir, 'a') })
    const b = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: join(dir, 'b') }))
    const c = env.cleanup.add(await startChat({ bootstrapNode: env.boot, dataDir: join(dir, 'c'), autoFetchBytes: 0 }))
    let aStopped = false
    env.cleanup.add({ stop: async () => { if (!aStopped) await a.stop() } })
    const room = await a.createRoom('photos')
    await b.joinRoom(room.invite)
    await c.joinRoom(room.invite)
    for (const [x, y] of [[a, b], [a, c], [b, c]]) await x.libp2p.dial(y.libp2p.getMultiaddrs()[0])
    await until(() => [a, b, c].every(x => x.members('photos').length === 3), 60_000, 'all members online in the room')
    // b is a contact of the author's: it fetches at once; c waits (autoFetchBytes 0)
    await b.addContact(a.peerId.toString(), 'alice')
    await c.addContact(a.peerId.toString(), 'alice')
    const file = await randomFile(dir, 'room.bin', 2 * 2 ** 20 + 7)
    const bDone = waitFor<FileTransfer>(b, 'file-done')
    const cOffer = waitFor<FileTransfer>(c, 'file-offer')
    const cMessage = waitFor<RoomMessageEvent>(c, 'room:message', m => m.file != null)
    const sent = await a.sendFile('photos', await source(file.path))
    assert.equal(sent.room, true)
    assert.equal(await hashOf((await bDone).path as string), file.hash)
    const offered = await cOffer
    assert.equal(offered.state, 'offered')
    assert.equal(offered.conversation, room.roomId)
    // the live message and the stored one name the transfer alike (the web app and terminal show it by that)
    assert.equal((await cMessage).file, sent.id)
    const [said] = await c.roomHistory('photos')
    assert.equal(said.file, sent.id)
    // the author goes; b still has it
    aStopped = true
    await a.stop()
    await until(() => c.members('photos').length === 2, 30_000, 'the author gone from the room')
    const cDone = waitFor<FileTransfer>(c, 'file-done')
    await c.files.fetch(offered.id)
    assert.equal(await hashOf((await cDone).path as string), file.hash)
    assert.ok(b.libp2p.services.files.stats.served >= 3, `b served ${b.libp2p.services.files.stats.served} chunks`)
  })
})

describe('files in the terminal client', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('sends, lists, saves and cancels with /send, /files, /save and /cancel, and prints the file events in --json', async () => {
    const dir = cleanup.dir(await tempDir())
    const c = cleanup.add(new JsonClient(['--json', '--data', join(dir, 'c'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc', '--auto-fetch', '1']))
    const ready = await c.next(l => l.type === 'ready')
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
    await c.command(`/add ${b.peerId.toString()} bob`, 'contact')
    await b.addContact(ready.peerId, 'carol')
    await b.libp2p.dial(multiaddr(ready.addresses[0]))
    // a file from bob: fetched at once (1 MiB or less), with its events
    const small = await randomFile(dir, 'small file.txt', 2000)
    const from = c.mark()
    const sent = await b.sendFile('carol', await source(small.path))
    const offer = await c.next(l => l.type === 'file-offer', from)
    assert.equal(offer.id, sent.id)
    assert.equal(offer.name, 'small file.txt')
    assert.equal(offer.direction, 'in')
    assert.equal(typeof offer.mime, 'string')
    const done = await c.next(l => l.type === 'file-done', from)
    assert.equal(await hashOf(done.path), small.hash)
    // one over --auto-fetch waits for /save
    const big = await randomFile(dir, 'big.bin', 2 ** 20 + 1)
    const bigSent = await b.sendFile('carol', await source(big.path))
    const waiting = await c.next(l => l.type === 'file-offer' && l.id === bigSent.id, from)
    assert.equal(waiting.state, 'offered')
    const saved = await c.command(`/save ${bigSent.id.slice(0, 8)} ${join(dir, 'copy.bin')}`, 'file-save')
    assert.equal(saved.file.id, bigSent.id)
    await c.next(l => l.type === 'file-done' && l.id === bigSent.id, from)
    assert.equal(await hashOf(join(dir, 'copy.bin')), big.hash)
    // carol sends one (a path with a space)
    const got = waitFor<FileTransfer>(b, 'file-done')
    const sentLine = await c.command(`/send bob ${small.path}`, 'file-sent')
    assert.equal(sentLine.file.state, 'serving')
    assert.equal(await hashOf((await got).path as string), small.hash)
    const list = await c.command('/files bob', 'files')
    assert.equal(list.files.length, 3)
    const cancelled = await c.command(`/cancel ${sentLine.file.id.slice(0, 10)}`, 'file-cancelled')
    assert.equal(cancelled.file.state, 'cancelled')
    const unknown = await c.command('/save ffffffffffff', 'error')
    assert.match(unknown.message, /no file/)
    const help = await c.command('/help', 'help')
    assert.ok(help.commands.some((x: any) => x.usage.startsWith('/send ')))
  })

  it('says in plain lines who offers what, how far it got and where it went, never obeying the name\'s control characters', async () => {
    const dir = cleanup.dir(await tempDir())
    const c = cleanup.add(new JsonClient(['--data', join(dir, 'c'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc']))
    await until(() => c.stdout.includes('Your peer ID'), 20_000, 'the client up')
    const peerId = /Your peer ID[^:]*: (\S+)/.exec(c.stdout)?.[1] as string
    const b = cleanup.add(await startChat({ dataDir: join(dir, 'b') }))
    c.send(`/add ${b.peerId.toString()} bob`)
    await until(() => c.stdout.includes('Added bob'), 20_000, 'bob added')
    await b.addContact(peerId, 'carol')
    c.send('/whoami')
    await until(() => /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(c.stdout), 20_000, 'addresses')
    const addr = /(\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(c.stdout)?.[1] as string
    await b.libp2p.dial(multiaddr(addr))
    const file = await randomFile(dir, 'plain.bin', 3 * 2 ** 20)
    await b.sendFile('carol', { ...(await source(file.path)), name: 'x\x1b[2J\u202eevil.bin' })
    await until(() => c.stdout.includes('saved to'), 30_000, 'the file saved')
    assert.match(c.stdout, /bob offers x\\x1b\[2J\\u202eevil\.bin \(3 MiB\)/)
    assert.match(c.stdout, /↓ .*\d+%/)
    // the conversation's history shows the file, not an empty message
    c.send('/history bob')
    await until(() => /bob: 📎 x\\x1b\[2J\\u202eevil\.bin \(3 MiB\) \[[0-9a-f]{8}\]/.test(c.stdout), 10_000, 'the file in /history')
    // one the other way: its delivery line names it
    const small = await randomFile(dir, 'reply.bin', 1000)
    c.send(`/send bob ${small.path}`)
    await until(() => c.stdout.includes('✓ delivered to bob: 📎 reply.bin'), 20_000, 'the delivery line naming the file')
    assert.doesNotMatch(c.stdout, /[\x1b\u202e]/)
    assert.ok(c.stdout.includes(join(dir, 'c', 'files', 'x[2Jevil.bin')), c.stdout)
  })
})
