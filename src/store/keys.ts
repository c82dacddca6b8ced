/**
 * How the store writes its keys and JSON records (the layout is at the top of ./index.ts), and the
 * orders it sorts by.
 */
import { Key } from 'interface-datastore'
import { CorruptDataError } from '../errors.js'
import type { CallRecord, RoomItem, StoredMessage } from './types.js'

export const enc = new TextEncoder()
export const dec = new TextDecoder()
export const NOTHING = new Uint8Array(0)
export const MSG_PREFIX = '/megachat/msg/'
export const OUTBOX_PREFIX = '/megachat/outbox/'
export const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))

export function parse<T> (bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T
  } catch {
    throw new CorruptDataError(`stored ${what} is corrupted`)
  }
}

/** Orders by (timestamp, id): the order of the message keys, and of room sync's items. */
export function byTime (a: { timestamp: number, id: string }, b: { timestamp: number, id: string }): number {
  return a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** The last `limit` by (timestamp, id), oldest first. Not every datastore returns keys in order. */
export function lastByTime<T extends { timestamp: number, id: string }> (all: T[], limit: number): T[] {
  all.sort(byTime)
  return all.slice(Math.max(0, all.length - limit))
}

/** `<timestamp:16>-<id>`, the last part of a message key, back to its item. */
export function parseItem (name: string): RoomItem | undefined {
  const match = /^(\d{16,})-([0-9a-f]{32})$/.exec(name)
  return match == null ? undefined : { timestamp: Number(match[1]), id: match[2] }
}

/** A message's place in its conversation: its order, or (stored before there was one) its timestamp in µs. */
export const orderOf = (m: StoredMessage): number => m.order ?? m.timestamp * 1000
/** Oldest first by order; ties (none from one device) by id. */
export function byOrder (a: StoredMessage, b: StoredMessage): number {
  return orderOf(a) - orderOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

export const pad = (n: number): string => Math.max(0, Math.floor(n)).toString().padStart(16, '0')
/** A key from parts that are clean already (peer IDs, hex ids, digits): Key's own clean-up is skipped. */
export const cleanKey = (path: string): Key => new Key(path, false)
export const contactKey = (peer: string): Key => cleanKey(`/megachat/contact/${peer}`)
/** The number a direct message's key sorts by: its order, or (stored before there was one) its timestamp in ms. */
export const placeOf = (m: StoredMessage): number => m.order ?? m.timestamp
// the direct messages' keys as paths (what a PathBatch takes) and as Keys
export const msgPath = (m: StoredMessage): string => `/megachat/msg/${m.peer}/${pad(placeOf(m))}-${m.id}`
export const msgIdPath = (peer: string, id: string): string => `/megachat/msgid/${peer}/${id}`
export const outboxPath = (m: StoredMessage): string => `/megachat/outbox/${m.peer}/${pad(placeOf(m))}-${m.id}`
export const ackedPath = (peer: string): string => `/megachat/acked/${peer}`
export const SEQ_PREFIX = '/megachat/seq/'
export const seqPath = (peer: string): string => `${SEQ_PREFIX}${peer}`
export const inSeqPath = (peer: string): string => `/megachat/inseq/${peer}`
export const CLOCK_PATH = '/megachat/clock'
export const msgIdKey = (peer: string, id: string): Key => cleanKey(msgIdPath(peer, id))
export const outboxKey = (m: StoredMessage): Key => cleanKey(outboxPath(m))
export const seqKey = (peer: string): Key => cleanKey(seqPath(peer))
export const ackedKey = (peer: string): Key => cleanKey(ackedPath(peer))
export const inSeqKey = (peer: string): Key => cleanKey(inSeqPath(peer))
export const CLOCK_KEY = cleanKey(CLOCK_PATH)
export const requestPath = (peer: string): string => `/megachat/request/${peer}`
export const requestKey = (peer: string): Key => cleanKey(requestPath(peer))
export const blockedKey = (peer: string): Key => cleanKey(`/megachat/blocked/${peer}`)
export const callKey = (c: CallRecord): Key => cleanKey(`/megachat/call/${c.peer}/${pad(c.timestamp)}-${c.id}`)
export const roomKey = (roomId: string): Key => cleanKey(`/megachat/room/${roomId}`)
export const roomMsgKey = (roomId: string, m: RoomItem): Key => cleanKey(`/megachat/roommsg/${roomId}/${pad(m.timestamp)}-${m.id}`)
export const roomMsgIdKey = (roomId: string, id: string): Key => cleanKey(`/megachat/roomid/${roomId}/${id}`)
export const fileKey = (id: string): Key => cleanKey(`/megachat/file/${id}`)
export const fileHashKey = (id: string): Key => cleanKey(`/megachat/filehash/${id}`)
