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

/** The keys that start with `prefix` (every key here is a path of ASCII characters). */
const under = (prefix: string): IDBKeyRange => IDBKeyRange.bound(prefix, `${prefix}\uffff`, false, true)

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
    const range = q.prefix != null ? await this.range(q.prefix, true, options) : undefined
    if (range == null) yield * super.query(q, options)
    else yield * this.finish(range.keys.map((key, i) => ({ key, value: range.values[i] })), q)
  }

  override async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    const range = q.prefix != null ? await this.range(q.prefix, false, options) : undefined
    if (range == null) yield * super.queryKeys(q, options)
    else yield * this.finish(range.keys, q)
  }

  /** The keys (and values) under a prefix in key order, in one transaction; undefined without the handle. */
  private async range (prefix: string, values: boolean, options?: AbortOptions): Promise<{ keys: Key[], values: Uint8Array[] } | undefined> {
    const db = this.database
    if (db == null) return undefined
    const tx = db.transaction(this.storeName, 'readonly')
    const [keys, read] = await Promise.all([tx.store.getAllKeys(under(prefix)), values ? tx.store.getAll(under(prefix)) : []])
    await tx.done
    options?.signal?.throwIfAborted()
    return { keys: keys.map(key => new Key(String(key))), values: read as Uint8Array[] }
  }

  /**
   * A range of entries under a prefix, oldest first (ChatStoreOptions.readRange): from just after `after`
   * on, or the last ones read backwards from the end with a cursor.
   */
  async readRange (prefix: string, range: Range): Promise<Array<{ key: string, value: Uint8Array }>> {
    const db = this.database
    if (db == null) return await rangeByKey(this, prefix, range)
    const keys = range.after != null && range.after >= prefix ? IDBKeyRange.bound(range.after, `${prefix}\uffff`, true, true) : under(prefix)
    const limit = Math.max(0, Math.floor(range.limit))
    const tx = db.transaction(this.storeName, 'readonly')
    const out: Array<{ key: string, value: Uint8Array }> = []
    if (range.last === true) {
      let cursor = limit > 0 ? await tx.store.openCursor(keys, 'prev') : null
      while (cursor != null) {
        out.push({ key: String(cursor.key), value: cursor.value as Uint8Array })
        cursor = out.length < limit ? await cursor.continue() : null
      }
      out.reverse()
    } else if (limit > 0) {
      const count = Number.isFinite(limit) ? limit : undefined
      const [found, values] = await Promise.all([tx.store.getAllKeys(keys, count), tx.store.getAll(keys, count)])
      found.forEach((key, i) => out.push({ key: String(key), value: values[i] as Uint8Array }))
    }
    await tx.done
    return out
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
