/**
 * Where a browser tab keeps its things: one IndexedDB database (named by `dataDir`, default
 * 'megachat') holding the history, contacts and rooms, and the identity key file under
 * `/megachat/identity`, in the same format as the Node.js `identity.key` (identity/keyfile.ts).
 * package.json's "browser" map puts this file in place of platform.ts. `dataDir: ':memory:'` keeps
 * everything in memory: a fresh identity, forgotten when the tab closes.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { IDBDatastore } from 'datastore-idb'
import { Key } from 'interface-datastore'
import { DataDirError } from './errors.js'
import { decodeKeyFile, encodeKeyFile, isProtected } from './identity/keyfile.js'
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
    return { privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore(), close: async () => {} }
  }
  if (globalThis.indexedDB == null) throw new DataDirError('this browser gives the page no IndexedDB (private mode?): nothing could be kept')
  // one tab per database: two tabs with one identity would fight over the same peer ID
  const release = await holdLock(`megachat:${name}`)
  if (release == null) throw new DataDirError('MegaChat is already open in another tab of this browser')
  const datastore = new IDBDatastore(name)
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
    return { privateKey: await loadIdentity(datastore, init), datastore, close }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
}

/** The key from the datastore, or a new one stored there; a passphrase works as with the key file on disk. */
async function loadIdentity (datastore: Datastore, init: PlatformInit): Promise<PrivateKey> {
  let file: Uint8Array | undefined
  try {
    file = await datastore.get(IDENTITY_KEY)
  } catch (err: any) {
    if (err.name !== 'NotFoundError') throw err
  }
  if (file == null) {
    const privateKey = await generateKeyPair('Ed25519')
    await datastore.put(IDENTITY_KEY, await encodeKeyFile(privateKey, init.passphrase, init))
    return privateKey
  }
  let passphrase = init.passphrase
  if ((passphrase == null || passphrase === '') && isProtected(file) && init.askPassphrase != null) {
    passphrase = await init.askPassphrase()
  }
  const privateKey = await decodeKeyFile(file, passphrase)
  if (!isProtected(file) && passphrase != null && passphrase !== '') {
    // a passphrase given for a key that has none: protect the key with it from now on
    await datastore.put(IDENTITY_KEY, await encodeKeyFile(privateKey, passphrase, init))
  }
  return privateKey
}

/** An exclusive Web Lock held until the returned function is called; undefined when another tab holds it. */
async function holdLock (name: string): Promise<(() => void) | undefined> {
  const locks = globalThis.navigator?.locks
  if (locks == null) return () => {}
  return await new Promise((resolve, reject) => {
    locks.request(name, { ifAvailable: true }, async (lock) => {
      if (lock == null) {
        resolve(undefined)
        return
      }
      await new Promise<void>(release => { resolve(release) })
    }).catch(reject)
  })
}
