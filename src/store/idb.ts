/**
 * IndexedDB for the browser (datastore-idb), with prefix queries read as key ranges and the last entries
 * under a prefix read from the end.
 *
 * IDBDatastore answers every query by listing every key of the database (libp2p's peer store and DHT
 * records, every message of every conversation) and then getting the matching ones one at a time: a
 * history, the contact list or the outbox cost time in proportion to everything ever stored. Here a query
 * with a prefix reads that key range alone, in one transaction, and readRange (ChatStoreOptions) reads
 * part of a range: from a key on, or backwards from its end with a cursor.
 *
 * An adapter over datastore-idb's internals: its database handle (`db`, an idb wrapper, private in its
 * types), its one object store named after the database, and keys stored as `key.toString()`. Without the
 * handle it answers as IDBDatastore does. test/web.spec.ts pins all three against the real library.
 */
import { IDBDatastore } from 'datastore-idb'
import { Key } from 'interface-datastore'
import { rangeByKey } from './records.js'
import type { Range } from './index.js'
import type { KeyQuery, Pair, Query } from 'interface-datastore'

interface AbortOptions { signal?: AbortSignal }

/** What is used of idb's wrapped database and transactions. */
interface Store {
  getAll(range: IDBKeyRange, count?: number): Promise<unknown[]>
  getAllKeys(range: IDBKeyRange, count?: number): Promise<IDBValidKey[]>
  openCursor(range: IDBKeyRange, direction: IDBCursorDirection): Promise<Cursor | null>
}
interface Cursor { key: IDBValidKey, value: unknown, continue(): Promise<Cursor | null> }
interface Database { transaction(name: string, mode: 'readonly'): { store: Store, done: Promise<void> } }

/**
 * The keys that start with `prefix` (every key here is a path of ASCII characters), or of those the ones
 * after the key `after`.
 */
function under (prefix: string, after?: string): IDBKeyRange {
  return after != null && after >= prefix
    ? IDBKeyRange.bound(after, `${prefix}\uffff`, true, true)
    : IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, true)
}

export class RangedIDBDatastore extends IDBDatastore {
  /** the object store's name: the database's (datastore-idb's `location`, with no prefix given) */
  private readonly storeName: string

  constructor (name: string) {
    super(name)
    this.storeName = name
  }

  /** datastore-idb's handle, once open; undefined if it has none by that name (then nothing is ranged) */
  get database (): Database | undefined {
    const db = (this as unknown as { db?: Database }).db
    return typeof db?.transaction === 'function' ? db : undefined
  }

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    const db = this.database
    if (q.prefix == null || db == null) {
      yield * super.query(q, options)
      return
    }
    const { keys, values } = await this.read(db, under(q.prefix), undefined, true)
    options?.signal?.throwIfAborted()
    yield * this.finish(keys.map((key, i) => ({ key: new Key(key), value: values[i] })), q)
  }

  override async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    const db = this.database
    if (q.prefix == null || db == null) {
      yield * super.queryKeys(q, options)
      return
    }
    const { keys } = await this.read(db, under(q.prefix), undefined, false)
    options?.signal?.throwIfAborted()
    yield * this.finish(keys.map(key => new Key(key)), q)
  }

  /** The first `count` keys (and values) of a key range, in key order, in one transaction. */
  private async read (db: Database, keys: IDBKeyRange, count: number | undefined, values: boolean): Promise<{ keys: string[], values: Uint8Array[] }> {
    const tx = db.transaction(this.storeName, 'readonly')
    const [found, read] = await Promise.all([tx.store.getAllKeys(keys, count), values ? tx.store.getAll(keys, count) : []])
    await tx.done
    return { keys: found.map(String), values: read as Uint8Array[] }
  }

  /**
   * A range of entries under a prefix, oldest first (ChatStoreOptions.readRange): from just after `after`
   * on, or the last ones read backwards from the end with a cursor.
   */
  async readRange (prefix: string, range: Range): Promise<Array<{ key: string, value: Uint8Array }>> {
    const db = this.database
    if (db == null) return await rangeByKey(this, prefix, range)
    const keys = under(prefix, range.after)
    const limit = Math.max(0, Math.floor(range.limit))
    if (limit === 0) return []
    if (range.last !== true) {
      const read = await this.read(db, keys, Number.isFinite(limit) ? limit : undefined, true)
      return read.keys.map((key, i) => ({ key, value: read.values[i] }))
    }
    const tx = db.transaction(this.storeName, 'readonly')
    const out: Array<{ key: string, value: Uint8Array }> = []
    let cursor = await tx.store.openCursor(keys, 'prev')
    while (cursor != null) {
      out.push({ key: String(cursor.key), value: cursor.value as Uint8Array })
      cursor = out.length < limit ? await cursor.continue() : null
    }
    await tx.done
    return out.reverse()
  }

  /** Filters, orders, offset and limit, in that order, as datastore-core's queries apply them. */
  private * finish<T extends Pair | Key> (items: T[], q: Query | KeyQuery): Generator<T> {
    let out = items
    for (const f of q.filters ?? []) out = out.filter(item => (f as (item: T) => boolean)(item))
    for (const o of q.orders ?? []) out = [...out].sort(o as (a: T, b: T) => number)
    const from = q.offset ?? 0
    yield * out.slice(from, q.limit != null ? from + q.limit : undefined)
  }
}
