/** A direct message's record, as the store writes it and reads it back. */
import { CorruptDataError } from '../errors.js'
import { MSG_PREFIX, dec, parse } from './keys.js'
import { MessageRecord } from './pb/record.js'
import type { Slab } from '../slab.js'
import type { StoredMessage } from './types.js'

/** The first byte of a message record written as JSON (earlier versions); a MessageRecord never starts with it. */
const JSON_START = 0x7b

/**
 * A direct message's record (its peer and id are in its key): a MessageRecord (pb/record.proto), the bytes
 * protons writes, written by hand into `slab` (see src/slab.ts).
 */
export function encodeMessage (m: StoredMessage, slab: Slab): Uint8Array {
  slab.start(64 + 3 * m.text.length + (m.file?.length ?? 0) + (m.offer?.length ?? 0))
  if (m.direction === 'in') slab.varint(0x08).varint(1)
  if (m.text.length > 0) slab.utf8Field(0x12, m.text)
  if (m.timestamp !== 0) slab.varint(0x18).varint(m.timestamp)
  if (m.receivedAt != null) slab.varint(0x20).varint(m.receivedAt)
  if (m.seq != null) slab.varint(0x28).varint(m.seq)
  if (m.order != null) slab.varint(0x30).varint(m.order)
  if (m.file != null) slab.utf8Field(0x3a, m.file)
  if (m.offer != null) slab.utf8Field(0x42, m.offer)
  return slab.end()
}

/**
 * A direct message from its key (`/megachat/msg/<peerId>/<order:16>-<id>`) and record: a MessageRecord, or
 * the JSON StoredMessage of earlier versions. An outgoing one is 'pending' (as written; history() and
 * getMessage() look at the outbox).
 */
export function decodeMessage (key: string, bytes: Uint8Array): StoredMessage {
  if (bytes[0] === JSON_START) return parse<StoredMessage>(bytes, 'message')
  const slash = key.lastIndexOf('/')
  const dash = key.lastIndexOf('-')
  if (!key.startsWith(MSG_PREFIX) || slash <= MSG_PREFIX.length || dash < slash) throw new CorruptDataError('stored message key is corrupted')
  let r: MessageRecord
  try {
    r = MessageRecord.decode(bytes)
  } catch {
    throw new CorruptDataError('stored message is corrupted')
  }
  return {
    id: key.slice(dash + 1),
    peer: key.slice(MSG_PREFIX.length, slash),
    direction: r.incoming ? 'in' : 'out',
    text: dec.decode(r.text),
    timestamp: r.timestamp,
    ...(r.incoming ? {} : { state: 'pending' as const }),
    ...(r.receivedAt != null ? { receivedAt: r.receivedAt } : {}),
    ...(r.seq != null ? { seq: r.seq } : {}),
    ...(r.order != null ? { order: r.order } : {}),
    ...(r.file != null ? { file: r.file } : {}),
    ...(r.offer != null ? { offer: r.offer } : {})
  }
}
