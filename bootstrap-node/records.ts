/**
 * The bootstrap node's datastore, bounded: what the DHT and the peer store keep for others.
 *
 * libp2p keeps, in the datastore it is given: kad-dht provider records under
 * `/dht/provider/<key>/<peer id>` (one per key a peer announces), kad-dht value records under
 * `/dht/record/<key>`, and one peer-store record per peer under `/peers/<peer id>` (addresses, protocols,
 * metadata; every ADD_PROVIDER merges the sender's addresses into it). None of them has a limit, so one
 * peer sending junk ADD_PROVIDER messages made the node keep every one.
 *
 * {@link BoundedDatastore} sits between libp2p and the real store (LevelDB under the data directory, or
 * memory) and holds, by default: at most 256 provider records per peer and 20,000 in all; at most 1,000
 * value records of 8 KiB; peer records of at most 8 KiB, 10,000 of them. A write over a limit is dropped
 * and counted in `counts().refused`, never thrown (it happens deep inside libp2p's handlers); a peer
 * record over the count makes room by dropping the record written longest ago whose peer is not connected.
 * Expired provider records are deleted by kad-dht's own clean-up (hourly, after 48 h), which frees their
 * places. Rewriting a record that is held (a re-announcement, a peer's new address) is never refused.
 */
import { join } from 'node:path'
import { peerIdFromCID } from '@libp2p/peer-id'
import { BaseDatastore, MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { DataDirError, InvalidInputError } from '../src/errors.js'
import { openLevel } from '../src/platform.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Datastore, KeyQuery, Pair, Query } from 'interface-datastore'

export interface RecordLimits {
  /** provider records one peer may have here */
  maxProvidersPerPeer: number
  /** provider records in all */
  maxProviders: number
  /** kad-dht value records in all */
  maxValues: number
  /** the largest value record, bytes */
  maxValueBytes: number
  /** peer-store records in all */
  maxPeers: number
  /** the largest peer-store record, bytes */
  maxPeerBytes: number
}

export const DEFAULT_RECORD_LIMITS: Readonly<RecordLimits> = Object.freeze({
  maxProvidersPerPeer: 256,
  maxProviders: 20_000,
  maxValues: 1000,
  maxValueBytes: 8 * 1024,
  maxPeers: 10_000,
  maxPeerBytes: 8 * 1024
})

/** Each limit must be a positive whole number; throws InvalidInputError. */
export function checkRecordLimits (limits: RecordLimits): RecordLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`record limit ${name} must be a positive whole number, not ${String(value)}`)
  }
  return limits
}

export interface RecordCounts {
  /** provider records held */
  providers: number
  /** kad-dht value records held */
  values: number
  /** peer-store records held */
  peers: number
  /** writes dropped for a limit since start, by kind */
  refused: { providers: number, values: number, peers: number }
}

export interface BoundedDatastoreInit {
  limits?: Partial<RecordLimits>
  /** a peer record that must not be dropped to make room (this node's own, connected peers') */
  keep?(peerKey: string): boolean
}

const PROVIDERS = '/dht/provider/'
const VALUES = '/dht/record/'
const PEERS = '/peers/'

export class BoundedDatastore extends BaseDatastore {
  private readonly store: Datastore
  private readonly limits: RecordLimits
  private readonly keep: (peerKey: string) => boolean
  /** provider records per providing peer */
  private readonly providersOf = new Map<string, number>()
  private providers = 0
  private values = 0
  /** peer-record keys, the one written longest ago first */
  private readonly peers = new Map<string, true>()
  private readonly refused = { providers: 0, values: 0, peers: 0 }
  /** counted writes and deletes, one at a time (each looks at the store before it changes it) */
  private queue: Promise<unknown> = Promise.resolve()

  constructor (store: Datastore, init: BoundedDatastoreInit = {}) {
    super()
    this.store = store
    this.limits = { ...DEFAULT_RECORD_LIMITS, ...init.limits }
    this.keep = init.keep ?? (() => false)
  }

  /** Counts what the store already holds (a LevelDB from an earlier run). */
  async open (): Promise<void> {
    for await (const key of this.store.queryKeys({ prefix: PROVIDERS })) this.countProvider(key.toString(), 1)
    for await (const key of this.store.queryKeys({ prefix: PEERS })) this.peers.set(key.toString(), true)
    for await (const key of this.store.queryKeys({ prefix: VALUES })) if (key != null) this.values++
  }

  counts (): RecordCounts {
    return { providers: this.providers, values: this.values, peers: this.peers.size, refused: { ...this.refused } }
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!k.startsWith(PROVIDERS) && !k.startsWith(VALUES) && !k.startsWith(PEERS)) return await this.store.put(key, value, options)
    return await this.serially(async () => {
      if (k.startsWith(PEERS)) await this.putPeer(key, k, value, options)
      else if (await this.store.has(key, options)) {
        if (k.startsWith(VALUES) && value.byteLength > this.limits.maxValueBytes) this.refused.values++
        else await this.store.put(key, value, options)
      } else if (k.startsWith(PROVIDERS)) {
        if (this.providers >= this.limits.maxProviders || (this.providersOf.get(providerOf(k)) ?? 0) >= this.limits.maxProvidersPerPeer) this.refused.providers++
        else {
          await this.store.put(key, value, options)
          this.countProvider(k, 1)
        }
      } else if (this.values >= this.limits.maxValues || value.byteLength > this.limits.maxValueBytes) this.refused.values++
      else {
        await this.store.put(key, value, options)
        this.values++
      }
      return key
    })
  }

  private async putPeer (key: Key, k: string, value: Uint8Array, options?: AbortOptions): Promise<void> {
    if (value.byteLength > this.limits.maxPeerBytes) {
      this.refused.peers++
      return
    }
    if (!this.peers.has(k) && this.peers.size >= this.limits.maxPeers) {
      let oldest: string | undefined
      for (const p of this.peers.keys()) {
        if (this.keep(p)) continue
        oldest = p
        break
      }
      if (oldest == null) {
        this.refused.peers++
        return
      }
      await this.store.delete(new Key(oldest), options)
      this.peers.delete(oldest)
    }
    await this.store.put(key, value, options)
    this.peers.delete(k)
    this.peers.set(k, true)
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (!k.startsWith(PROVIDERS) && !k.startsWith(VALUES) && !k.startsWith(PEERS)) return await this.store.delete(key, options)
    await this.serially(async () => {
      const held = k.startsWith(PEERS) ? this.peers.has(k) : await this.store.has(key, options)
      await this.store.delete(key, options)
      if (!held) return
      if (k.startsWith(PEERS)) this.peers.delete(k)
      else if (k.startsWith(PROVIDERS)) this.countProvider(k, -1)
      else this.values--
    })
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    return await this.store.get(key, options)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    return await this.store.has(key, options)
  }

  override query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> | Generator<Pair> {
    return this.store.query(q, options)
  }

  override queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> | Generator<Key> {
    return this.store.queryKeys(q, options)
  }

  private countProvider (k: string, by: 1 | -1): void {
    const peer = providerOf(k)
    const n = (this.providersOf.get(peer) ?? 0) + by
    if (n > 0) this.providersOf.set(peer, n)
    else this.providersOf.delete(peer)
    this.providers += by
  }

  private async serially<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return await run
  }
}

export interface RecordStore {
  datastore: BoundedDatastore
  close(): Promise<void>
}

/**
 * Opens the bounded store: a LevelDB at `<dataDir>/datastore`, or memory without a data directory.
 * `connected` says whose peer record must not be dropped to make room (besides `self`).
 */
export async function openRecordStore (dataDir: string | undefined, self: PeerId, connected: (peer: PeerId) => boolean, limits?: Partial<RecordLimits>): Promise<RecordStore> {
  const keep = (peerKey: string): boolean => {
    try {
      const peer = peerIdFromCID(CID.parse(peerKey.slice(PEERS.length)))
      return peer.equals(self) || connected(peer)
    } catch {
      return false
    }
  }
  if (dataDir == null) return { datastore: new BoundedDatastore(new MemoryDatastore(), { limits, keep }), close: async () => {} }
  const path = join(dataDir, 'datastore')
  const level = await openLevel(path).catch((cause: any) => {
    if (cause.code === 'LEVEL_LOCKED') throw new DataDirError(`data directory ${dataDir} is in use by another process (its record store ${path} is locked)`)
    throw new DataDirError(`cannot open the record store ${path}: ${String(cause.message ?? cause.code).split('\n')[0]}`)
  })
  const datastore = new BoundedDatastore(level, { limits, keep })
  try {
    await datastore.open()
  } catch (err) {
    await level.close()
    throw err
  }
  return { datastore, close: async () => { await level.close() } }
}

/** The providing peer of a provider record's key (its last part). */
function providerOf (key: string): string {
  return key.slice(key.lastIndexOf('/') + 1)
}
