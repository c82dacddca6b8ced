/**
 * The records the store keeps besides direct messages: contacts, message requests and blocked peers,
 * rooms and their messages, file transfers, calls (the key layout is at the top of ./index.ts).
 */
import { CorruptDataError } from '../errors.js'
import { blockedKey, callKey, contactKey, enc, fileHashKey, fileKey, json, lastByTime, parse, parseItem, requestKey, roomKey, roomMsgIdKey, roomMsgKey } from './keys.js'
import type { Blocked, CallRecord, Contact, FileRecord, MessageRequest, RoomItem, RoomRecord, StoredRoomMessage } from './types.js'
import type { Range, ReadRange } from './index.js'
import type { Datastore } from 'interface-datastore'

/**
 * A range of entries under a prefix (ReadRange), the slow way any datastore can: every entry under it
 * read, sorted by key (not every datastore returns keys in order), and the range kept.
 */
export async function rangeByKey (datastore: Pick<Datastore, 'query'>, prefix: string, range: Range): Promise<Array<{ key: string, value: Uint8Array }>> {
  const all: Array<{ key: string, value: Uint8Array }> = []
  for await (const { key, value } of datastore.query({ prefix })) {
    const k = key.toString()
    if (range.after == null || k > range.after) all.push({ key: k, value })
  }
  all.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  return range.last === true ? all.slice(Math.max(0, all.length - range.limit)) : all.slice(0, range.limit)
}

export class RecordStore {
  /** adds under way, by key: "add if absent" must hold when the same message arrives twice at once */
  private readonly adding = new Map<string, Promise<boolean>>()

  /** a range of entries under a prefix (ChatStoreOptions.readRange), or every entry read and the range kept */
  protected readonly readRange: ReadRange

  constructor (readonly datastore: Datastore, readRange?: ReadRange) {
    this.readRange = readRange ?? (async (prefix, range) => await rangeByKey(datastore, prefix, range))
  }

  /** Runs `add` unless an add for the same key is under way, in which case this one is a duplicate. */
  protected async addOnce (key: string, add: () => Promise<boolean>): Promise<boolean> {
    const running = this.adding.get(key)
    if (running != null) {
      await running.catch(() => {})
      return false
    }
    const run = add().finally(() => { this.adding.delete(key) })
    this.adding.set(key, run)
    return await run
  }

  // ---- contacts

  async putContact (contact: Contact): Promise<void> {
    await this.datastore.put(contactKey(contact.peerId), json(contact))
  }

  async getContact (peer: string): Promise<Contact | undefined> {
    try {
      return parse<Contact>(await this.datastore.get(contactKey(peer)), 'contact')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  async deleteContact (peer: string): Promise<void> {
    await this.datastore.delete(contactKey(peer))
  }

  async listContacts (): Promise<Contact[]> {
    return await this.list<Contact>('/megachat/contact/', 'contact')
  }

  /** Every JSON record under a prefix. */
  protected async list<T> (prefix: string, what: string): Promise<T[]> {
    const out: T[] = []
    for await (const { value } of this.datastore.query({ prefix })) out.push(parse<T>(value, what))
    return out
  }

  // ---- message requests and blocked peers

  async listRequests (): Promise<MessageRequest[]> {
    return await this.list<MessageRequest>('/megachat/request/', 'message request')
  }

  async deleteRequest (peer: string): Promise<void> {
    await this.datastore.delete(requestKey(peer))
  }

  async listBlocked (): Promise<Blocked[]> {
    return await this.list<Blocked>('/megachat/blocked/', 'blocked peer')
  }

  async unblock (peer: string): Promise<void> {
    await this.datastore.delete(blockedKey(peer))
  }

  // ---- rooms

  async putRoom (room: RoomRecord): Promise<void> {
    await this.datastore.put(roomKey(room.roomId), json(room))
  }

  async listRooms (): Promise<RoomRecord[]> {
    return await this.list<RoomRecord>('/megachat/room/', 'room')
  }

  /** Forgets a room and its messages. */
  async deleteRoom (roomId: string): Promise<void> {
    const batch = this.datastore.batch()
    batch.delete(roomKey(roomId))
    for (const prefix of [`/megachat/roommsg/${roomId}/`, `/megachat/roomid/${roomId}/`]) {
      for await (const key of this.datastore.queryKeys({ prefix })) batch.delete(key)
    }
    await batch.commit()
  }

  async hasRoomMessage (roomId: string, id: string): Promise<boolean> {
    return await this.datastore.has(roomMsgIdKey(roomId, id))
  }

  /** Stores a room message unless its id is known already; false for a duplicate or replay. */
  async addRoomMessage (m: StoredRoomMessage): Promise<boolean> {
    return await this.addOnce(roomMsgIdKey(m.roomId, m.id).toString(), async () => await this.putRoomMessage(m))
  }

  private async putRoomMessage (m: StoredRoomMessage): Promise<boolean> {
    if (await this.hasRoomMessage(m.roomId, m.id)) return false
    const batch = this.datastore.batch()
    const key = roomMsgKey(m.roomId, m)
    batch.put(key, json(m))
    batch.put(roomMsgIdKey(m.roomId, m.id), enc.encode(key.toString()))
    await batch.commit()
    return true
  }

  /** The last `limit` messages of a room with a timestamp at or after `since`, oldest first. */
  async roomHistory (roomId: string, limit = 50, since = 0): Promise<StoredRoomMessage[]> {
    return await this.lastUnder<StoredRoomMessage>(`/megachat/roommsg/${roomId}/`, 'room message', limit, since)
  }

  /**
   * The newest `limit` messages of a room with a timestamp in [since, until], as items, oldest first.
   * Reads keys only, and holds at most twice `limit` items while it reads.
   */
  async roomItems (roomId: string, limit: number, since = 0, until = Infinity): Promise<RoomItem[]> {
    let items: RoomItem[] = []
    for await (const key of this.datastore.queryKeys({ prefix: `/megachat/roommsg/${roomId}/` })) {
      const item = parseItem(key.baseNamespace())
      if (item == null) throw new CorruptDataError('stored room message key is corrupted')
      if (item.timestamp < since || item.timestamp > until) continue
      items.push(item)
      if (items.length >= 2 * limit) items = lastByTime(items, limit)
    }
    return lastByTime(items, limit)
  }

  /** A room message by its item, if stored. */
  async getRoomMessage (roomId: string, item: RoomItem): Promise<StoredRoomMessage | undefined> {
    try {
      return parse<StoredRoomMessage>(await this.datastore.get(roomMsgKey(roomId, item)), 'room message')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  // ---- files

  /** Stores a transfer (with its chunk hashes, when given, in the same batch). */
  async putFile (record: FileRecord, hashes?: Uint8Array): Promise<void> {
    if (!/^[0-9a-f]{32}$/.test(record.id)) throw new CorruptDataError('bad file id')
    const batch = this.datastore.batch()
    batch.put(fileKey(record.id), json(record))
    if (hashes != null) batch.put(fileHashKey(record.id), hashes)
    await batch.commit()
  }

  async listFiles (): Promise<FileRecord[]> {
    return await this.list<FileRecord>('/megachat/file/', 'file')
  }

  async fileHashes (id: string): Promise<Uint8Array | undefined> {
    try {
      return await this.datastore.get(fileHashKey(id))
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  // ---- calls

  /** Stores how a call went (a second record for the same call replaces the first). */
  async addCall (c: CallRecord): Promise<void> {
    await this.datastore.put(callKey(c), json(c))
  }

  /** The last `limit` calls with a peer, oldest first. */
  async calls (peer: string, limit = 50): Promise<CallRecord[]> {
    return await this.lastUnder<CallRecord>(`/megachat/call/${peer}/`, 'call', limit)
  }

  /**
   * The last `limit` records under a key prefix with a timestamp at or after `since`, oldest first. Their
   * keys end in `<timestamp:16>-<id>`, so the last keys are the last records: only those are read (those
   * before `since` among them are left out, and then none before them is after it).
   */
  protected async lastUnder<T extends { timestamp: number, id: string }> (prefix: string, what: string, limit: number, since = 0): Promise<T[]> {
    const last = (await this.readRange(prefix, { limit, last: true })).map(({ value }) => parse<T>(value, what)).filter(r => r.timestamp >= since)
    return lastByTime(last, limit)
  }
}
