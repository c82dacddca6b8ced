/**
 * Owns the node's Ed25519 key: made on first start, kept in `<dir>/identity.key` with mode 0600,
 * the same peer ID after every restart. (A tab keeps its key in IndexedDB instead, platform.browser.ts;
 * a chat made without a data directory gets a throwaway key, platform.ts.)
 */
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DataDirError } from '../errors.js'
import { openKey } from './passphrase.js'
import type { PassphraseOptions } from './passphrase.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export { decodeKeyFile, encodeKeyFile, isProtected } from './keyfile.js'
export type { KeyFileOptions } from './keyfile.js'
export { MAX_PASSPHRASE_TRIES, newPassphraseProblem, openKey } from './passphrase.js'
export type { PassphraseOptions } from './passphrase.js'

export const KEY_FILE = 'identity.key'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** true when the key was made just now */
  created: boolean
  /** true when the key file is protected by a passphrase */
  protected: boolean
  /** true when a key that had no passphrase was given one just now */
  protectedNow: boolean
}

/** How a passphrase is given, asked for or chosen: see identity/passphrase.ts. */
export type LoadIdentityOptions = PassphraseOptions

/** Makes the data directory (mode 0700) or explains in one line why it cannot. */
export async function ensureDataDir (dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const s = await stat(dir)
    if (!s.isDirectory()) throw new DataDirError(`data directory ${dir} is not a directory`)
    // it holds the key and the history: private to its owner
    if ((s.mode & 0o077) !== 0) await chmod(dir, 0o700).catch(() => {})
  } catch (err: any) {
    if (err instanceof DataDirError) throw err
    throw new DataDirError(`cannot use data directory ${dir}: ${err.code ?? err.message}`)
  }
}

export async function loadIdentity (dir: string, options: LoadIdentityOptions = {}): Promise<Identity> {
  await ensureDataDir(dir)
  const path = join(dir, KEY_FILE)
  let stored: Uint8Array | undefined
  try {
    stored = await readFile(path)
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new DataDirError(`cannot read ${path}: ${err.code ?? err.message}`)
  }
  const key = await openKey(stored, options)
  if (key.file != null) await writeFileAtomic(path, await key.file)
  // repair a loosened mode: the key must stay private to its owner
  else await chmod(path, 0o600).catch(() => {})
  const { privateKey, created, protectedNow } = key
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created, protected: key.protected, protectedNow }
}

/** Writes `path` through a temporary file, synced, then renamed: a crash leaves the old file or the new one. */
export async function writeFileAtomic (path: string, data: Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}
