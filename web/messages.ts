/**
 * A conversation as the interface shows it: its key, its messages (text, file offers and calls) and the
 * pure rules that keep a list of them in order. Lists are never changed in place: each change makes a new
 * list, so whatever reads one through a signal sees the change.
 */
import { fileOf } from './files.js'
import type { CallRecord, DeliveryState, StoredMessage, StoredRoomMessage } from '../src/index.js'

export interface UiMessage {
  id: string
  /** peer ID of the author */
  from: string
  mine: boolean
  text: string
  /** author's clock */
  timestamp: number
  /** our clock when it arrived (for unread counts) */
  at: number
  /** its place in the conversation: the store's order for direct messages, else the timestamp in µs */
  order: number
  state?: DeliveryState
  /** a call in the conversation's history, in place of a text message */
  call?: CallRecord
  /** a file's offer: the transfer's id (chat.files.get(file)); `text` is the file's name */
  file?: string
}

export type ConversationKey = `dm:${string}` | `room:${string}`

export const dmKey = (peerId: string): ConversationKey => `dm:${peerId}`
export const roomKey = (roomId: string): ConversationKey => `room:${roomId}`

export function splitKey (key: ConversationKey): ['dm' | 'room', string] {
  const i = key.indexOf(':')
  return [key.slice(0, i) as 'dm' | 'room', key.slice(i + 1)]
}

export function shortId (peerId: string): string {
  return peerId.length > 14 ? `${peerId.slice(0, 6)}…${peerId.slice(-4)}` : peerId
}

export interface UiMessageMaker {
  fromStored: (m: StoredMessage) => UiMessage
  fromRoom: (m: StoredRoomMessage) => UiMessage
  fromCall: (r: CallRecord) => UiMessage
  /** A file's offer: its transfer id, and its name as the text (lists and previews show that). */
  fileFields: (m: StoredMessage | StoredRoomMessage | { text: string }) => Pick<UiMessage, 'file' | 'text'> | undefined
}

/** Makes the interface's messages from what the Chat stores, for the peer `me`; `fileName` names a transfer. */
export function uiMessages (me: string, fileName: (id: string) => string | undefined): UiMessageMaker {
  const fileFields: UiMessageMaker['fileFields'] = (m) => {
    const file = fileOf(m)
    if (file == null) return undefined
    return { file, text: fileName(file) ?? (m.text !== '' ? m.text : 'a file') }
  }
  return {
    fileFields,
    fromStored: (m) => {
      const mine = m.direction === 'out'
      return { id: m.id, from: mine ? me : m.peer, mine, text: m.text, timestamp: m.timestamp, at: m.receivedAt ?? m.timestamp, order: m.order ?? m.timestamp * 1000, state: m.state, ...fileFields(m) }
    },
    fromRoom: (m) => ({ id: m.id, from: m.author, mine: m.author === me, text: m.text, timestamp: m.timestamp, at: m.receivedAt, order: m.timestamp * 1000, ...fileFields(m) }),
    fromCall: (r) => {
      const mine = r.direction === 'out'
      return { id: `call-${r.id}`, from: mine ? me : r.peer, mine, text: callText(r), timestamp: r.timestamp, at: r.endedAt, order: r.timestamp * 1000, call: r }
    }
  }
}

const byOrder = (a: UiMessage, b: UiMessage): number => a.order - b.order

/**
 * The list with `m` in it once (by id), in conversation order (stable: ties keep arrival order); the same
 * list when `m` changes nothing.
 */
export function withMessage (list: readonly UiMessage[], m: UiMessage): readonly UiMessage[] {
  // a file we sent shows at once (ChatModel.sendFiles); its stored offer message takes that place when it comes
  const early = m.file != null ? list.findIndex(x => x.file === m.file && x.id === `file-${m.file}`) : -1
  if (early >= 0 && list[early].id !== m.id) return replaced(list, early, { ...list[early], ...m }).sort(byOrder)
  const had = list.findIndex(x => x.id === m.id || (m.file != null && x.file === m.file))
  if (had >= 0) {
    const old = list[had]
    // a call's final record replaces the one stored while it ran
    if (m.call != null) return replaced(list, had, { ...old, call: m.call, text: m.text, at: m.at })
    if (m.state === 'delivered' && old.state !== 'delivered') return replaced(list, had, { ...old, state: 'delivered' })
    return list
  }
  return [...list, m].sort(byOrder)
}

/** The list with the message `id` marked delivered (the same list when there is none, or it already is). */
export function withDelivered (list: readonly UiMessage[], id: string): readonly UiMessage[] {
  const i = list.findIndex(x => x.id === id)
  return i < 0 || list[i].state === 'delivered' ? list : replaced(list, i, { ...list[i], state: 'delivered' })
}

function replaced (list: readonly UiMessage[], i: number, m: UiMessage): UiMessage[] {
  const out = [...list]
  out[i] = m
  return out
}

/** "2:05", "1:02:05" */
export function duration (ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000))
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60]
  const two = (n: number): string => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`
}

/** How a call in the history reads. */
export function callText (r: CallRecord): string {
  const kind = r.video ? 'video call' : 'voice call'
  const out = r.direction === 'out'
  switch (r.outcome) {
    case 'answered':
      return `${out ? 'Outgoing' : 'Incoming'} ${kind}${r.connectedAt != null ? ` · ${duration(r.endedAt - r.connectedAt)}` : ''}`
    case 'missed':
      if (!out) return `Missed ${kind}${r.reason != null ? ` (${r.reason})` : ''}`
      return r.reason === 'no answer' ? `No answer (${kind})` : `Cancelled ${kind}`
    case 'declined':
      return out ? `They declined your ${kind}` : `You declined the ${kind}`
    case 'busy':
      return 'Busy: they were in another call'
    case 'failed':
      return `Call failed${r.reason != null ? `: ${r.reason}` : ''}`
  }
}
