/**
 * The interface's view of one Chat: contacts with presence, rooms, the messages of each conversation,
 * unread counts and the connection status, kept up to date from the Chat's events. Components read it
 * and re-render on `subscribe`; all protocol work stays in createChat().
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { BootstrapNodeStatus, CallInfo, CallRecord, Chat, ContactInfo, DeliveryState, RoomInfo, StoredMessage, StoredRoomMessage } from '../src/index.js'
import type { RtcCall } from '../src/calls/rtc.js'
import { fileOf, isImage, onFileEvents, withFiles } from './files.js'
import type { FileChat } from './files.js'

const HISTORY_LIMIT = 200
const LAST_READ_KEY = 'megachat:last-read'

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

/** A picture larger than this gets no preview (decoding it would take too much memory). */
const THUMBNAIL_MAX_SOURCE = 64 * 1024 * 1024

export type ConversationKey = `dm:${string}` | `room:${string}`

export type StatusState = 'starting' | 'no-bootstrap' | 'connecting' | 'unreachable' | 'ready' | 'error'

export interface Status {
  state: StatusState
  text: string
  /** what to do about it, for a banner (state 'unreachable') */
  detail?: string
}

export const dmKey = (peerId: string): ConversationKey => `dm:${peerId}`
export const roomKey = (roomId: string): ConversationKey => `room:${roomId}`

export function shortId (peerId: string): string {
  return peerId.length > 14 ? `${peerId.slice(0, 6)}…${peerId.slice(-4)}` : peerId
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export class ChatModel {
  readonly chat: FileChat
  readonly bootstrap: string[]
  contacts: ContactInfo[] = []
  rooms: RoomInfo[] = []
  /** peers who wrote to us (or called) without being contacts: their message requests */
  strangers = new Set<string>()
  /** peer IDs the user blocked */
  blocked: string[] = []
  status: Status = { state: 'connecting', text: 'Connecting…' }
  /** the message most recently received, for the screen reader announcement */
  announcement = ''
  /** the call going on or ringing, if any */
  call?: CallInfo
  /** its media, once started (the web app's RtcCall) */
  session?: RtcCall
  /** why the last call attempt failed, for the conversation it was made from */
  callNotice?: { peer: string, text: string }
  private readonly sessions = new Map<string, RtcCall>()
  private readonly messages = new Map<ConversationKey, UiMessage[]>()
  private readonly lastRead: Record<string, number>
  private active?: ConversationKey
  private readonly listeners = new Set<() => void>()

  constructor (chat: Chat, bootstrap: string[]) {
    this.chat = withFiles(chat)
    this.bootstrap = bootstrap
    try {
      this.lastRead = JSON.parse(localStorage.getItem(LAST_READ_KEY) ?? '{}')
    } catch {
      this.lastRead = {}
    }
  }

  get me (): string {
    return this.chat.peerId.toString()
  }

  subscribe (fn: () => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  private changed (): void {
    for (const fn of this.listeners) fn()
  }

  async load (): Promise<void> {
    await this.refreshContacts()
    this.rooms = this.chat.listRooms()
    for (const r of this.chat.requests()) this.strangers.add(r.peerId)
    this.blocked = this.chat.blocked()
    await Promise.all([
      ...[...this.contacts.map(c => c.peerId), ...this.strangers].map(async peer => { await this.loadDm(peer) }),
      ...this.rooms.map(async r => { await this.loadRoom(r.roomId) })
    ])
    const chat = this.chat
    chat.addEventListener('message', (evt) => {
      const m = evt.detail
      if (this.contacts.every(c => c.peerId !== m.peer)) this.strangers.add(m.peer)
      this.add(dmKey(m.peer), { ...this.fromStored(m), at: m.receivedAt ?? Date.now() })
      this.announcement = `${m.name ?? shortId(m.peer)}: ${m.text}`
      this.changed()
    })
    chat.addEventListener('sent', (evt) => {
      const m = evt.detail
      this.add(dmKey(m.peer), this.fromStored(m))
      this.changed()
    })
    chat.addEventListener('delivered', (evt) => {
      const list = this.messages.get(dmKey(evt.detail.peer))
      const m = list?.find(x => x.id === evt.detail.id)
      if (m != null) m.state = 'delivered'
      this.changed()
    })
    chat.addEventListener('presence', (evt) => {
      const c = this.contacts.find(x => x.peerId === evt.detail.peerId)
      if (c != null) {
        c.online = evt.detail.online
        c.lastSeen = evt.detail.lastSeen
      }
      this.changed()
    })
    chat.addEventListener('room:message', (evt) => {
      const m = evt.detail
      this.add(roomKey(m.roomId), { id: m.id, from: m.from, mine: false, text: m.text, timestamp: m.timestamp, at: m.synced ? m.timestamp : Date.now(), order: m.timestamp * 1000, ...this.fileFields(m) })
      if (!m.synced) this.announcement = `${m.room}, ${m.name ?? shortId(m.from)}: ${m.text}`
      this.changed()
    })
    chat.addEventListener('call', (evt) => {
      const c = evt.detail
      if (c.state === 'ended') {
        this.sessions.delete(c.id)
        if (this.call?.id === c.id) {
          this.call = undefined
          this.session = undefined
        }
      } else {
        this.call = c
        this.session = this.sessions.get(c.id)
        if (c.state === 'incoming' && this.contacts.every(x => x.peerId !== c.peer)) this.announcement = 'Incoming call from someone not in your contacts'
        else if (c.state === 'incoming') this.announcement = `Incoming call from ${this.nameOf(c.peer)}`
      }
      this.changed()
    })
    chat.addEventListener('call:ended', (evt) => {
      const r = evt.detail
      if (r.direction === 'in' && this.contacts.every(c => c.peerId !== r.peer)) this.strangers.add(r.peer)
      this.add(dmKey(r.peer), this.fromCall(r))
      this.changed()
    })
    for (const name of ['connection:open', 'connection:close', 'self:peer:update'] as const) {
      chat.libp2p.addEventListener(name, () => { this.updateStatus() })
    }
    onFileEvents(chat, (t) => {
      if (t.direction === 'in' && t.state === 'offered') this.announcement = `${this.nameOf(t.from)} sent a file: ${t.name}`
      this.changed()
    })
    chat.addEventListener('bootstrap', () => { this.updateStatus() })
    chat.addEventListener('room:members', () => {
      this.rooms = this.chat.listRooms()
      this.changed()
    })
    this.updateStatus()
  }

  private async refreshContacts (): Promise<void> {
    this.contacts = await this.chat.contacts()
    for (const c of this.contacts) this.strangers.delete(c.peerId)
  }

  private async loadDm (peerId: string): Promise<void> {
    const [history, calls] = await Promise.all([this.chat.history(peerId, HISTORY_LIMIT), this.chat.callHistory(peerId, HISTORY_LIMIT)])
    this.merge(dmKey(peerId), [...history.map(m => this.fromStored(m)), ...calls.map(r => this.fromCall(r))])
  }

  private async loadRoom (roomId: string): Promise<void> {
    const history = await this.chat.roomHistory(roomId, HISTORY_LIMIT)
    this.merge(roomKey(roomId), history.map(m => this.fromRoom(m)))
  }

  private fromStored (m: StoredMessage): UiMessage {
    const mine = m.direction === 'out'
    return { id: m.id, from: mine ? this.me : m.peer, mine, text: m.text, timestamp: m.timestamp, at: m.receivedAt ?? m.timestamp, order: m.order ?? m.timestamp * 1000, state: m.state, ...this.fileFields(m) }
  }

  /** A file's offer: its transfer id, and its name as the text (lists and previews show that). */
  private fileFields (m: StoredMessage | StoredRoomMessage | { text: string }): Pick<UiMessage, 'file' | 'text'> | undefined {
    const file = fileOf(m)
    if (file == null) return undefined
    return { file, text: this.chat.files.get(file)?.name ?? (m.text !== '' ? m.text : 'a file') }
  }

  private fromRoom (m: StoredRoomMessage): UiMessage {
    return { id: m.id, from: m.author, mine: m.author === this.me, text: m.text, timestamp: m.timestamp, at: m.receivedAt, order: m.timestamp * 1000, ...this.fileFields(m) }
  }

  private fromCall (r: CallRecord): UiMessage {
    const mine = r.direction === 'out'
    return { id: `call-${r.id}`, from: mine ? this.me : r.peer, mine, text: callText(r), timestamp: r.timestamp, at: r.endedAt, order: r.timestamp * 1000, call: r }
  }

  private merge (key: ConversationKey, list: UiMessage[]): void {
    for (const m of list) this.add(key, m)
  }

  /** Adds a message once (by id), in conversation order (stable: ties keep arrival order). */
  private add (key: ConversationKey, m: UiMessage): void {
    const list = this.messages.get(key) ?? []
    // a file we sent shows at once (sendFiles); its stored offer message takes that place when it comes
    const early = m.file != null ? list.find(x => x.file === m.file && x.id === `file-${m.file}`) : undefined
    if (early != null && early.id !== m.id) {
      Object.assign(early, m)
      list.sort((a, b) => a.order - b.order)
      return
    }
    const had = list.find(x => x.id === m.id || (m.file != null && x.file === m.file))
    if (had != null) {
      if (m.state === 'delivered') had.state = 'delivered'
      // a call's final record replaces the one stored while it ran
      if (m.call != null) Object.assign(had, { call: m.call, text: m.text, at: m.at })
      return
    }
    list.push(m)
    list.sort((a, b) => a.order - b.order)
    this.messages.set(key, list)
    if (key === this.active && document.visibilityState === 'visible') this.markRead(key)
  }

  messagesOf (key: ConversationKey): UiMessage[] {
    return this.messages.get(key) ?? []
  }

  lastOf (key: ConversationKey): UiMessage | undefined {
    const list = this.messages.get(key)
    return list?.[list.length - 1]
  }

  unread (key: ConversationKey): number {
    const since = this.lastRead[key] ?? 0
    // a call counts when it was missed; one that was answered or declined was seen
    return this.messagesOf(key).filter(m => !m.mine && m.at > since && (m.call == null || m.call.outcome === 'missed')).length
  }

  totalUnread (): number {
    let n = 0
    for (const key of this.messages.keys()) n += this.unread(key)
    return n
  }

  setActive (key: ConversationKey | undefined): void {
    this.active = key
    if (key != null) this.markRead(key)
    this.changed()
  }

  markRead (key: ConversationKey): void {
    const last = this.messagesOf(key).reduce((t, m) => Math.max(t, m.at), 0)
    this.lastRead[key] = Math.max(Date.now(), last)
    try {
      localStorage.setItem(LAST_READ_KEY, JSON.stringify(this.lastRead))
    } catch {}
  }

  /** A display name for a peer: you, a contact's name, or a short peer ID. */
  nameOf (peerId: string): string {
    if (peerId === this.me) return 'You'
    return this.contacts.find(c => c.peerId === peerId)?.name ?? shortId(peerId)
  }

  // ---- actions (each throws the Chat's errors, whose messages are one clear line)

  async addContact (peerId: string, name?: string): Promise<ContactInfo> {
    const info = await this.chat.addContact(peerId, name)
    await this.refreshContacts()
    await this.loadDm(info.peerId)
    this.changed()
    return info
  }

  async removeContact (peerId: string): Promise<void> {
    await this.chat.removeContact(peerId)
    await this.refreshContacts()
    this.changed()
  }

  /** Blocks someone: their connections are refused and the conversation with them is deleted. */
  async block (peerId: string): Promise<void> {
    await this.chat.block(peerId)
    this.strangers.delete(peerId)
    this.messages.delete(dmKey(peerId))
    this.blocked = this.chat.blocked()
    await this.refreshContacts()
    this.changed()
  }

  async unblock (peerId: string): Promise<void> {
    await this.chat.unblock(peerId)
    this.blocked = this.chat.blocked()
    this.changed()
  }

  async send (peerId: string, text: string): Promise<void> {
    await this.chat.send(peerId, text)
  }

  /**
   * Sends files to a conversation, one after the other, each with a preview when it is a picture. The
   * bubble shows at once; the offer's stored message takes its place when the Chat reports it.
   */
  async sendFiles (key: ConversationKey, files: File[]): Promise<void> {
    const i = key.indexOf(':')
    const id = key.slice(i + 1)
    for (const f of files) {
      const thumbnail = isImage(f) && f.size <= THUMBNAIL_MAX_SOURCE ? await (await import('./thumbnail.js')).makeThumbnail(f) : undefined
      const t = await this.chat.sendFile(id, { name: f.name, type: f.type, blob: f, ...(thumbnail != null ? { thumbnail } : {}) })
      const now = Date.now()
      this.add(key, { id: `file-${t.id}`, from: this.me, mine: true, text: t.name, timestamp: now, at: now, order: now * 1000, file: t.id })
      this.changed()
    }
  }

  async createRoom (name: string): Promise<RoomInfo> {
    const room = await this.chat.createRoom(name)
    this.rooms = this.chat.listRooms()
    this.changed()
    return room
  }

  async joinRoom (invite: string, localName?: string): Promise<RoomInfo> {
    const room = await this.chat.joinRoom(invite, localName)
    this.rooms = this.chat.listRooms()
    await this.loadRoom(room.roomId)
    this.changed()
    return room
  }

  async leaveRoom (roomId: string): Promise<void> {
    await this.chat.leaveRoom(roomId)
    this.messages.delete(roomKey(roomId))
    this.rooms = this.chat.listRooms()
    this.changed()
  }

  async say (roomId: string, text: string): Promise<void> {
    const stored = await this.chat.say(roomId, text)
    this.add(roomKey(roomId), this.fromRoom(stored))
    this.changed()
  }

  // ---- calls

  /** The call's media, as rtcMedia's onSession hands it over. */
  attachSession (callId: string, session: RtcCall): void {
    this.sessions.set(callId, session)
    if (this.call?.id === callId) {
      this.session = session
      this.changed()
    }
  }

  /** Gets ready to call a contact (their conversation is open, or a call button is pointed at). */
  prepareCall (peerId: string): void {
    try {
      this.chat.prepareCall(peerId)
    } catch {} // not a peer we can call: the call button says why when pressed
  }

  /** Calls a contact; a failure is kept in callNotice (and thrown). */
  async startCall (peerId: string, video: boolean): Promise<void> {
    this.callNotice = undefined
    this.changed()
    try {
      await this.chat.call(peerId, { video })
    } catch (err: any) {
      this.callNotice = { peer: peerId, text: err.message ?? String(err) }
      this.changed()
      throw err
    }
  }

  async acceptCall (video: boolean): Promise<void> {
    if (this.call != null) await this.chat.calls.accept(this.call.id, { video })
  }

  async declineCall (): Promise<void> {
    if (this.call != null) await this.chat.calls.decline(this.call.id)
  }

  async hangup (): Promise<void> {
    if (this.call != null) await this.chat.calls.hangup(this.call.id)
  }

  dismissCallNotice (): void {
    this.callNotice = undefined
    this.changed()
  }

  members (roomId: string): string[] {
    try {
      return this.chat.members(roomId)
    } catch {
      return []
    }
  }

  updateStatus (): void {
    this.status = connectionStatus(this.chat, this.bootstrap)
    this.changed()
  }
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

/** One line about the connections: how many peers, how many only through a relay, and whether we are reachable. */
export function connectionStatus (chat: Chat, bootstrap: string[]): Status {
  if (bootstrap.length === 0) {
    return { state: 'no-bootstrap', text: 'No bootstrap node configured — open Settings to add one. Nobody can reach you until then.' }
  }
  // a peer counts as direct when any of its connections is (WebSocket, WebRTC), else relayed
  const direct = new Map<string, boolean>()
  for (const c of chat.libp2p.getConnections()) {
    const peer = c.remotePeer.toString()
    direct.set(peer, direct.get(peer) === true || c.direct)
  }
  const peers = direct.size
  const relayed = [...direct.values()].filter(d => !d).length
  const reachable = chat.addresses().some(a => a.includes('/p2p-circuit'))
  const unreachable = bootstrapProblem(chat.bootstrapStatus(), peers)
  if (unreachable != null) return unreachable
  if (peers === 0) return { state: 'connecting', text: 'Connecting to the bootstrap node…' }
  const count = `Connected to ${plural(peers, 'peer')}${relayed > 0 ? ` (${relayed} via relay)` : ''}`
  if (!reachable) return { state: 'connecting', text: `${count}; waiting for a relay reservation…` }
  return { state: 'ready', text: count }
}

/**
 * When no bootstrap node is connected and each has failed a dial: which, why, and that it is retried
 * (without one, nobody can be found, and contacts would only look offline).
 */
function bootstrapProblem (nodes: BootstrapNodeStatus[], peers: number): Status | undefined {
  if (nodes.length === 0 || nodes.some(n => n.connected || n.lastError == null)) return undefined
  const reasons = [...new Set(nodes.map(n => n.lastError))].join('; ')
  const retrying = nodes.some(n => n.peerId != null)
  const others = peers > 0 ? ` ${plural(peers, 'other peer')} connected.` : ''
  const which = nodes.length === 1 ? `The bootstrap node ${hostPort(nodes[0].address)} is not` : `None of the ${nodes.length} bootstrap nodes is`
  return {
    state: 'unreachable',
    // the sidebar is narrow: a peer ID in a reason ('wrong peer id: the node there is 12D3…') shortened there
    text: `${nodes.length === 1 ? 'Bootstrap node' : 'No bootstrap node'} not reachable (${reasons.replace(/\b(12D3KooW|Qm)\w{30,}/g, shortId)})${retrying ? ' — retrying' : ''}.${others}`,
    detail: `${which} reachable (${reasons}): contacts cannot be found until ${nodes.length === 1 ? 'it' : 'one'} is. ${retrying ? 'MegaChat keeps trying; if' : 'If'} the address is wrong, correct it in Settings.`
  }
}

/** "203.0.113.7:4001" for a bootstrap multiaddr (the address itself if it has no host and port). */
function hostPort (address: string): string {
  try {
    const parts = multiaddr(address).getComponents()
    const host = parts[0]?.value
    const port = parts.find(p => p.name === 'tcp' || p.name === 'udp')?.value
    if (host == null || port == null) return address
    return parts[0].name === 'ip6' ? `[${host}]:${port}` : `${host}:${port}`
  } catch {
    return address
  }
}
