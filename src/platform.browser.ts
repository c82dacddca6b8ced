/**
 * Where a browser tab keeps its things: one IndexedDB database (named by `dataDir`, default
 * 'megachat') holding the history, contacts and rooms, and the identity key file under
 * `/megachat/identity`, in the same format as the Node.js `identity.key` (identity/keyfile.ts).
 * package.json's "browser" map puts this file in place of platform.ts. `dataDir: ':memory:'` keeps
 * everything in memory: a fresh identity, forgotten when the tab closes.
 */
import { generateKeyPair, privateKeyFromRaw } from '@libp2p/crypto/keys'
import { fromString } from 'uint8arrays/from-string'
import { MemoryDatastore } from 'datastore-core'
import { RangedIDBDatastore } from './store/idb.js'
import { Key } from 'interface-datastore'
import { DataDirError } from './errors.js'
import { openKey } from './identity/passphrase.js'
import type { PlatformInit, Platform } from './platform-types.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export type { PlatformInit, Platform } from './platform-types.js'

const DEFAULT_DATABASE = 'megachat'
const MEMORY = ':memory:'
const IDENTITY_KEY = new Key('/megachat/identity')

export async function openPlatform (init: PlatformInit): Promise<Platform> {
  const name = init.dataDir ?? DEFAULT_DATABASE
  if (name === MEMORY) {
    return { privateKey: await newIdentity(), datastore: new MemoryDatastore(), close: async () => {} }
  }
  if (globalThis.indexedDB == null) throw new DataDirError('this browser gives the page no IndexedDB (private mode?): nothing could be kept')
  // one tab per database: two tabs with one identity would fight over the same peer ID
  // the page may have asked for it already (web/index.html); if that failed, ask again here
  const own = async (): Promise<(() => void) | null> => await holdLock(`megachat:${name}`, false)
  let release = init.lock != null ? await init.lock.catch(own) : await own()
  if (release == null) {
    if (init.onLockHeld == null) throw new DataDirError('MegaChat is already open in another tab of this browser')
    // wait for that tab to close (or to go elsewhere), then carry on here
    init.onLockHeld()
    release = await holdLock(`megachat:${name}`, true)
  }
  const datastore = new RangedIDBDatastore(name)
  try {
    await datastore.open()
  } catch (err: any) {
    release()
    throw new DataDirError(`cannot open the browser's storage (${name}): ${err.message ?? err}`)
  }
  const close = async (): Promise<void> => {
    try {
      await datastore.close()
    } finally {
      release()
    }
  }
  try {
    const { privateKey, saved, protectedNow } = await loadIdentity(datastore, init)
    // nobody may wait on `saved` if the caller fails first: its rejection is reported by createChat
    saved?.catch(() => {})
    return { privateKey, datastore, close, saved, protectedNow, readRange: async (prefix, range) => await datastore.readRange(prefix, range) }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/**
 * The key from the datastore, or a new one, with the write that stores it (`saved`) still under way; a
 * passphrase works as with the key file on disk (identity/passphrase.ts).
 */
async function loadIdentity (datastore: Datastore, init: PlatformInit): Promise<{ privateKey: PrivateKey, saved?: Promise<void>, protectedNow: boolean }> {
  let stored: Uint8Array | undefined
  try {
    // a database made just now holds nothing: no need to ask it
    if (await init.newDatabase?.catch(() => false) !== true) stored = await datastore.get(IDENTITY_KEY)
  } catch (err: any) {
    if (err.name !== 'NotFoundError') throw err
  }
  const key = await openKey(stored, { ...init, generate: newIdentity })
  const saved = key.file?.then(async file => { await datastore.put(IDENTITY_KEY, file) })
  return { privateKey: key.privateKey, saved, protectedNow: key.protectedNow }
}

/**
 * A new Ed25519 identity, made by the browser's WebCrypto where it has Ed25519 (Chromium 137+, Firefox,
 * Safari). @libp2p/crypto makes keys with @noble/curves, whose first use builds its base-point tables,
 * 20-30 ms of a first start's main thread; signing and verifying already go through WebCrypto when it
 * can, so with the key made there too those tables are never needed.
 */
async function newIdentity (): Promise<PrivateKey> {
  try {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']) as CryptoKeyPair
    const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
    if (jwk.d == null || jwk.x == null) throw new Error('no key material')
    const raw = new Uint8Array(64)
    raw.set(fromString(jwk.d, 'base64url'), 0)
    raw.set(fromString(jwk.x, 'base64url'), 32)
    return privateKeyFromRaw(raw)
  } catch {
    return await generateKeyPair('Ed25519')
  }
}

/**
 * An exclusive Web Lock held until the returned function is called. When another tab holds it: null,
 * or with `wait`, once that tab lets it go.
 */
async function holdLock (name: string, wait: true): Promise<() => void>
async function holdLock (name: string, wait: false): Promise<(() => void) | null>
async function holdLock (name: string, wait: boolean): Promise<(() => void) | null> {
  const locks = globalThis.navigator?.locks
  if (locks == null) return () => {}
  return await new Promise((resolve, reject) => {
    locks.request(name, { ifAvailable: !wait }, async (lock) => {
      if (lock == null) {
        resolve(null)
        return
      }
      await new Promise<void>(release => { resolve(release) })
    }).catch(reject)
  })
}
