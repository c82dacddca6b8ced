import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** What a platform (Node: files and LevelDB; browser: IndexedDB) is opened with. */
export interface PlatformInit {
  dataDir?: string
  passphrase?: string
  askPassphrase?: () => Promise<string>
  scryptN?: number
}

/** The identity and the store a chat runs on. */
export interface Platform {
  privateKey: PrivateKey
  datastore: Datastore
  close(): Promise<void>
}
