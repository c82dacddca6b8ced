/**
 * The interface's view of one Chat, in signals: contacts with presence, rooms, the messages of each
 * conversation, unread counts, the call, the connection status and which view is open, kept up to date
 * from the Chat's events. Components read `.value` and re-render when what they read changes; every
 * change makes new values (nothing is changed in place). All protocol work stays in createChat().
 */
import { batch, computed, effect, signal } from '@preact/signals'
import { mediaState } from './call-sessions.js'
import { Conversations } from './conversations.js'
import { connectionStatus } from './status.js'
import { isImage, onFileEvents, withFiles } from './files.js'
import { dmKey, roomKey, shortId, splitKey, uiMessages } from './messages.js'
import type { ReadonlySignal } from '@preact/signals'
import type { BootstrapNodeStatus, CallInfo, Chat, ContactInfo, RoomInfo } from '../src/index.js'
import type { RtcCall } from '../src/calls/rtc.js'
import type { FileTransfer } from '../src/files/types.js'
import type { CallSessions, MediaState } from './call-sessions.js'
import type { FileChat } from './files.js'
import type { ConversationKey, UiMessage, UiMessageMaker } from './messages.js'
import type { Status } from './status.js'

const HISTORY_LIMIT = 200

/** A picture larger than this gets no preview (decoding it would take too much memory). */
const THUMBNAIL_MAX_SOURCE = 64 * 1024 * 1024

/** What the main area shows: the welcome screen, the settings, or one conversation (the open one). */
export type View = { kind: 'home' } | { kind: 'settings' } | { kind: 'conversation', key: ConversationKey }

export class ChatModel {
  readonly chat: FileChat
  readonly bootstrap: string[]
  /** our peer ID */
  readonly me: string
  readonly contacts = signal<readonly ContactInfo[]>([])
  readonly rooms = signal<readonly RoomInfo[]>([])
  /** peers who wrote to us (or called) without being contacts: their message requests */
  readonly strangers = signal<ReadonlySet<string>>(new Set())
  /** peer IDs the user blocked */
  readonly blocked = signal<readonly string[]>([])
  readonly status = signal<Status>({ state: 'connecting', text: 'Connecting…' })
  /** our addresses and the bootstrap nodes' state, taken with the status */
  readonly addresses = signal<readonly string[]>([])
  readonly bootstrapNodes = signal<readonly BootstrapNodeStatus[]>([])
  /** the message most recently received, for the screen reader announcement */
  readonly announcement = signal('')
  /** the call going on or ringing, if any */
  readonly call = signal<CallInfo | undefined>(undefined)
  /** a call is on (ringing or under way): what the app and the conversation show depends on this alone, not on each step of the call */
  readonly inCall: ReadonlySignal<boolean> = computed(() => this.call.value != null)
  /** its media, once started (the web app's RtcCall), and the state of its controls */
  readonly callSession: ReadonlySignal<RtcCall | undefined> = computed(() => {
    const call = this.call.value
    return call != null ? this.sessions.byCall.value.get(call.id) : undefined
  })

  readonly media = signal<MediaState | undefined>(undefined)
  /** why the last call attempt failed, for the conversation it was made from */
  readonly callNotice = signal<{ peer: string, text: string } | undefined>(undefined)
  /** the one place that says which conversation is open */
  readonly view = signal<View>({ kind: 'home' })
  readonly active: ReadonlySignal<ConversationKey | undefined> = computed(() => {
    const v = this.view.value
    return v.kind === 'conversation' ? v.key : undefined
  })

  readonly conversations = new Conversations()
  /** the file transfers as their last event described them */
  private readonly transfers = signal<ReadonlyMap<string, FileTransfer>>(new Map())
  private readonly sessions: CallSessions
  private readonly ui: UiMessageMaker

  constructor (chat: Chat, bootstrap: string[], sessions: CallSessions) {
    this.sessions = sessions
    this.chat = withFiles(chat)
    this.bootstrap = bootstrap
    this.me = chat.peerId.toString()
    this.ui = uiMessages(this.me, (id) => this.chat.files.get(id)?.name)
    // a conversation whose contact or room went away closes
    effect(() => {
      const key = this.active.value
      if (key != null && !this.exists(key)) this.view.value = { kind: 'home' }
    })
    // the call's controls and tracks, followed while its media is shown
    effect(() => {
      const session = this.callSession.value
      if (session == null) {
        this.media.value = undefined
        return
      }
      const take = (): void => { this.media.value = mediaState(session) }
      take()
      session.addEventListener('change', take)
      return () => { session.removeEventListener('change', take) }
    })
  }

  /** The current call's media (tests and the console read it as `megachatModel.session`). */
  get session (): RtcCall | undefined {
    return this.callSession.peek()
  }

  async load (): Promise<void> {
    const chat = this.chat
    const contacts = await chat.contacts()
    const strangers = new Set(chat.requests().map(r => r.peerId))
    for (const c of contacts) strangers.delete(c.peerId)
    const rooms = chat.listRooms()
    const loaded = await Promise.all([
      ...[...contacts.map(c => c.peerId), ...strangers].map(async peer => await this.dmHistory(peer)),
      ...rooms.map(async r => await this.roomHistory(r.roomId))
    ])
    batch(() => {
      this.contacts.value = contacts
      this.strangers.value = strangers
      this.rooms.value = rooms
      this.blocked.value = chat.blocked()
      for (const [key, list] of loaded) this.merge(key, list)
      this.updateStatus()
    })
    chat.addEventListener('message', (evt) => {
      const m = evt.detail
      batch(() => {
        if (this.contacts.peek().every(c => c.peerId !== m.peer)) this.addStranger(m.peer)
        this.add(dmKey(m.peer), { ...this.ui.fromStored(m), at: m.receivedAt ?? Date.now() })
        this.announcement.value = `${m.name ?? shortId(m.peer)}: ${m.text}`
      })
    })
    chat.addEventListener('sent', (evt) => { this.add(dmKey(evt.detail.peer), this.ui.fromStored(evt.detail)) })
    chat.addEventListener('delivered', (evt) => {
      this.conversations.delivered(dmKey(evt.detail.peer), evt.detail.id)
    })
    chat.addEventListener('presence', (evt) => {
      const { peerId, online, lastSeen } = evt.detail
      this.contacts.value = this.contacts.peek().map(c => c.peerId === peerId ? { ...c, online, lastSeen } : c)
    })
    chat.addEventListener('room:message', (evt) => {
      const m = evt.detail
      batch(() => {
        this.add(roomKey(m.roomId), { id: m.id, from: m.from, mine: false, text: m.text, timestamp: m.timestamp, at: m.synced ? m.timestamp : Date.now(), order: m.timestamp * 1000, ...this.ui.fileFields(m) })
        if (!m.synced) this.announcement.value = `${m.room}, ${m.name ?? shortId(m.from)}: ${m.text}`
      })
    })
    chat.addEventListener('call', (evt) => { this.callChanged(evt.detail) })
    chat.addEventListener('call:ended', (evt) => {
      const r = evt.detail
      batch(() => {
        if (r.direction === 'in' && this.contacts.peek().every(c => c.peerId !== r.peer)) this.addStranger(r.peer)
        this.add(dmKey(r.peer), this.ui.fromCall(r))
      })
    })
    chat.addEventListener('connections', () => { this.updateStatus() })
    onFileEvents(chat, (t) => {
      batch(() => {
        this.transfers.value = new Map(this.transfers.peek()).set(t.id, t)
        if (t.direction === 'in' && t.state === 'offered') this.announcement.value = `${this.nameOf(t.from)} sent a file: ${t.name}`
      })
    })
    chat.addEventListener('bootstrap', () => { this.updateStatus() })
    chat.addEventListener('room:members', () => { this.rooms.value = chat.listRooms() })
  }

  // ---- navigation

  open (key: ConversationKey): void {
    batch(() => {
      this.view.value = { kind: 'conversation', key }
      this.conversations.markRead(key)
    })
  }

  goHome (): void {
    this.view.value = { kind: 'home' }
  }

  openSettings (): void {
    this.view.value = { kind: 'settings' }
  }

  /** Whether a conversation still has someone to talk to: a contact, a message request or a room. */
  private exists (key: ConversationKey): boolean {
    const [kind, id] = splitKey(key)
    if (kind === 'room') return this.rooms.value.some(r => r.roomId === id)
    return this.contacts.value.some(c => c.peerId === id) || this.strangers.value.has(id)
  }

  // ---- conversations

  private async dmHistory (peerId: string): Promise<[ConversationKey, UiMessage[]]> {
    const [history, calls] = await Promise.all([this.chat.history(peerId, HISTORY_LIMIT), this.chat.callHistory(peerId, HISTORY_LIMIT)])
    return [dmKey(peerId), [...history.map(m => this.ui.fromStored(m)), ...calls.map(r => this.ui.fromCall(r))]]
  }

  private async roomHistory (roomId: string): Promise<[ConversationKey, UiMessage[]]> {
    const history = await this.chat.roomHistory(roomId, HISTORY_LIMIT)
    return [roomKey(roomId), history.map(m => this.ui.fromRoom(m))]
  }

  private merge (key: ConversationKey, list: UiMessage[]): void {
    batch(() => { for (const m of list) this.add(key, m) })
  }

  /** Adds a message to its conversation once (by id), in conversation order. */
  private add (key: ConversationKey, m: UiMessage): void {
    const changed = this.conversations.add(key, m)
    if (changed && key === this.active.peek() && document.visibilityState === 'visible') this.conversations.markRead(key)
  }

  private addStranger (peerId: string): void {
    if (!this.strangers.peek().has(peerId)) this.strangers.value = new Set(this.strangers.peek()).add(peerId)
  }

  private setStrangers (fn: (s: Set<string>) => void): void {
    const next = new Set(this.strangers.peek())
    fn(next)
    this.strangers.value = next
  }

  /** A display name for a peer: you, a contact's name, or a short peer ID. */
  nameOf (peerId: string): string {
    if (peerId === this.me) return 'You'
    return this.contacts.value.find(c => c.peerId === peerId)?.name ?? shortId(peerId)
  }

  /** A file transfer as it stands (its last event, else what the engine knows of it). */
  transfer (id: string): FileTransfer | undefined {
    return this.transfers.value.get(id) ?? this.chat.files.get(id)
  }

  /** The room's members online now (its `online` count changes with them). */
  members (roomId: string): string[] {
    if (!this.rooms.value.some(r => r.roomId === roomId)) return []
    try {
      return this.chat.members(roomId)
    } catch {
      return []
    }
  }

  // ---- actions (each throws the Chat's errors, whose messages are one clear line)

  async addContact (peerId: string, name?: string): Promise<ContactInfo> {
    const info = await this.chat.addContact(peerId, name)
    const [contacts, [key, history]] = await Promise.all([this.chat.contacts(), this.dmHistory(info.peerId)])
    batch(() => {
      this.setContacts(contacts)
      this.merge(key, history)
    })
    return info
  }

  async removeContact (peerId: string): Promise<void> {
    await this.chat.removeContact(peerId)
    this.setContacts(await this.chat.contacts())
  }

  private setContacts (contacts: ContactInfo[]): void {
    batch(() => {
      this.contacts.value = contacts
      if (contacts.some(c => this.strangers.peek().has(c.peerId))) this.setStrangers(s => { for (const c of contacts) s.delete(c.peerId) })
    })
  }

  /** Blocks someone: their connections are refused and the conversation with them is deleted. */
  async block (peerId: string): Promise<void> {
    await this.chat.block(peerId)
    const contacts = await this.chat.contacts()
    batch(() => {
      this.setStrangers(s => { s.delete(peerId) })
      this.conversations.forget(dmKey(peerId))
      this.blocked.value = this.chat.blocked()
      this.setContacts(contacts)
    })
  }

  async unblock (peerId: string): Promise<void> {
    await this.chat.unblock(peerId)
    this.blocked.value = this.chat.blocked()
  }

  async send (peerId: string, text: string): Promise<void> {
    await this.chat.send(peerId, text)
  }

  /**
   * Sends files to a conversation, one after the other, each with a preview when it is a picture. The
   * bubble shows at once; the offer's stored message takes its place when the Chat reports it.
   */
  async sendFiles (key: ConversationKey, files: File[]): Promise<void> {
    const [, id] = splitKey(key)
    for (const f of files) {
      const thumbnail = isImage(f) && f.size <= THUMBNAIL_MAX_SOURCE ? await (await import('./thumbnail.js')).makeThumbnail(f) : undefined
      const t = await this.chat.sendFile(id, { name: f.name, type: f.type, blob: f, ...(thumbnail != null ? { thumbnail } : {}) })
      const now = Date.now()
      this.add(key, { id: `file-${t.id}`, from: this.me, mine: true, text: t.name, timestamp: now, at: now, order: now * 1000, file: t.id })
    }
  }

  async createRoom (name: string): Promise<RoomInfo> {
    const room = await this.chat.createRoom(name)
    this.rooms.value = this.chat.listRooms()
    return room
  }

  async joinRoom (invite: string, localName?: string): Promise<RoomInfo> {
    const room = await this.chat.joinRoom(invite, localName)
    const [key, history] = await this.roomHistory(room.roomId)
    batch(() => {
      this.rooms.value = this.chat.listRooms()
      this.merge(key, history)
    })
    return room
  }

  async leaveRoom (roomId: string): Promise<void> {
    await this.chat.leaveRoom(roomId)
    batch(() => {
      this.conversations.forget(roomKey(roomId))
      this.rooms.value = this.chat.listRooms()
    })
  }

  async say (roomId: string, text: string): Promise<void> {
    const stored = await this.chat.say(roomId, text)
    this.add(roomKey(roomId), this.ui.fromRoom(stored))
  }

  // ---- calls

  private callChanged (c: CallInfo): void {
    batch(() => {
      if (c.state === 'ended') {
        this.sessions.forget(c.id)
        if (this.call.peek()?.id === c.id) this.call.value = undefined
        return
      }
      // a copy: the view compares values, and the calls layer may hand over the same object changed
      this.call.value = { ...c }
      if (c.state === 'incoming' && this.contacts.peek().every(x => x.peerId !== c.peer)) this.announcement.value = 'Incoming call from someone not in your contacts'
      else if (c.state === 'incoming') this.announcement.value = `Incoming call from ${this.nameOf(c.peer)}`
    })
  }

  /** Gets ready to call a contact (their conversation is open, or a call button is pointed at). */
  prepareCall (peerId: string): void {
    try {
      this.chat.prepareCall(peerId)
    } catch {} // not a peer we can call: the call button says why when pressed
  }

  /** Calls a contact; a failure is kept in callNotice (and thrown). */
  async startCall (peerId: string, video: boolean): Promise<void> {
    this.callNotice.value = undefined
    try {
      await this.chat.call(peerId, { video })
    } catch (err: any) {
      this.callNotice.value = { peer: peerId, text: err.message ?? String(err) }
      throw err
    }
  }

  async acceptCall (video: boolean): Promise<void> {
    const call = this.call.peek()
    if (call != null) await this.chat.accept(call.id, { video })
  }

  async declineCall (): Promise<void> {
    const call = this.call.peek()
    if (call != null) await this.chat.decline(call.id)
  }

  async hangup (): Promise<void> {
    const call = this.call.peek()
    if (call != null) await this.chat.hangup(call.id)
  }

  dismissCallNotice (): void {
    this.callNotice.value = undefined
  }

  updateStatus (): void {
    // set only when they differ: connections come and go often, and each new value re-renders its readers
    const status = connectionStatus(this.chat, this.bootstrap)
    const addresses = this.chat.addresses()
    const nodes = this.chat.bootstrapStatus()
    batch(() => {
      if (!sameJson(status, this.status.peek())) this.status.value = status
      if (!sameJson(addresses, this.addresses.peek())) this.addresses.value = addresses
      if (!sameJson(nodes, this.bootstrapNodes.peek())) this.bootstrapNodes.value = nodes
    })
  }
}

function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
