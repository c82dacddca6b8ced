/**
 * Where a Node.js client keeps its things: `<dataDir>/identity.key` and a LevelDB at `<dataDir>/db`.
 * The browser build swaps this file for platform.browser.ts (IndexedDB).
 */
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { DataDirError } from './errors.js'
import { ensureDataDir, loadIdentity } from './identity/index.js'
import type { PlatformInit, Platform } from './platform-types.js'

export type { PlatformInit, Platform } from './platform-types.js'

export async function openPlatform (init: PlatformInit): Promise<Platform> {
  if (init.dataDir == null) {
    const datastore = new MemoryDatastore()
    return { privateKey: await generateKeyPair('Ed25519'), datastore, close: async () => {} }
  }
  await ensureDataDir(init.dataDir)
  const { privateKey } = await loadIdentity(init.dataDir, init)
  const datastore = new LevelDatastore(join(init.dataDir, 'db'))
  try {
    await datastore.open()
  } catch (err: any) {
    const cause = err.cause ?? err
    if (cause.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause.message))) {
      throw new DataDirError(`data directory ${init.dataDir} is in use by another MegaChat process`)
    }
    throw new DataDirError(`cannot open the message store in ${init.dataDir}: ${cause.code ?? cause.message}`)
  }
  return { privateKey, datastore, close: async () => { await datastore.close() } }
}
