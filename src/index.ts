/**
 * MegaChat's one public API, used by the terminal client, the web app, bots and tests.
 *
 * @example
 * ```ts
import { createChat } from 'megachat'
 *
 * const chat = await createChat({ dataDir: '/home/me/.megachat', bootstrap: ['/ip4/…/tcp/4001/p2p/12D3…'] })
 * chat.addEventListener('message', (evt) => console.log(evt.detail.from, evt.detail.text))
 * await chat.addContact('12D3KooW…', 'bob')
 * await chat.send('bob', 'hello')   // resolves once stored in the outbox; 'delivered' fires on the ack
 * ```
 */
import { TypedEventEmitter } from 'main-event'
import { safetyCode } from './crypto/safety-code.js'
import { parsePeerId } from './contacts/index.js'
import { assemble } from './features.js'
import type { ChatFeatures } from './features.js'
import { register } from './internals.js'
import { connectionSummary } from './node/connections.js'
import type { ConnectionSummary } from './node/connections.js'
import type { CallInfo, MediaOptions } from './calls/index.js'
import type { FileSource, FileTransfer } from './files/types.js'
import type { FileEngine } from './files/index.js'
import type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
import type { Diagnosis } from './node/diagnose.js'
import type { ChatLibp2p } from './node/node.js'
import type { RoomInfo } from './rooms/index.js'
import type { CallRecord, Contact, MessageRequest, StoredMessage, StoredRoomMessage } from './store/index.js'
import type { ChatEvents, ChatInit, ContactInfo } from './types.js'
import type { PeerId } from '@libp2p/interface'

export * from './errors.js'
export * from './crypto/errors.js'
export * from './types.js'
export { MAX_TEXT_BYTES, MAX_FILE_BYTES, AUTO_FETCH_BYTES } from './constants.js'
export { parsePeerId } from './contacts/index.js'

export class Chat extends TypedEventEmitter<ChatEvents> {
  readonly peerId: PeerId
  /** the libp2p node underneath: for what the methods here do not cover (the apps do not need it) */
  readonly libp2p: ChatLibp2p
  /** files and pictures: list, fetch, cancel, read; send with sendFile() */
  readonly files: FileEngine
  private readonly f: ChatFeatures

  /** use createChat() */
  constructor (libp2p: ChatLibp2p, features: (chat: Chat) => ChatFeatures) {
    super()
    this.libp2p = libp2p
    this.peerId = libp2p.peerId
    this.f = features(this)
    this.files = this.f.files
    register(this, this.f)
  }

  /** Starts the node (createChat does, unless told `start: false`). */
  async start (): Promise<void> {
    if (this.libp2p.status !== 'stopped' || this.f.stopped) return
    await this.f.start()
  }

  /** Each configured bootstrap node: connected, or why not and when it is tried next. */
  bootstrapStatus (): BootstrapNodeStatus[] {
    return this.f.bootstrapWatch.status()
  }

  /** The ICE servers of a call's media now: the configured ones, then the bootstrap nodes' TURN servers. */
  iceServers (): RTCIceServer[] {
    return this.f.iceServers()
  }

  /** Why can't I reach someone? The network's state (NAT, bootstrap nodes, relays, TURN, what is missing); with `ref`, the way to them or why there is none. */
  async diagnose (ref?: string): Promise<Diagnosis> {
    return await this.f.diagnose(ref != null ? this.resolve(ref) : undefined)
  }

  /** The connections now: how many, each peer's best path, whether we hold a relay reservation; see 'connections'. */
  connections (): ConnectionSummary {
    return connectionSummary(this.libp2p)
  }

  /** Multiaddrs others can dial, each ending in /p2p/<our id>. */
  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  /** The safety code shared with a peer: both sides compute the same one. */
  safetyCode (peer: string): string {
    return safetyCode(this.peerId, parsePeerId(peer))
  }

  // ---- contacts
  /** Adds a contact (accepting their message request, undoing a block) and tries to reach them. */
  async addContact (peer: string, name?: string): Promise<ContactInfo> {
    return this.f.contactInfo(await this.f.addContact(peer, name))
  }

  async removeContact (ref: string): Promise<Contact> {
    return await this.f.contacts.remove(ref)
  }

  async contacts (): Promise<ContactInfo[]> {
    return this.f.contacts.list().map(c => this.f.contactInfo(c))
  }

  /** A contact by name (case-insensitive) or peer ID. */
  contactFor (ref: string): Contact | undefined {
    return this.f.contacts.find(ref)
  }

  /** The peer behind a contact name or a peer ID (contact or not). */
  resolve (ref: string): PeerId {
    return this.f.contacts.resolve(ref)
  }

  /** Is there an open connection to this peer? */
  isOnline (peer: string): boolean {
    return this.f.presence.isOnline(peer)
  }

  // ---- message requests and blocking
  /** Strangers who wrote (latest first; their messages are in history()): addContact accepts, or block. */
  requests (): MessageRequest[] {
    return this.f.strangers.requests()
  }

  /** Blocks a peer: connections closed and refused; their conversation, request and contact deleted. */
  async block (ref: string): Promise<void> {
    await this.f.block(this.resolve(ref))
  }

  /** Lets a blocked peer connect and write again (as a stranger). Resolves false if they were not blocked. */
  async unblock (peer: string): Promise<boolean> {
    return await this.f.strangers.unblock(parsePeerId(peer).toString())
  }

  /** Peer IDs of the blocked peers. */
  blocked (): string[] {
    return this.f.strangers.listBlocked()
  }

  // ---- messages
  /** Stores a message in the outbox and starts delivering it; 'delivered' fires on the recipient's ack. */
  send (to: string, text: string): Promise<StoredMessage> {
    // not async: in a burst every promise on the way costs (an unknown `to` still rejects, not throws)
    let peer: PeerId
    try {
      peer = this.resolve(to)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.f.conversations.send(peer, text)
  }

  /** Offers a file to a contact or peer ID, else in a room; resolves ('serving') once the offer is stored. Node: pass `path`. */
  async sendFile (ref: string, source: FileSource, text = ''): Promise<FileTransfer> {
    return await this.f.sendFile(ref, source, text)
  }

  async history (ref: string, limit = 50): Promise<StoredMessage[]> {
    return await this.f.conversations.history(this.resolve(ref), limit)
  }

  // ---- rooms
  /** Makes a room with a fresh secret; share `invite` with the people who should be in it. */
  async createRoom (name: string): Promise<RoomInfo> {
    return await this.f.rooms.create(name)
  }

  /** Joins a room from an invite link, under the invite's name or `localName`. */
  async joinRoom (invite: string, localName?: string): Promise<RoomInfo> {
    return await this.f.rooms.join(invite, localName)
  }

  async leaveRoom (ref: string): Promise<RoomInfo> {
    return await this.f.rooms.leave(ref)
  }

  listRooms (): RoomInfo[] {
    return this.f.rooms.list()
  }

  /** A joined room by name (case-insensitive) or id; throws UnknownRoomError. */
  room (ref: string): RoomInfo {
    return this.f.room(ref)
  }

  /** Sends a message to a room; resolves once it is stored and published. */
  async say (room: string, text: string): Promise<StoredRoomMessage> {
    return await this.f.rooms.say(room, text)
  }

  /** Members online in a room now (you first). */
  members (room: string): string[] {
    return this.f.rooms.members(room)
  }

  async roomHistory (room: string, limit = 50): Promise<StoredRoomMessage[]> {
    return await this.f.rooms.history(room, limit)
  }

  // ---- calls
  /** Calls a contact or peer ID (video unless `video: false`; needs `callMedia`); see the 'call' event. */
  async call (ref: string, options: Partial<MediaOptions> = {}): Promise<CallInfo> {
    return await this.f.calls.start(this.resolve(ref), options)
  }

  /** The calls under way (ringing either way, or connected). */
  calls (): CallInfo[] {
    return this.f.calls.list()
  }

  /** Answers an incoming call (with camera video unless `video: false`). */
  async accept (callId: string, options: Partial<MediaOptions> = {}): Promise<void> {
    await this.f.calls.accept(callId, options)
  }

  async decline (callId: string): Promise<void> {
    await this.f.calls.decline(callId)
  }

  async hangup (callId: string): Promise<void> {
    await this.f.calls.hangup(callId)
  }

  /** Opens the signalling stream of a call to a contact ahead, over an open connection: the call starts sooner. */
  prepareCall (ref: string): void {
    this.f.calls.prepare(this.resolve(ref))
  }

  /** The last `limit` calls with a contact, oldest first. */
  async callHistory (ref: string, limit = 50): Promise<CallRecord[]> {
    return await this.f.store.calls(this.resolve(ref).toString(), limit)
  }

  /** Stops the node; everything acknowledged or queued is already on disk. */
  async stop (): Promise<void> {
    if (this.f.stopped) return
    await this.f.stop()
  }
}

export async function createChat (init: ChatInit = {}): Promise<Chat> {
  const { libp2p, features } = await assemble(init)
  const chat = new Chat(libp2p, (chat) => features((name, detail) => chat.safeDispatchEvent(name, { detail })))
  if (init.start === false) return chat
  try {
    await chat.start()
  } catch (err) {
    await chat.stop().catch(() => {})
    throw err
  }
  return chat
}
