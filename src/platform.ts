/**
 * Where a Node.js client keeps its things: `<dataDir>/identity.key` and a LevelDB at `<dataDir>/db`.
 * The browser build swaps this file for platform.browser.ts (IndexedDB).
 */
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { DataDirError, DataDirInUseError } from './errors.js'
import { ensureDataDir, loadIdentity } from './identity/index.js'
import type { PlatformInit, Platform } from './platform-types.js'
import type { ChatStoreOptions, PathBatch, Range } from './store/index.js'

export type { PlatformInit, Platform } from './platform-types.js'

export async function openPlatform (init: PlatformInit): Promise<Platform> {
  if (init.dataDir == null) {
    const datastore = new MemoryDatastore()
    return { privateKey: await generateKeyPair('Ed25519'), datastore, close: async () => {} }
  }
  await ensureDataDir(init.dataDir)
  // the store first: its lock tells a second process on this directory to stop before it asks for a passphrase
  const datastore = await openStore(init.dataDir)
  try {
    const { privateKey, protectedNow } = await loadIdentity(init.dataDir, init)
    return {
      privateKey,
      datastore,
      protectedNow,
      ...levelStoreOptions(datastore),
      close: async () => { await datastore.close() }
    }
  } catch (err) {
    await datastore.close().catch(() => {})
    throw err
  }
}

/**
 * LevelDB's write buffer (its memtable): 8 MiB instead of its default 4. A burst of messages fills the
 * default one every few thousand, and the flushes and compactions that follow cost more than the writes:
 * the store alone took 22-24 us of CPU (all threads) per message sent and acknowledged in bursts of
 * 20,000 of 1 kB, and 13-14 us with 8 MiB (16 and 32 MiB gain nothing more). Memory is used only while
 * writing: the buffer fills as data is written and is emptied to disk when full.
 */
const LEVEL_WRITE_BUFFER = 8 * 1024 * 1024

/**
 * Opens a LevelDB datastore at `path`, creating it when missing. LevelDatastore.open() keeps only the text
 * of classic-level's error ("Database failed to open"), so the database is opened through its public `db`
 * first, with the options LevelDatastore would use, and a failure rejects with classic-level's own error:
 * its `code` is LEVEL_LOCKED when another process holds the LOCK file (pinned by test/store.spec.ts).
 */
export async function openLevel (path: string): Promise<LevelDatastore> {
  const datastore = new LevelDatastore(path)
  try {
    await datastore.db.open({ createIfMissing: true, compression: false, writeBufferSize: LEVEL_WRITE_BUFFER })
    await datastore.open()
  } catch (err: any) {
    throw err.cause ?? err
  }
  return datastore
}

/**
 * A batch straight on the LevelDB behind the datastore, keys as the paths LevelDatastore would write
 * (it stores `key.toString()` with utf8 keys; test/store.spec.ts reads them back through the datastore).
 */
export function levelBatch (datastore: LevelDatastore): PathBatch {
  const ops: Array<{ type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }> = []
  return {
    put: (key, value) => { ops.push({ type: 'put', key, value }) },
    delete: (key) => { ops.push({ type: 'del', key }) },
    commit: async () => { await datastore.db.batch(ops) }
  }
}

/** How the store uses LevelDB below the datastore: values copied as written, its own batch, key ranges. */
export function levelStoreOptions (datastore: LevelDatastore): Required<Pick<ChatStoreOptions, 'copiesValues' | 'pathBatch' | 'readRange'>> {
  return {
    copiesValues: true,
    pathBatch: () => levelBatch(datastore),
    readRange: async (prefix, range) => await levelRange(datastore, prefix, range)
  }
}

/**
 * A range of entries under a prefix, in key order, read with LevelDB's iterator from just after `after`
 * on, or backwards from the end for the last ones (the datastore's query reads every entry under the
 * prefix).
 */
export async function levelRange (datastore: LevelDatastore, prefix: string, range: Range): Promise<Array<{ key: string, value: Uint8Array }>> {
  const after = range.after != null && range.after >= prefix
  const entries = await datastore.db.iterator({
    ...(after ? { gt: range.after } : { gte: prefix }),
    lt: `${prefix}\xFF`,
    reverse: range.last === true,
    limit: Number.isFinite(range.limit) ? Math.max(0, Math.floor(range.limit)) : -1,
    keyEncoding: 'utf8',
    valueEncoding: 'view'
  }).all()
  if (range.last === true) entries.reverse()
  return entries.map(([key, value]) => ({ key: String(key), value: value as Uint8Array }))
}

/** Opens `<dir>/db`, saying in words when another MegaChat holds it. */
async function openStore (dir: string): Promise<LevelDatastore> {
  try {
    return await openLevel(join(dir, 'db'))
  } catch (cause: any) {
    if (cause.code === 'LEVEL_LOCKED') {
      throw new DataDirInUseError(`MegaChat is already running with this data directory (${dir}); another process holds it. Stop it first, or use --data <other dir>.`)
    }
    throw new DataDirError(`cannot open the message store in ${dir}: ${String(cause.message ?? cause.code).split('\n')[0]}`)
  }
}
