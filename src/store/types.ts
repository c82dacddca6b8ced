/** The records MegaChat stores (the key layout is at the top of ./index.ts). */
export interface Contact {
  peerId: string
  name: string
  addedAt: number
  /** last time a connection to the contact was open (ms), if ever */
  lastSeen?: number
}

/** Someone who is not a contact wrote to us: their messages wait for the user to accept (add) or block them. */
export interface MessageRequest {
  peerId: string
  /** when the first and the last of their messages arrived (ms) */
  firstAt: number
  lastAt: number
  /** messages held so far, and their size: text in UTF-16 code units plus file offers' bytes */
  messages: number
  chars: number
}

export interface Blocked {
  peerId: string
  blockedAt: number
}

export type Direction = 'in' | 'out'
export type DeliveryState = 'pending' | 'delivered'

export interface StoredMessage {
  /** 32 hex characters: the random 128-bit id */
  id: string
  /** the other side of the conversation */
  peer: string
  direction: Direction
  text: string
  /** author's clock (ms) */
  timestamp: number
  /** for 'out': pending until the recipient acknowledged it */
  state?: DeliveryState
  /** for 'in': our clock when it arrived */
  receivedAt?: number
  /** the author's number for it in this conversation (1, 2, …) */
  seq?: number
  /** this device's position of it in the conversation (see the header) */
  order?: number
  /** a file offered with the message: the transfer's id (chat.files.get) */
  file?: string
  /** the offer as it travels (base64 of FileOfferPb), kept so that the outbox can send it again */
  offer?: string
}

/** A file transfer as stored (src/files/index.ts); `FileTransfer` is what the UI sees of it. */
export interface FileRecord {
  /** 32 hex characters */
  id: string
  /** a contact's peer ID, or a room's id */
  conversation: string
  room: boolean
  /** who offered it */
  from: string
  direction: Direction
  name: string
  size: number
  type: string
  chunkSize: number
  /** hex of the offer's manifest */
  manifest: string
  /** rooms: base64 of the per-file key */
  key?: string
  thumbnail?: string
  state: string
  bytes: number
  path?: string
  error?: string
  createdAt: number
  /** the message that carried the offer */
  messageId?: string
}

export interface RoomRecord {
  /** hex of the public room id */
  roomId: string
  /** local display name, unique among this user's rooms */
  name: string
  /** base64 of the 32-byte room secret */
  secret: string
  /** peer ID of whoever created the invite, if it said */
  creator?: string
  joinedAt: number
  /** last time this node was known to be in the room (ms); 0 until it has been there */
  lastActive: number
}

/** Where a room message sits in the room's order: what room sync compares, read from the keys alone. */
export interface RoomItem {
  /** author's clock (ms), as in the key */
  timestamp: number
  /** 32 hex characters */
  id: string
}

export interface StoredRoomMessage {
  /** 32 hex characters */
  id: string
  roomId: string
  author: string
  timestamp: number
  text: string
  receivedAt: number
  /** base64 of the sealed bytes as published, so they can be served to other members */
  sealed: string
  /** a file offered with the message: the transfer's id (chat.files.get) */
  file?: string
}

/** How a call ended, as both sides record it. */
export type CallOutcome =
  /** talked: answered, then hung up by either side */
  'answered' |
  /** not answered in time, or the caller gave up first: a missed call for the callee */
  'missed' |
  'declined' |
  /** the callee was in another call */
  'busy' |
  /** answered, but no media path could be made or it was lost */
  'failed'

export interface CallRecord {
  /** 32 hex characters: the call id chosen by the caller */
  id: string
  peer: string
  direction: Direction
  video: boolean
  /** when it started ringing (our clock, ms) */
  timestamp: number
  /** when media started to flow, if it did */
  connectedAt?: number
  endedAt: number
  outcome: CallOutcome
  /** more about how it ended, in one line, when there is more to say */
  reason?: string
}
