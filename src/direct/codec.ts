/**
 * The DM protocol's frames (dm.proto): a sender's message written by hand into a slab, and a receiver's
 * strict reading of one (fields, lengths, UTF-8, timestamps), which throws ProtocolViolationError.
 */
import { MAX_CLOCK_AHEAD_MS, MAX_TEXT_BYTES, MIN_TIMESTAMP } from '../constants.js'
import { ProtocolViolationError } from '../errors.js'
import { toHex } from '../hex.js'
import { Slab } from '../slab.js'
import { checkFields } from '../node/frames.js'
import { decodeOffer } from '../files/offer.js'
import { DmFrame, DmFrameIn } from './pb/dm.js'
import type { DirectMessage } from './index.js'
import type { Shape } from '../node/frames.js'

const ID_BYTES = 16

/** DmFrame's fields as dm.proto declares them (checkFields refuses any other wire type, and invalid UTF-8). */
const DM_FRAME_SHAPE: Shape = {
  1: { 1: 'bytes', 2: 'varint', 3: 'string', 4: 'varint', 5: 'bytes' },
  2: { 2: 'varint' }
}
/** The same for a receiver, which reads the text as bytes (DmFrameIn) and checks its UTF-8 as it decodes it. */
const DM_FRAME_IN_SHAPE: Shape = { ...DM_FRAME_SHAPE, 1: { 1: 'bytes', 2: 'varint', 3: 'bytes', 4: 'varint', 5: 'bytes' } }
/** The platform's UTF-8 decoder: refuses invalid UTF-8, keeps a leading BOM as text. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const NO_TEXT = new Uint8Array(0)

/**
 * One message as a sender writes it: a DmFrame{message} (dm.proto), the same bytes protons writes, written
 * by hand into `slab` (a view of it is returned; a burst's frames share buffers, see src/slab.ts).
 */
export function encodeDirectMessage (m: DirectMessage, slab = new Slab(0)): Uint8Array {
  slab.start(48 + 3 * m.text.length + (m.file != null ? m.file.byteLength + 8 : 0)).nested()
  if (m.id.length !== 2 * ID_BYTES) throw new RangeError('a message id is 32 hex digits')
  slab.varint(0x0a).varint(ID_BYTES).hex(m.id)
  if (m.timestamp !== 0) slab.varint(0x10).varint(m.timestamp)
  if (m.text.length > 0) slab.utf8Field(0x1a, m.text)
  slab.varint(0x20).varint(m.seq ?? 0)
  if (m.file != null) slab.varint(0x2a).varint(m.file.byteLength).bytes(m.file)
  return slab.endNested(0x0a)
}

/**
 * Reads one inbound frame as the receiver does: its fields checked strictly, then a 16-byte id, text of
 * 1..maxTextBytes bytes (0 with a file), a timestamp from 2020 to a day ahead, a safe sequence number, a
 * file offer that decodeOffer takes. Throws ProtocolViolationError for anything else.
 */
export function decodeDirectMessage (bytes: Uint8Array, maxTextBytes = MAX_TEXT_BYTES): DirectMessage {
  checkFields(bytes, DM_FRAME_IN_SHAPE)
  let frame: DmFrameIn
  try {
    frame = DmFrameIn.decode(bytes)
  } catch {
    throw new ProtocolViolationError('undecodable frame')
  }
  const m = frame.message
  if (m == null || frame.ack != null) throw new ProtocolViolationError('expected a message frame')
  const id = m.id
  if (id?.byteLength !== ID_BYTES) throw new ProtocolViolationError('bad message id')
  const body = m.text ?? NO_TEXT
  if ((body.byteLength === 0 && m.file == null) || body.byteLength > maxTextBytes) throw new ProtocolViolationError('bad text length')
  if (m.file != null) decodeOffer(m.file)
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    throw new ProtocolViolationError('text is not UTF-8')
  }
  const timestamp = Number(m.timestamp ?? 0n)
  if (!Number.isSafeInteger(timestamp) || timestamp < MIN_TIMESTAMP || timestamp > Date.now() + MAX_CLOCK_AHEAD_MS) throw new ProtocolViolationError('bad timestamp')
  const seq = Number(m.seq ?? 0n)
  if (!Number.isSafeInteger(seq)) throw new ProtocolViolationError('bad sequence number')
  return { id: toHex(id), timestamp, text, ...(seq > 0 ? { seq } : {}), ...(m.file != null ? { file: m.file as Uint8Array<ArrayBuffer> } : {}) }
}

/** Decodes a frame whose fields are checked first; throws ProtocolViolationError. */
export function decodeFrame (bytes: Uint8Array): DmFrame {
  checkFields(bytes, DM_FRAME_SHAPE)
  try {
    return DmFrame.decode(bytes)
  } catch {
    throw new ProtocolViolationError('undecodable frame')
  }
}
