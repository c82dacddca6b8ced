import type { PassphraseOptions } from './identity/passphrase.js'
import type { PrivateKey } from '@libp2p/interface'
import type { PathBatch, ReadRange } from './store/index.js'
import type { Datastore } from 'interface-datastore'

/**
 * What a platform (Node: files and LevelDB; browser: IndexedDB) is opened with. The passphrase
 * options (`passphrase`, `askPassphrase`, `choosePassphrase`, `scryptN`) work as identity/passphrase.ts says.
 */
export interface PlatformInit extends PassphraseOptions {
  dataDir?: string
  /**
   * Browser: the tab's lock on its data (`megachat:<dataDir>`), already requested by the page, which
   * web/index.html does while the code downloads. Resolves to the function that releases it, or to
   * null when another tab holds it; when it fails, the lock is requested again here.
   */
  lock?: Promise<(() => void) | null>
  /**
   * Browser: resolves to true when the page has just created the database (web/index.html opens it
   * while the code downloads), so that there is no identity in it to look for.
   */
  newDatabase?: Promise<boolean>
  /**
   * Browser: called when another tab holds the lock on this data. With it, the platform waits for
   * that tab to close and then opens; without it, it fails at once with DataDirError.
   */
  onLockHeld?: () => void
}

/** The identity and the store a chat runs on. */
export interface Platform {
  privateKey: PrivateKey
  datastore: Datastore
  close(): Promise<void>
  /**
   * Browser: a new identity is being written while the node is assembled; this resolves once it is
   * stored (createChat waits for it before the node starts, so that no peer ID is ever shown or used
   * that a reload would lose). Absent when there was nothing to write.
   */
  saved?: Promise<void>
  /** The datastore copies the values it writes (LevelDB), so the store may hand it views of shared buffers. */
  copiesValues?: boolean
  /** A batch on the database itself, keys as paths (ChatStoreOptions.pathBatch) */
  pathBatch?: () => PathBatch
  /** Entries under a prefix read as a key range of the database (ChatStoreOptions.readRange) */
  readRange?: ReadRange
  /** An unprotected identity key was given a passphrase just now (the user may want to hear it). */
  protectedNow?: boolean
}
