/**
 * openPlatform on Node.js: the data directory's store is held by one process at a time, and a second
 * one is told so in plain words (the LevelDB LOCK file, classic-level's LEVEL_LOCKED; src/platform.ts
 * reads it through datastore-level's `db`, which this pins), before any passphrase is asked.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { openPlatform } from '../src/platform.js'
import { Cleanup, tempDir } from './fixtures.js'

const FAST = { scryptN: 2 ** 10 }

describe('platform (Node.js)', function () {
  this.timeout(10_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('refuses a second opening of a data directory with DataDirInUseError, and opens once the first has closed', async () => {
    const dir = cleanup.dir(await tempDir('megachat-platform-'))
    const first = await openPlatform({ dataDir: dir, ...FAST })
    let asked = 0
    await assert.rejects(openPlatform({ dataDir: dir, ...FAST, askPassphrase: async () => { asked++; return 'x' } }), (err: Error) => {
      assert.equal(err.name, 'DataDirInUseError')
      assert.equal(err.message, `MegaChat is already running with this data directory (${dir}); another process holds it. Stop it first, or use --data <other dir>.`)
      return true
    })
    assert.equal(asked, 0)
    await first.close()
    const second = await openPlatform({ dataDir: dir, ...FAST })
    assert.ok(second.privateKey.equals(first.privateKey))
    await second.close()
  })

  it('says the store cannot be opened, and not that it is in use, for any other failure', async () => {
    const dir = cleanup.dir(await tempDir('megachat-platform-'))
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'db'), 'a file where the store should be')
    await assert.rejects(openPlatform({ dataDir: dir, ...FAST }), (err: Error) => {
      assert.equal(err.name, 'DataDirError')
      assert.match(err.message, /^cannot open the message store in /)
      assert.ok(!err.message.includes('\n'))
      return true
    })
  })

  it('tells whether the key was given a passphrase just now', async () => {
    const dir = cleanup.dir(await tempDir('megachat-platform-'))
    const plain = await openPlatform({ dataDir: dir, ...FAST })
    assert.equal(plain.protectedNow, false)
    await plain.close()
    const now = await openPlatform({ dataDir: dir, ...FAST, passphrase: 'pw' })
    assert.equal(now.protectedNow, true)
    await now.close()
    const later = await openPlatform({ dataDir: dir, ...FAST, passphrase: 'pw' })
    assert.equal(later.protectedNow, false)
    await later.close()
  })
})
