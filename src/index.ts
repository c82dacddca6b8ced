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
import { logger } from '@libp2p/logger'
import { JitteredInterval } from './timer.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { toString as toHex } from 'uint8arrays/to-string'
import { TypedEventEmitter } from 'main-event'
import { DM_PROTOCOL, LOCAL_NAME, LOCAL_NAME_RULE, MAX_PROBE_DELAY_MS, MAX_TEXT_BYTES, RETRY_INTERVAL_MS, overUtf8 } from './constants.js'
import { Calls, callSignalling } from './calls/index.js'
import { safetyCode } from './crypto/safety-code.js'
import { directMessages } from './direct/index.js'
import { Outbox } from './direct/outbox.js'
import { Strangers } from './direct/strangers.js'
import { DuplicateContactError, InvalidInputError, InvalidPeerIdError, MessageTooLongError, UnknownContactError } from './errors.js'
import { BootstrapWatch } from './node/bootstrap-watch.js'
import { diagnoseNetwork, diagnosePeer } from './node/diagnose.js'
import type { Diagnosis } from './node/diagnose.js'
import { createNode } from './node/node.js'
import { Reach } from './node/reach.js'
import { openPlatform } from './platform.js'
import { Rooms, roomSync } from './rooms/index.js'
import { BootstrapTurn } from './turn/index.js'
import { FileEngine } from './files/index.js'
import { decodeOffer, encodeOffer } from './files/offer.js'
import { fileTransfer } from './files/protocol.js'
import { openFileStorage } from './files/storage.js'
import type { FileEvents, FileSource, FileStorage, FileTransfer } from './files/types.js'
import type { RoomInfo, RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
import type { StoredRoomMessage } from './store/index.js'
import { ChatStore } from './store/index.js'
import type { DirectMessage } from './direct/index.js'
import type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
import type { ChatLibp2p, NodeOptions } from './node/node.js'
import type { Platform, PlatformInit } from './platform.js'
import type { CallRecord, Contact, MessageRequest, StoredMessage } from './store/index.js'
import type { CallInfo, MediaFactory, MediaOptions } from './calls/index.js'
import type { Unreachable } from './direct/outbox.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export * from './errors.js'
export * from './crypto/errors.js'
export type { Contact, MessageRequest, StoredMessage, DeliveryState, Direction, StoredRoomMessage } from './store/index.js'
export type { RoomInfo, RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
export type { CallRecord, CallOutcome } from './store/index.js'
export type { Calls, CallInfo, CallState, MediaEvents, MediaFactory, MediaOptions, MediaSession, MediaSetup, MediaState, IceCandidate } from './calls/index.js'
export type { ChatLibp2p } from './node/node.js'
export type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
export type { Diagnosis, PeerDiagnosis, PathInfo, NatReport, NatMapping, NatSeen, ReachTrace, ReachStep } from './node/diagnose.js'
export { MAX_TEXT_BYTES, MAX_FILE_BYTES, AUTO_FETCH_BYTES } from './constants.js'
export type { FileTransfer, FileState, FileSource, FileStorage, Files, FileEvents, FileOffer } from './files/types.js'
export type { FileEngineStats, FileTransferStats } from './files/index.js'

const log = logger('megachat')

/** The network settings (listen, bootstrap, iceServers, webrtc, lan, dhtServer) are those of NodeOptions. */
export interface ChatInit extends PlatformInit, Pick<NodeOptions, 'listen' | 'bootstrap' | 'iceServers' | 'webrtc' | 'lan' | 'dhtServer' | 'lateServices'> {
  /** overrides the data directory's store (tests use a MemoryDatastore) */
  datastore?: Datastore
  /** overrides the data directory's identity */
  privateKey?: PrivateKey
  /** an identity and store opened already (openPlatform), used instead of `dataDir`; stop() closes it */
  platform?: Platform
  /** how long to look for an unreachable contact per attempt (ms) */
  findTimeout?: number
  /** how often waiting messages are retried and offline contacts probed (ms) */
  retryInterval?: number
  /** false: createChat returns before starting, so listeners can be added first; then call start() */
  start?: boolean
  /** the media of calls (the web app's RTCPeerConnection); without it calls can be shown and declined only */
  callMedia?: MediaFactory
  /** how long a call rings before it is missed (ms) */
  ringTimeout?: number
  /** where file bytes are kept (default: `<dataDir>/files/`, or a temporary folder without a dataDir) */
  files?: FileStorage
  /** contacts' files up to this many bytes are fetched without asking (default AUTO_FETCH_BYTES, 64 MiB) */
  autoFetchBytes?: number
}

export interface ContactInfo extends Contact {
  online: boolean
  /** read it out to each other: equal codes mean no impostor */
  safetyCode: string
}

export interface IncomingMessage extends StoredMessage {
  direction: 'in'
  /** the contact's name, when the author is a contact */
  name?: string
  /** the author is not a contact: the message is part of their message request (accept: addContact; or block) */
  request?: true
}

export interface PresenceChange {
  peerId: string
  name: string
  online: boolean
  lastSeen?: number
}

export type { Unreachable } from './direct/outbox.js'

export interface ChatEvents extends FileEvents {
  /** a message arrived (each id once) */
  message: CustomEvent<IncomingMessage>
  /** a message was stored in the outbox */
  sent: CustomEvent<StoredMessage>
  /** the recipient acknowledged a message */
  delivered: CustomEvent<StoredMessage>
  /** a contact came online or went offline */
  presence: CustomEvent<PresenceChange>
  /** waiting messages could not be delivered this time; they stay queued and are retried */
  unreachable: CustomEvent<Unreachable>
  /** a room message from another member was accepted (each id once) */
  'room:message': CustomEvent<RoomMessageEvent & { name?: string }>
  /** the number of members online in a joined room changed */
  'room:members': CustomEvent<RoomMembersEvent>
  /** a call started, rang, was answered, connected or ended (state 'incoming': someone calls) */
  call: CustomEvent<CallInfo>
  /** a call ended and is stored in the history */
  'call:ended': CustomEvent<CallRecord>
  /** a bootstrap node connected, was lost, or could not be reached (and when it is tried next) */
  bootstrap: CustomEvent<BootstrapNodeStatus>
}

export class Chat extends TypedEventEmitter<ChatEvents> {
  readonly peerId: PeerId
  /** the libp2p node underneath (connections, addresses): for what the methods here do not cover */
  readonly libp2p: ChatLibp2p
  /** @internal the store of contacts, history and the outbox */
  readonly store: ChatStore
  /** @internal the rooms module: use the room methods of Chat */
  readonly rooms: Rooms
  /** calls: accept, decline, hang up by call id; see also call() */
  readonly calls: Calls
  private readonly init: ChatInit
  private readonly closePlatform: () => Promise<void>
  /** @internal the dial policy every feature uses */
  readonly reach: Reach
  private readonly outbox: Outbox
  private readonly contactCache: Map<string, Contact>
  /** message requests from non-contacts, and blocked peers */
  private readonly strangers: Strangers
  private readonly shutdown = new AbortController()
  /** when each offline contact is probed next, with a growing delay */
  private readonly probes = new Map<string, { next: number, delay: number }>()
  private timer?: JitteredInterval
  private readonly bootstrapWatch: BootstrapWatch
  /** TURN credentials from the bootstrap nodes that run coturn */
  private readonly turn: BootstrapTurn
  /** files and pictures: list, fetch, cancel, read; send with sendFile() */
  readonly files: FileEngine
  private readonly fileStorage: FileStorage

  /** use createChat() */
  constructor (libp2p: ChatLibp2p, store: ChatStore, init: ChatInit & { privateKey: PrivateKey }, parts: ChatParts, closePlatform: () => Promise<void>) {
    super()
    const { allowedTopics, contacts, strangers, fileStorage } = parts
    this.libp2p = libp2p
    this.peerId = libp2p.peerId
    this.store = store
    this.contactCache = contacts
    this.strangers = strangers
    this.init = init
    this.closePlatform = closePlatform
    this.reach = new Reach(libp2p, { findTimeout: init.findTimeout, signal: this.shutdown.signal })
    this.outbox = new Outbox({
      store,
      dm: () => libp2p.services.dm,
      reach: this.reach,
      protocol: DM_PROTOCOL,
      signal: this.shutdown.signal,
      retryInterval: init.retryInterval,
      onDelivered: (m) => { this.safeDispatchEvent('delivered', { detail: m }) },
      onUnreachable: (u) => { this.safeDispatchEvent('unreachable', { detail: u }) }
    })
    this.rooms = new Rooms({
      libp2p,
      store,
      privateKey: init.privateKey,
      signal: this.shutdown.signal,
      reach: async (peer, addrs) => await this.reach.connect(peer, { addrs }),
      onMessage: (m) => {
        const name = this.contactCache.get(m.from)?.name
        this.safeDispatchEvent('room:message', { detail: name != null ? { ...m, name } : m })
        if (m.file != null) void this.files.onOffer(m.from, m.roomId, true, decodeOffer(m.file), m.id).catch((err: any) => { log.error('could not take a file offer: %e', err) })
      },
      onMembers: (m) => { this.safeDispatchEvent('room:members', { detail: m }) }
    }, allowedTopics)
    this.bootstrapWatch = new BootstrapWatch(libp2p, init.bootstrap ?? [])
    this.bootstrapWatch.addEventListener('change', (evt) => { this.safeDispatchEvent('bootstrap', { detail: evt.detail }) })
    const bootstrapIds = new Set(this.bootstrapWatch.status().map(s => s.peerId).filter(id => id != null))
    this.turn = new BootstrapTurn(libp2p, (peer) => bootstrapIds.has(peer.toString()))
    this.calls = new Calls({
      self: this.peerId,
      store,
      signalling: () => libp2p.services.calls,
      reach: async (peer, signal) => await this.reach.connect(peer, { signal }),
      connections: (peer) => this.libp2p.getConnections(peer),
      signal: this.shutdown.signal,
      onChange: (call) => { this.safeDispatchEvent('call', { detail: call }) },
      onEnded: (record) => { this.safeDispatchEvent('call:ended', { detail: record }) },
      media: init.callMedia,
      iceServers: () => this.iceServers(),
      ringTimeout: init.ringTimeout
    })
    this.fileStorage = fileStorage
    this.files = new FileEngine({
      self: this.peerId,
      store,
      storage: fileStorage,
      reach: this.reach,
      stats: () => libp2p.services.files.stats,
      isContact: (peer) => this.contactCache.has(peer),
      roomMembers: (roomId) => {
        try {
          return this.rooms.members(roomId)
        } catch {
          return []
        }
      },
      isOnline: (peer) => this.isOnline(peer),
      signal: this.shutdown.signal,
      autoFetchBytes: init.autoFetchBytes,
      onEvent: (name, transfer) => { this.safeDispatchEvent(name, { detail: transfer }) }
    })
  }

  /** Starts the node (createChat does, unless told `start: false`). */
  async start (): Promise<void> {
    if (this.libp2p.status !== 'stopped' || this.shutdown.signal.aborted) return
    for (const c of await this.store.listContacts()) this.contactCache.set(c.peerId, c)
    await this.strangers.load()
    this.libp2p.addEventListener('peer:connect', (evt) => { this.onPresence(evt.detail, true) })
    this.libp2p.addEventListener('peer:disconnect', (evt) => { this.onPresence(evt.detail, false) })
    await this.rooms.load()
    await this.files.load()
    this.turn.start()
    await this.libp2p.start()
    this.bootstrapWatch.start()
    this.rooms.start()
    this.timer = new JitteredInterval(() => { this.tick() }, this.init.retryInterval ?? RETRY_INTERVAL_MS)
    this.tick()
    this.files.start()
  }

  /** Each configured bootstrap node: connected, or why not and when it is tried next. */
  bootstrapStatus (): BootstrapNodeStatus[] {
    return this.bootstrapWatch.status()
  }

  /**
   * The ICE servers a call's media uses now: the configured ones (by default the bootstrap nodes' STUN),
   * then the TURN servers of the bootstrap nodes that run one, with their current credentials.
   */
  iceServers (): RTCIceServer[] {
    return [...(this.init.iceServers ?? []), ...this.turn.iceServers()]
  }

  /**
   * Why can't I reach someone? The kind of NAT this device is behind (asked of the STUN servers), the
   * bootstrap nodes, relay reservations and TURN servers, what is missing; and with `ref`, the way to
   * that person now or, when there is none, a fresh attempt and why each of its steps failed.
   */
  async diagnose (ref?: string): Promise<Diagnosis> {
    const peer = ref != null ? this.resolve(ref) : undefined
    // with a connection open this returns it at once; without, it dials (or joins the dial under way)
    const attempt = peer != null && !this.strangers.isBlocked(peer.toString()) ? this.reach.connect(peer).catch(() => {}) : undefined
    const diagnosis = await diagnoseNetwork({
      iceServers: this.init.iceServers ?? [],
      turnServers: this.turn.iceServers(),
      bootstrap: this.bootstrapStatus(),
      addresses: this.addresses()
    })
    if (peer == null) return diagnosis
    await attempt
    const key = peer.toString()
    return { ...diagnosis, peer: diagnosePeer(key, this.contactCache.get(key)?.name, this.libp2p.getConnections(peer), this.reach.lastTrace(peer), this.strangers.isBlocked(key)) }
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

  async addContact (peer: string, name?: string): Promise<ContactInfo> {
    const id = parsePeerId(peer)
    if (id.equals(this.peerId)) throw new InvalidInputError('that is your own peer ID')
    const key = id.toString()
    const chosen = name ?? `peer-${key.slice(-6)}`
    if (!LOCAL_NAME.test(chosen)) throw new InvalidInputError(`a contact name is ${LOCAL_NAME_RULE}`)
    if (this.contactCache.has(key)) throw new DuplicateContactError(`already a contact: ${this.contactCache.get(key)?.name}`)
    const taken = this.byName(chosen)
    if (taken != null) throw new DuplicateContactError(`the name ${chosen} is taken by another contact`)
    const contact: Contact = { peerId: key, name: chosen, addedAt: Date.now() }
    await this.store.putContact(contact)
    this.contactCache.set(key, contact)
    // adding someone accepts their message request, and undoes a block
    await this.strangers.accepted(key)
    await this.strangers.unblock(key)
    void this.reachQuietly(id)
    return this.info(contact)
  }

  async removeContact (ref: string): Promise<Contact> {
    const contact = this.contactFor(ref)
    if (contact == null) throw new UnknownContactError(`no contact ${ref}`)
    await this.store.deleteContact(contact.peerId)
    this.contactCache.delete(contact.peerId)
    return contact
  }

  async contacts (): Promise<ContactInfo[]> {
    return [...this.contactCache.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(c => this.info(c))
  }

  // ---- message requests and blocking

  /**
   * Message requests: people who are not contacts and wrote to us, the latest first. Accept one by
   * adding the contact (addContact), or block them. Their messages are in history() meanwhile.
   */
  requests (): MessageRequest[] {
    return this.strangers.requests()
  }

  /**
   * Blocks a peer (a contact or not): their connections are closed and refused from now on, and the
   * conversation with them, their message request and their contact are deleted.
   */
  async block (ref: string): Promise<void> {
    const peer = this.resolve(ref)
    if (peer.equals(this.peerId)) throw new InvalidInputError('that is your own peer ID')
    const key = peer.toString()
    await this.strangers.block(key)
    if (this.contactCache.delete(key)) await this.store.deleteContact(key)
    await this.libp2p.hangUp(peer).catch((err: any) => { log('closing connections to %p failed: %s', peer, err.message) })
  }

  /** Lets a blocked peer connect and write again (as a stranger). Resolves false if they were not blocked. */
  async unblock (peer: string): Promise<boolean> {
    return await this.strangers.unblock(parsePeerId(peer).toString())
  }

  /** Peer IDs of the blocked peers. */
  blocked (): string[] {
    return this.strangers.listBlocked()
  }

  /** A contact by name (case-insensitive) or peer ID. */
  contactFor (ref: string): Contact | undefined {
    return this.contactCache.get(ref) ?? this.byName(ref)
  }

  /** The peer behind a contact name or a peer ID (contact or not). */
  resolve (ref: string): PeerId {
    const contact = this.contactFor(ref)
    if (contact != null) return contactPeerId(contact.peerId)
    if (/^(12D3Koo|Qm|16Uiu2)/.test(ref)) return parsePeerId(ref)
    throw new UnknownContactError(`no contact named ${ref}`)
  }

  // ---- messages

  /**
   * Stores a message in the outbox (so it survives a crash) and starts delivering it.
   * Resolves with the stored message; 'delivered' fires when the recipient acknowledges it.
   */
  async send (to: string, text: string): Promise<StoredMessage> {
    const peer = this.resolve(to)
    if (peer.equals(this.peerId)) throw new InvalidInputError('cannot message yourself')
    if (text.trim().length === 0) throw new InvalidInputError('empty message')
    if (overUtf8(text, MAX_TEXT_BYTES)) throw new MessageTooLongError(`message is ${new TextEncoder().encode(text).byteLength} bytes; the limit is ${MAX_TEXT_BYTES}`)
    const message = await this.outbox.send(peer.toString(), text)
    this.safeDispatchEvent('sent', { detail: message })
    return message
  }

  /**
   * Offers a file in a conversation (a contact or peer ID, else a room by name or id): hashes it, keeps
   * it to be served, and sends the offer as a message (DM: through the outbox; room: a sealed message).
   * Resolves with the transfer (state 'serving') once the offer is stored; the other side fetches the
   * bytes. Node: pass `path` (the file is served from there, not copied).
   */
  async sendFile (ref: string, source: FileSource, text = ''): Promise<FileTransfer> {
    if (overUtf8(text, MAX_TEXT_BYTES)) throw new MessageTooLongError(`message is too long; the limit is ${MAX_TEXT_BYTES} bytes`)
    const contact = this.contactFor(ref)
    let room: string | undefined
    if (contact == null && !/^(12D3Koo|Qm|16Uiu2)/.test(ref)) room = this.rooms.find(ref).record.roomId
    if (room != null) {
      const { offer, transfer } = await this.files.prepare(room, true, source)
      const m = await this.rooms.say(room, text, encodeOffer(offer))
      await this.files.offered(transfer.id, m.id)
      return transfer
    }
    const peer = this.resolve(ref)
    if (peer.equals(this.peerId)) throw new InvalidInputError('cannot send a file to yourself')
    const { offer, transfer } = await this.files.prepare(peer.toString(), false, source)
    const message = await this.outbox.send(peer.toString(), text, { id: transfer.id, offer: encodeOffer(offer) })
    await this.files.offered(transfer.id, message.id)
    this.safeDispatchEvent('sent', { detail: message })
    return transfer
  }

  async history (ref: string, limit = 50): Promise<StoredMessage[]> {
    return await this.store.history(this.resolve(ref).toString(), limit)
  }

  // ---- rooms

  /** Makes a room with a fresh secret; share `invite` with the people who should be in it. */
  async createRoom (name: string): Promise<RoomInfo> {
    return await this.rooms.create(name)
  }

  /** Joins a room from an invite link, under the invite's name or `localName`. */
  async joinRoom (invite: string, localName?: string): Promise<RoomInfo> {
    return await this.rooms.join(invite, localName)
  }

  async leaveRoom (ref: string): Promise<RoomInfo> {
    return await this.rooms.leave(ref)
  }

  listRooms (): RoomInfo[] {
    return this.rooms.list()
  }

  /** Sends a message to a room; resolves once it is stored and published. */
  async say (room: string, text: string): Promise<StoredRoomMessage> {
    return await this.rooms.say(room, text)
  }

  /** Members online in a room now (you first). */
  members (room: string): string[] {
    return this.rooms.members(room)
  }

  async roomHistory (room: string, limit = 50): Promise<StoredRoomMessage[]> {
    return await this.rooms.history(room, limit)
  }

  // ---- calls

  /**
   * Calls a contact (or a peer ID): video unless `video: false`. Resolves once the call rings out;
   * follow it with the 'call' event. Needs `callMedia` (the web app).
   */
  async call (ref: string, options: Partial<MediaOptions> = {}): Promise<CallInfo> {
    return await this.calls.start(this.resolve(ref), options)
  }

  /**
   * Gets ready to call a contact: opens the call's signalling stream ahead, over a connection that is
   * open already (the web app does this when their conversation is opened). See Calls.prepare.
   */
  prepareCall (ref: string): void {
    this.calls.prepare(this.resolve(ref))
  }

  /** The last `limit` calls with a contact, oldest first. */
  async callHistory (ref: string, limit = 50): Promise<CallRecord[]> {
    return await this.store.calls(this.resolve(ref).toString(), limit)
  }

  /** Is there an open connection to this peer? */
  isOnline (peer: string): boolean {
    return this.libp2p.getConnections(peerIdFromString(peer)).length > 0
  }

  /** Delivers what waits in the outbox for a peer. */
  async flush (peer: string): Promise<void> {
    await this.outbox.flush(peer)
  }

  /**
   * @internal
   * Called by the DM protocol before it acknowledges: the messages it took are on disk when this resolves
   * with their number (all from a contact; from a stranger, what their message request has room for).
   * Each id is stored (and reported) once.
   */
  async receive (from: PeerId, messages: DirectMessage[]): Promise<number> {
    const peer = from.toString()
    const receivedAt = Date.now()
    const taken = this.strangers.admit(peer, messages)
    if (taken === 0) return 0
    const request = this.strangers.record(peer)
    // the store takes writes in turn, so two streams from one peer store (and report) one after the other
    const offers = new Map<string, Uint8Array>()
    const fresh = await this.store.addIncoming(peer, messages.slice(0, taken).map(m => {
      let file: string | undefined
      if (m.file != null) {
        file = toHex(decodeOffer(m.file).id, 'base16')
        offers.set(m.id, m.file)
      }
      return {
        id: m.id,
        peer,
        direction: 'in' as const,
        text: m.text,
        timestamp: m.timestamp,
        receivedAt,
        ...(m.seq != null ? { seq: m.seq } : {}),
        ...(file != null ? { file } : {})
      }
    }), request)
    // the offers of the messages stored now become transfers (and may start fetching)
    for (const m of fresh) {
      const offer = offers.get(m.id)
      if (offer != null) await this.files.onOffer(peer, peer, false, decodeOffer(offer), m.id).catch((err: any) => { log.error('could not take a file offer: %e', err) })
    }
    const name = this.contactCache.get(peer)?.name
    for (const message of fresh) {
      const detail: IncomingMessage = { ...message, direction: 'in', ...(name != null ? { name } : {}), ...(request != null ? { request: true } : {}) }
      this.safeDispatchEvent('message', { detail })
    }
    return taken
  }

  private onPresence (peer: PeerId, online: boolean): void {
    const contact = this.contactCache.get(peer.toString())
    if (contact == null) return
    const now = Date.now()
    contact.lastSeen = now
    this.probes.delete(contact.peerId)
    this.store.putContact(contact).catch(err => { log.error('could not store last-seen: %e', err) })
    this.safeDispatchEvent('presence', { detail: { peerId: contact.peerId, name: contact.name, online, lastSeen: now } })
    if (online) void this.outbox.flush(contact.peerId)
    if (online) this.files.retry(contact.peerId)
  }

  /**
   * Retries waiting messages every round, and probes offline contacts (so that presence is known)
   * with a delay that doubles per failed probe up to MAX_PROBE_DELAY_MS.
   */
  private tick (): void {
    void (async () => {
      this.files.retry()
      const waiting = await this.store.outboxPeers()
      for (const peer of waiting) void this.outbox.retry(peer)
      const interval = this.init.retryInterval ?? RETRY_INTERVAL_MS
      for (const c of this.contactCache.values()) {
        if (this.shutdown.signal.aborted) return
        if (this.isOnline(c.peerId) || this.outbox.busy(c.peerId) || waiting.includes(c.peerId)) continue
        const probe = this.probes.get(c.peerId) ?? { next: 0, delay: interval }
        if (Date.now() < probe.next) continue
        await this.reachQuietly(peerIdFromString(c.peerId))
        if (!this.isOnline(c.peerId)) {
          this.probes.set(c.peerId, { next: Date.now() + probe.delay, delay: Math.min(probe.delay * 2, MAX_PROBE_DELAY_MS) })
        }
      }
    })().catch(err => { log.error('retry round failed: %e', err) })
  }

  private async reachQuietly (peer: PeerId): Promise<void> {
    await this.reach.connect(peer).catch(err => { log('contact %p not reachable: %s', peer, err.message) })
  }

  private byName (name: string): Contact | undefined {
    const lower = name.toLowerCase()
    for (const c of this.contactCache.values()) if (c.name.toLowerCase() === lower) return c
    return undefined
  }

  private info (c: Contact): ContactInfo {
    return { ...c, online: this.isOnline(c.peerId), safetyCode: this.safetyCode(c.peerId) }
  }

  /** Stops the node; everything acknowledged or queued is already on disk. */
  async stop (): Promise<void> {
    if (this.shutdown.signal.aborted) return
    this.shutdown.abort()
    this.timer?.stop()
    this.bootstrapWatch.stop()
    this.turn.stop()
    this.rooms.stop()
    this.files.stop()
    await this.calls.stop()
    await this.outbox.settled()
    await this.rooms.saveActivity().catch((err: any) => { log.error('could not save room activity: %e', err) })
    await this.libp2p.stop()
    await this.fileStorage.close?.().catch((err: any) => { log.error('could not close the files folder: %e', err) })
    await this.closePlatform()
  }
}

/** What createChat makes before the node and hands to the Chat. */
interface ChatParts {
  /** gossipsub's topic filter: the joined rooms' topics */
  allowedTopics: Set<string>
  /** the contacts by peer ID, filled by start() */
  contacts: Map<string, Contact>
  strangers: Strangers
  fileStorage: FileStorage
}

/** Contacts' peer IDs, parsed once (a send looks its contact up every time). */
const parsedPeerIds = new Map<string, PeerId>()
function contactPeerId (peer: string): PeerId {
  let id = parsedPeerIds.get(peer)
  if (id == null) {
    id = peerIdFromString(peer)
    if (parsedPeerIds.size > 10_000) parsedPeerIds.clear()
    parsedPeerIds.set(peer, id)
  }
  return id
}

/** Parses a peer ID typed by a person; a typo gets one clear line. */
export function parsePeerId (text: string): PeerId {
  let id: PeerId
  try {
    id = peerIdFromString(text.trim())
  } catch {
    throw new InvalidPeerIdError(`not a valid peer ID: ${text.length > 60 ? text.slice(0, 60) + '…' : text}`)
  }
  if (id.type !== 'Ed25519') throw new InvalidPeerIdError('only Ed25519 peer IDs (12D3KooW…) can be contacts')
  return id
}

export async function createChat (init: ChatInit = {}): Promise<Chat> {
  const platform: Platform = init.platform ?? ((init.privateKey != null && init.datastore != null)
    ? { privateKey: init.privateKey, datastore: init.datastore, close: async () => {} }
    : await openPlatform(init))
  const privateKey = init.privateKey ?? platform.privateKey
  const datastore = init.datastore ?? platform.datastore
  const store = new ChatStore(datastore, { copiesValues: init.datastore == null && platform.copiesValues === true })
  let chat: Chat | undefined
  let libp2p: ChatLibp2p
  const contacts = new Map<string, Contact>()
  let fileStorage: FileStorage
  try {
    fileStorage = init.files ?? await openFileStorage(init.dataDir)
  } catch (err) {
    await platform.close()
    throw err
  }
  const parts: ChatParts = { allowedTopics: new Set<string>(), contacts, strangers: new Strangers(store, peer => contacts.has(peer)), fileStorage }
  try {
    const { listen, bootstrap, iceServers, webrtc, lan, dhtServer, lateServices } = init
    libp2p = await createNode({
      lateServices,
      privateKey,
      datastore,
      listen,
      bootstrap,
      iceServers,
      webrtc,
      lan,
      dhtServer,
      allowedTopics: parts.allowedTopics,
      denyPeer: (peer) => parts.strangers.isBlocked(peer.toString()),
      services: {
        roomSync: roomSync({ lookup: (roomId) => chat?.rooms.syncSource(roomId) }),
        calls: callSignalling({
          onSignal: (from, signal, channel) => {
            if (chat != null) chat.calls.onSignal(from, signal, channel)
            else channel.abort(new Error('not started'))
          },
          onEnd: (channel) => { chat?.calls.onEnd(channel) }
        }),
        files: fileTransfer({
          lookup: async (peer, id) => chat != null ? await chat.files.serve(peer, id) : 'unavailable'
        }),
        dm: directMessages({
          receive: async (from, messages) => {
            if (chat == null) throw new Error('not started')
            return await chat.receive(from, messages)
          }
        })
      }
    })
    // a new identity is stored before the node runs under it (platform.browser.ts writes it meanwhile)
    await platform.saved
  } catch (err) {
    await platform.close()
    throw err
  }
  chat = new Chat(libp2p, store, { ...init, privateKey }, parts, platform.close)
  if (init.start === false) return chat
  try {
    await chat.start()
  } catch (err) {
    await chat.stop().catch(() => {})
    throw err
  }
  return chat
}
