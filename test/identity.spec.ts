/**
 * The identity key file: made once with mode 0600 in a 0700 directory, the same peer ID on every load,
 * optional passphrase protection (scrypt + XChaCha20-Poly1305), and one clear error for a damaged file.
 */
import assert from 'node:assert/strict'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeKeyFile, encodeKeyFile, isProtected, KEY_FILE, loadIdentity, MAX_PASSPHRASE_TRIES } from '../src/identity/index.js'
import { Cleanup, tempDir } from './fixtures.js'

/** Cheap scrypt so that each test takes milliseconds. */
const FAST = { scryptN: 2 ** 10 }

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const doc = (file: Uint8Array): Record<string, any> => JSON.parse(new TextDecoder().decode(file))

/** Resolves with the error `fn` rejects with; fails when it resolves. */
async function rejection (fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn()
  } catch (err: any) {
    return err
  }
  assert.fail('expected a rejection')
}

describe('identity', function () {
  this.timeout(10_000)
  const cleanup = new Cleanup()
  let dir: string

  beforeEach(async () => {
    // a directory that does not exist yet: loadIdentity makes it
    dir = join(cleanup.dir(await tempDir('megachat-identity-')), 'data')
  })

  afterEach(async () => { await cleanup.run() })

  describe('loadIdentity', () => {
    it('makes the data directory (0700) and identity.key (0600) on first load', async () => {
      const id = await loadIdentity(dir, FAST)
      assert.equal(id.created, true)
      assert.equal(id.privateKey.type, 'Ed25519')
      assert.ok(id.peerId.equals(peerIdFromPrivateKey(id.privateKey)))
      assert.equal((await stat(dir)).isDirectory(), true)
      assert.equal(await mode(dir), 0o700)
      assert.equal(await mode(join(dir, KEY_FILE)), 0o600)
      assert.equal(isProtected(await readFile(join(dir, KEY_FILE))), false)
    })

    it('gives the same peer ID on every later load', async () => {
      const first = await loadIdentity(dir, FAST)
      const second = await loadIdentity(dir, FAST)
      const third = await loadIdentity(dir, FAST)
      assert.equal(second.created, false)
      assert.equal(third.created, false)
      assert.equal(second.peerId.toString(), first.peerId.toString())
      assert.equal(third.peerId.toString(), first.peerId.toString())
      assert.ok(second.privateKey.equals(first.privateKey))
    })

    it('gives a different peer ID for a different directory', async () => {
      const a = await loadIdentity(dir, FAST)
      const b = await loadIdentity(join(dir, '..', 'other'), FAST)
      assert.notEqual(a.peerId.toString(), b.peerId.toString())
    })

    it('repairs a key file whose mode was loosened to 0644', async () => {
      const first = await loadIdentity(dir, FAST)
      const path = join(dir, KEY_FILE)
      await chmod(path, 0o644)
      assert.equal(await mode(path), 0o644)
      const again = await loadIdentity(dir, FAST)
      assert.equal(again.peerId.toString(), first.peerId.toString())
      assert.equal(await mode(path), 0o600)
    })

    it('tightens a data directory that others could read to 0700', async () => {
      await loadIdentity(dir, FAST)
      await chmod(dir, 0o755)
      await loadIdentity(dir, FAST)
      assert.equal(await mode(dir), 0o700)
    })

    it('protects an existing unprotected key when a passphrase is given, and says so', async () => {
      const first = await loadIdentity(dir, FAST)
      assert.equal(first.protected, false)
      assert.equal(first.protectedNow, false)
      const again = await loadIdentity(dir, { ...FAST, passphrase: 'from now on' })
      assert.equal(again.protected, true)
      assert.equal(again.protectedNow, true)
      assert.equal(again.peerId.toString(), first.peerId.toString())
      assert.equal(isProtected(await readFile(join(dir, KEY_FILE))), true)
      await assert.rejects(loadIdentity(dir, FAST), { name: 'PassphraseRequiredError' })
      assert.equal((await loadIdentity(dir, { ...FAST, passphrase: 'from now on' })).peerId.toString(), first.peerId.toString())
    })

    it('fails with DataDirError when the data directory is a file', async () => {
      await loadIdentity(dir, FAST)
      const err = await rejection(async () => await loadIdentity(join(dir, KEY_FILE), FAST))
      assert.equal(err.name, 'DataDirError')
    })
  })

  describe('passphrase', () => {
    it('encrypts a new key with the passphrase and opens it only with that passphrase', async () => {
      const made = await loadIdentity(dir, { ...FAST, passphrase: 'correct horse' })
      assert.equal(made.created, true)
      const file = await readFile(join(dir, KEY_FILE))
      assert.equal(isProtected(file), true)
      const d = doc(file)
      assert.equal(d.key, undefined, 'no plain key in a protected file')
      assert.equal(d.kdf.name, 'scrypt')
      assert.equal(d.kdf.N, 2 ** 10)
      assert.equal(d.cipher, 'xchacha20-poly1305')

      const missing = await rejection(async () => await loadIdentity(dir, FAST))
      assert.equal(missing.name, 'PassphraseRequiredError')
      const empty = await rejection(async () => await loadIdentity(dir, { ...FAST, passphrase: '' }))
      assert.equal(empty.name, 'PassphraseRequiredError')
      const wrong = await rejection(async () => await loadIdentity(dir, { ...FAST, passphrase: 'correct horse!' }))
      assert.equal(wrong.name, 'WrongPassphraseError')

      const opened = await loadIdentity(dir, { ...FAST, passphrase: 'correct horse' })
      assert.equal(opened.created, false)
      assert.equal(opened.peerId.toString(), made.peerId.toString())
    })

    it('asks for the passphrase only when the key is protected and none was given', async () => {
      const made = await loadIdentity(dir, { ...FAST, passphrase: 's3cret' })
      let asked = 0
      const opened = await loadIdentity(dir, { ...FAST, askPassphrase: async () => { asked++; return 's3cret' } })
      assert.equal(asked, 1)
      assert.equal(opened.peerId.toString(), made.peerId.toString())

      const plainDir = join(dir, '..', 'plain')
      await loadIdentity(plainDir, FAST)
      await loadIdentity(plainDir, { ...FAST, askPassphrase: async () => { asked++; return 'unused' } })
      assert.equal(asked, 1, 'a plain key needs no passphrase')

      const wrong = await rejection(async () => await loadIdentity(dir, { ...FAST, askPassphrase: async () => 'nope' }))
      assert.equal(wrong.name, 'WrongPassphraseError')
    })

    it('asks again after a wrong passphrase, at most MAX_PASSPHRASE_TRIES times in all', async () => {
      const made = await loadIdentity(dir, { ...FAST, passphrase: 's3cret' })
      const asked: boolean[] = []
      const answers = ['s3cert', 's3cret']
      const opened = await loadIdentity(dir, { ...FAST, askPassphrase: async (again) => { asked.push(again); return answers[asked.length - 1] } })
      assert.deepEqual(asked, [false, true])
      assert.equal(opened.peerId.toString(), made.peerId.toString())

      asked.length = 0
      const wrong = await rejection(async () => await loadIdentity(dir, { ...FAST, askPassphrase: async (again) => { asked.push(again); return 'nope' } }))
      assert.equal(wrong.name, 'WrongPassphraseError')
      assert.equal(asked.length, MAX_PASSPHRASE_TRIES)
      assert.deepEqual(asked, [false, ...Array(MAX_PASSPHRASE_TRIES - 1).fill(true)])
      // a passphrase given up front (MEGACHAT_PASSPHRASE) is not asked again
      asked.length = 0
      const env = await rejection(async () => await loadIdentity(dir, { ...FAST, passphrase: 'nope', askPassphrase: async (again) => { asked.push(again); return 's3cret' } }))
      assert.equal(env.name, 'WrongPassphraseError')
      assert.deepEqual(asked, [])
    })

    it('chooses a passphrase for a new key (--passphrase), and for a key that has none, saying so', async () => {
      const purposes: string[] = []
      const choose = async (purpose: string): Promise<string> => { purposes.push(purpose); return 'chosen one' }
      const made = await loadIdentity(dir, { ...FAST, choosePassphrase: choose })
      assert.deepEqual(purposes, ['new'])
      assert.equal(made.created, true)
      assert.equal(made.protected, true)
      assert.equal(made.protectedNow, false, 'a new key was not protected "now": it never had no passphrase')
      assert.equal(isProtected(await readFile(join(dir, KEY_FILE))), true)
      // a protected key is opened, not chosen for again
      const opened = await loadIdentity(dir, { ...FAST, choosePassphrase: choose, askPassphrase: async () => 'chosen one' })
      assert.deepEqual(purposes, ['new'])
      assert.equal(opened.peerId.toString(), made.peerId.toString())

      const plainDir = join(dir, '..', 'plain')
      const plain = await loadIdentity(plainDir, FAST)
      const protectedNow = await loadIdentity(plainDir, { ...FAST, choosePassphrase: choose })
      assert.deepEqual(purposes, ['new', 'protect'])
      assert.equal(protectedNow.protectedNow, true)
      assert.equal(protectedNow.peerId.toString(), plain.peerId.toString())
      assert.equal((await loadIdentity(plainDir, { ...FAST, passphrase: 'chosen one' })).peerId.toString(), plain.peerId.toString())
    })

    it('refuses an empty chosen passphrase in plain words and writes nothing', async () => {
      const err = await rejection(async () => await loadIdentity(dir, { ...FAST, choosePassphrase: async () => '' }))
      assert.equal(err.name, 'InvalidInputError')
      assert.match(err.message, /empty passphrase would leave the key unprotected/)
      await assert.rejects(stat(join(dir, KEY_FILE)), { code: 'ENOENT' })

      const plain = await loadIdentity(dir, FAST)
      const before = await readFile(join(dir, KEY_FILE))
      assert.equal((await rejection(async () => await loadIdentity(dir, { ...FAST, choosePassphrase: async () => '' }))).name, 'InvalidInputError')
      assert.deepEqual(await readFile(join(dir, KEY_FILE)), before)
      assert.equal(plain.protected, false)
    })

    it('uses a fresh random salt and nonce for every file, even with the same passphrase and key', async () => {
      const key = await generateKeyPair('Ed25519')
      const a = doc(await encodeKeyFile(key, 'same passphrase', FAST))
      const b = doc(await encodeKeyFile(key, 'same passphrase', FAST))
      assert.equal(typeof a.kdf.salt, 'string')
      assert.equal(Buffer.from(a.kdf.salt, 'base64').byteLength, 16)
      assert.notEqual(a.kdf.salt, b.kdf.salt)
      assert.notEqual(a.nonce, b.nonce)
      assert.notEqual(a.sealed, b.sealed)

      // and through loadIdentity: two directories, same passphrase
      await loadIdentity(dir, { ...FAST, passphrase: 'same passphrase' })
      const other = join(dir, '..', 'other')
      await loadIdentity(other, { ...FAST, passphrase: 'same passphrase' })
      const saltA = doc(await readFile(join(dir, KEY_FILE))).kdf.salt
      const saltB = doc(await readFile(join(other, KEY_FILE))).kdf.salt
      assert.notEqual(saltA, saltB)
    })
  })

  describe('corrupted key file', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['truncated JSON', utf8('{"v":1,"type":"Ed25519","key":"CAESQ')],
      ['garbage bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 151 + 7) & 0xff)],
      ['an empty file', new Uint8Array(0)],
      ['JSON that is not an object', utf8('[1,2,3]')],
      ['JSON null', utf8('null')],
      ['an unknown version', utf8('{"v":2,"type":"Ed25519","key":"AAAA"}')],
      ['no key field', utf8('{"v":1,"type":"Ed25519"}')],
      ['a key that is a number', utf8('{"v":1,"type":"Ed25519","key":12345}')],
      ['a key that is not a private key', utf8(`{"v":1,"type":"Ed25519","key":"${Buffer.from('hello world').toString('base64')}"}`)]
    ]

    for (const [what, bytes] of cases) {
      it(`rejects ${what} with CorruptDataError`, async () => {
        await loadIdentity(dir, FAST)
        const path = join(dir, KEY_FILE)
        await writeFile(path, bytes)
        const err = await rejection(async () => await loadIdentity(dir, FAST))
        assert.equal(err.name, 'CorruptDataError')
        // the damaged file is left alone: no new key was written over it
        assert.deepEqual(new Uint8Array(await readFile(path)), bytes)
      })
    }

    it('rejects a protected file with unknown or missing protection fields with CorruptDataError', async () => {
      const key = await generateKeyPair('Ed25519')
      const good = doc(await encodeKeyFile(key, 'pw', FAST))
      const variants: Array<Record<string, unknown>> = [
        { ...good, cipher: 'rot13' },
        { ...good, kdf: { ...good.kdf, name: 'md5' } },
        { ...good, kdf: { ...good.kdf, N: 2 ** 30 } },
        { ...good, kdf: { ...good.kdf, r: 1 } },
        { ...good, kdf: undefined },
        { ...good, nonce: undefined },
        { ...good, kdf: { ...good.kdf, salt: 42 } }
      ]
      for (const v of variants) {
        const err = await rejection(async () => await decodeKeyFile(utf8(JSON.stringify(v)), 'pw'))
        assert.equal(err.name, 'CorruptDataError', JSON.stringify(v))
      }
    })
  })

  describe('encodeKeyFile / decodeKeyFile', () => {
    it('round-trips a plain key', async () => {
      const key = await generateKeyPair('Ed25519')
      const file = await encodeKeyFile(key)
      assert.equal(isProtected(file), false)
      const d = doc(file)
      assert.equal(d.v, 1)
      assert.equal(d.type, 'Ed25519')
      const back = await decodeKeyFile(file)
      assert.ok(back.equals(key))
      // a passphrase given for a plain file is not needed and does no harm
      assert.ok((await decodeKeyFile(file, 'ignored')).equals(key))
    })

    it('round-trips a protected key, and treats an empty passphrase as none', async () => {
      const key = await generateKeyPair('Ed25519')
      const file = await encodeKeyFile(key, 'pässwörd ✓', FAST)
      assert.equal(isProtected(file), true)
      assert.ok((await decodeKeyFile(file, 'pässwörd ✓')).equals(key))
      assert.equal((await rejection(async () => await decodeKeyFile(file))).name, 'PassphraseRequiredError')
      assert.equal((await rejection(async () => await decodeKeyFile(file, 'password'))).name, 'WrongPassphraseError')

      const plain = await encodeKeyFile(key, '', FAST)
      assert.equal(isProtected(plain), false)
    })

    it('normalizes the passphrase (NFKC): composed and decomposed spellings open the same file', async () => {
      const key = await generateKeyPair('Ed25519')
      const file = await encodeKeyFile(key, 'caf\u00e9', FAST)
      assert.ok((await decodeKeyFile(file, 'cafe\u0301')).equals(key))
    })

    it('detects a tampered ciphertext', async () => {
      const key = await generateKeyPair('Ed25519')
      const d = doc(await encodeKeyFile(key, 'pw', FAST))
      const sealed = Buffer.from(d.sealed, 'base64')
      sealed[0] ^= 1
      const tampered = utf8(JSON.stringify({ ...d, sealed: sealed.toString('base64') }))
      // an AEAD cannot tell a wrong passphrase from a flipped bit
      assert.equal((await rejection(async () => await decodeKeyFile(tampered, 'pw'))).name, 'WrongPassphraseError')
    })
  })
})
