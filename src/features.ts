/**
 * The features a Chat is made of, built in one order, each given what it needs: contacts and strangers
 * (before the node: the connection gater asks who is blocked), then over the node the dial policy
 * (reach), presence, files, direct messages, rooms, calls, the bootstrap watch and TURN. The Chat facade
 * (index.ts) only calls them; each owns its state.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { safetyCode } from './crypto/safety-code.js'
import { openPlatform } from './platform.js'
import { JitteredInterval } from './timer.js'
import { RETRY_INTERVAL_MS } from './constants.js'
import { Calls, callSignalling } from './calls/index.js'
import { Contacts, looksLikePeerId } from './contacts/index.js'
import { directMessages } from './direct/index.js'
import { Strangers } from './direct/strangers.js'
import { fileTransfer } from './files/protocol.js'
import { openFileStorage } from './files/storage.js'
import { createNode } from './node/node.js'
import { ChatStore } from './store/index.js'
import { Conversations } from './direct/conversations.js'
import { FileEngine } from './files/index.js'
import { decodeOffer, encodeOffer } from './files/offer.js'
import { checkMessageLength, InvalidInputError, UnknownRoomError } from './errors.js'
import { diagnoseNetwork, diagnosePeer } from './node/diagnose.js'
import { relayReservations } from './node/relay-reservations.js'
import { BootstrapWatch } from './node/bootstrap-watch.js'
import { watchConnections } from './node/connections.js'
import { Reach } from './node/reach.js'
import { Presence } from './presence/index.js'
import { Rooms, roomSync } from './rooms/index.js'
import { BootstrapTurn } from './turn/index.js'
import type { FileStorage } from './files/types.js'
import type { ChatLibp2p } from './node/node.js'
import type { Platform } from './platform.js'
import type { ChatEvents, ChatInit, ContactInfo } from './types.js'
import type { Diagnosis } from './node/diagnose.js'
import type { RoomInfo } from './rooms/index.js'
import type { Contact } from './store/index.js'
import type { FileSource, FileTransfer } from './files/types.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

const log = logger('megachat')

/** Hands an event to the Chat's listeners. */
export type Emit = <K extends keyof ChatEvents>(name: K, detail: ChatEvents[K] extends CustomEvent<infer D> ? D : never) => unknown

/** What createChat makes before the node. */
export interface Parts {
  store: ChatStore
  contacts: Contacts
  strangers: Strangers
  fileStorage: FileStorage
  /** gossipsub's topic filter: the joined rooms' topics */
  allowedTopics: Set<string>
  privateKey: PrivateKey
  /** closes what the store and identity were opened from (the data folder's lock) */
  closePlatform: () => Promise<void>
}

export class ChatFeatures {
  readonly store: ChatStore
  readonly contacts: Contacts
  readonly strangers: Strangers
  /** the dial policy every feature uses */
  readonly reach: Reach
  readonly presence: Presence
  readonly files: FileEngine
  readonly conversations: Conversations
  readonly rooms: Rooms
  readonly calls: Calls
  readonly bootstrapWatch: BootstrapWatch
  /** TURN credentials from the bootstrap nodes that run coturn */
  readonly turn: BootstrapTurn
  readonly fileStorage: FileStorage
  /** this node's identity (room messages are signed with it) */
  readonly privateKey: PrivateKey
  private readonly libp2p: ChatLibp2p
  private readonly init: ChatInit
  private readonly closePlatform: () => Promise<void>
  private readonly shutdown = new AbortController()
  private timer?: JitteredInterval

  constructor (libp2p: ChatLibp2p, parts: Parts, init: ChatInit, emit: Emit) {
    const { store, contacts, strangers, fileStorage } = parts
    const signal = this.shutdown.signal
    this.libp2p = libp2p
    this.init = init
    this.store = store
    this.contacts = contacts
    this.strangers = strangers
    this.fileStorage = fileStorage
    this.privateKey = parts.privateKey
    this.closePlatform = parts.closePlatform
    this.reach = new Reach(libp2p, { findTimeout: init.findTimeout, signal })
    const reach = this.reach
    this.presence = new Presence({
      libp2p,
      store,
      contacts,
      reach,
      signal,
      retryInterval: init.retryInterval,
      onChange: (change) => {
        emit('presence', change)
        if (change.online) {
          void this.conversations.flush(change.peerId)
          this.files.retry(change.peerId)
        }
      }
    })
    const presence = this.presence
    this.files = new FileEngine({
      self: libp2p.peerId,
      store,
      storage: fileStorage,
      reach,
      stats: () => libp2p.services.files.stats,
      isContact: (peer) => contacts.has(peer),
      roomMembers: (roomId) => {
        try {
          return this.rooms.members(roomId)
        } catch {
          return []
        }
      },
      isOnline: (peer) => presence.isOnline(peer),
      signal,
      autoFetchBytes: init.autoFetchBytes,
      onEvent: (name, transfer) => { emit(name, transfer) }
    })
    const files = this.files
    this.conversations = new Conversations({
      self: libp2p.peerId,
      store,
      contacts,
      strangers,
      files,
      reach,
      dm: libp2p.services.dm,
      signal,
      retryInterval: init.retryInterval,
      onMessage: (m) => { emit('message', m) },
      onSent: (m) => { emit('sent', m) },
      onDelivered: (m) => { emit('delivered', m) },
      onUnreachable: (u) => { emit('unreachable', u) }
    })
    this.rooms = new Rooms({
      libp2p,
      store,
      privateKey: parts.privateKey,
      signal,
      reach: async (peer, addrs) => await reach.connect(peer, { addrs }),
      onMessage: ({ offer, ...m }) => {
        const name = contacts.get(m.from)?.name
        emit('room:message', name != null ? { ...m, name } : m)
        if (offer != null) void files.onOffer(m.from, m.roomId, true, decodeOffer(offer), m.id).catch((err: any) => { log.error('could not take a file offer: %e', err) })
      },
      onMembers: (m) => { emit('room:members', m) }
    }, parts.allowedTopics)
    this.bootstrapWatch = new BootstrapWatch(libp2p, init.bootstrap ?? [])
    this.bootstrapWatch.addEventListener('change', (evt) => { emit('bootstrap', evt.detail) })
    watchConnections(libp2p, (summary) => { emit('connections', summary) }, signal)
    const bootstrapIds = new Set(this.bootstrapWatch.status().map(s => s.peerId).filter(id => id != null))
    this.turn = new BootstrapTurn(libp2p, (peer) => bootstrapIds.has(peer.toString()))
    this.calls = new Calls({
      self: libp2p.peerId,
      store,
      signalling: () => libp2p.services.calls,
      reach: async (peer, signal) => await reach.connect(peer, { signal }),
      connections: (peer) => libp2p.getConnections(peer),
      signal,
      onChange: (call) => { emit('call', call) },
      onEnded: (record) => { emit('call:ended', record) },
      media: init.callMedia,
      iceServers: () => this.iceServers(),
      ringTimeout: init.ringTimeout
    })
  }

  get stopped (): boolean {
    return this.shutdown.signal.aborted
  }

  /** Loads what is stored, then starts the node and the features over it. */
  async start (): Promise<void> {
    await this.contacts.load()
    await this.strangers.load()
    this.presence.start()
    await this.rooms.load()
    await this.files.load()
    this.turn.start()
    // inbound streams are taken from before the node starts, by features that exist already
    const { dm, roomSync, calls, files } = this.libp2p.services
    await dm.listen(async (from, messages) => await this.conversations.receive(from, messages))
    await roomSync.listen((roomId) => this.rooms.syncSource(roomId))
    await calls.listen(this.calls)
    await files.listen(async (peer, id) => await this.files.serve(peer, id))
    await this.libp2p.start()
    this.bootstrapWatch.start()
    this.rooms.start()
    this.timer = new JitteredInterval(() => { this.tick() }, this.init.retryInterval ?? RETRY_INTERVAL_MS)
    this.tick()
    this.files.start()
  }

  /** The configured ICE servers (by default the bootstrap nodes' STUN), then the TURN servers with credentials. */
  iceServers (): RTCIceServer[] {
    return [...(this.init.iceServers ?? []), ...this.turn.iceServers()]
  }

  /** Adds a contact: that accepts their message request and undoes a block; then they are dialled. */
  async addContact (peer: string, name?: string): Promise<Contact> {
    const contact = await this.contacts.add(peer, name)
    await this.strangers.accepted(contact.peerId)
    await this.strangers.unblock(contact.peerId)
    void this.presence.reach(this.contacts.resolve(contact.peerId))
    return contact
  }

  contactInfo (c: Contact): ContactInfo {
    return { ...c, online: this.presence.isOnline(c.peerId), safetyCode: safetyCode(this.libp2p.peerId, peerIdFromString(c.peerId)) }
  }

  /** Blocks a peer: refused from now on, their conversation, request and contact deleted, connections closed. */
  async block (peer: PeerId): Promise<void> {
    if (peer.equals(this.libp2p.peerId)) throw new InvalidInputError('that is your own peer ID')
    await this.strangers.block(peer.toString())
    await this.contacts.forget(peer.toString())
    await this.libp2p.hangUp(peer).catch((err: any) => { log('closing connections to %p failed: %s', peer, err.message) })
  }

  /** A joined room by name or id. */
  room (ref: string): RoomInfo {
    const { roomId } = this.rooms.find(ref).record
    const info = this.rooms.list().find(r => r.roomId === roomId)
    if (info == null) throw new UnknownRoomError(`no room ${ref}`)
    return info
  }

  /** Offers a file to a contact or peer ID (through the outbox), else in a room by name or id (a sealed message). */
  async sendFile (ref: string, source: FileSource, text: string): Promise<FileTransfer> {
    checkMessageLength(text)
    const to: { room: string } | { peer: PeerId } = this.contacts.find(ref) == null && !looksLikePeerId(ref) ? { room: this.room(ref).roomId } : { peer: this.contacts.resolve(ref) }
    if ('peer' in to && to.peer.equals(this.libp2p.peerId)) throw new InvalidInputError('cannot send a file to yourself')
    const { offer, transfer } = await this.files.prepare('room' in to ? to.room : to.peer.toString(), 'room' in to, source)
    const offered = async (message: { id: string }): Promise<void> => { await this.files.offered(transfer.id, message.id) }
    if ('room' in to) await offered(await this.rooms.say(to.room, text, encodeOffer(offer)))
    else await this.conversations.send(to.peer, text, { id: transfer.id, offer: encodeOffer(offer), stored: offered })
    return transfer
  }

  /** The network's state (NAT, bootstrap nodes, relays, TURN) and, with a peer, the way to them or why there is none. */
  async diagnose (peer?: PeerId): Promise<Diagnosis> {
    // with a connection open this returns it at once; without, it dials (or joins the dial under way)
    const attempt = peer != null && !this.strangers.isBlocked(peer.toString()) ? this.reach.connect(peer).catch(() => {}) : undefined
    const addresses = this.libp2p.getMultiaddrs().map(ma => ma.toString())
    const diagnosis = await diagnoseNetwork({
      iceServers: this.init.iceServers ?? [],
      turnServers: this.turn.iceServers(),
      bootstrap: this.bootstrapWatch.status(),
      addresses,
      reservations: await relayReservations(this.libp2p.peerStore, addresses)
    })
    if (peer == null) return diagnosis
    await attempt
    const key = peer.toString()
    return { ...diagnosis, peer: diagnosePeer(key, this.contacts.get(key)?.name, this.libp2p.getConnections(peer), this.reach.lastTrace(peer), this.strangers.isBlocked(key)) }
  }

  /** Retries waiting messages and files every round, and probes offline contacts (presence). */
  private tick (): void {
    void (async () => {
      this.files.retry()
      const waiting = new Set(await this.conversations.retry())
      await this.presence.probe(peer => this.conversations.busy(peer) || waiting.has(peer))
    })().catch(err => { log.error('retry round failed: %e', err) })
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    this.timer?.stop()
    this.presence.stop()
    this.bootstrapWatch.stop()
    this.turn.stop()
    this.rooms.stop()
    this.files.stop()
    await this.calls.stop()
    await this.conversations.settled()
    await this.rooms.saveActivity().catch((err: any) => { log.error('could not save room activity: %e', err) })
    await this.libp2p.stop()
    await this.fileStorage.close?.().catch((err: any) => { log.error('could not close the files folder: %e', err) })
    await this.closePlatform()
  }
}

/**
 * Opens the store and the files folder, makes contacts and strangers, and creates the node (not
 * started); resolves with it and with the builder of the features over it. The protocols' handlers (DMs,
 * room sync, call signalling, files) are handed to their services in ChatFeatures.start(), before the
 * node starts: no service holds a reference to a feature made later.
 */
export async function assemble (init: ChatInit): Promise<{ libp2p: ChatLibp2p, features: (emit: Emit) => ChatFeatures }> {
  const platform: Platform = init.platform ?? ((init.privateKey != null && init.datastore != null)
    ? { privateKey: init.privateKey, datastore: init.datastore, close: async () => {} }
    : await openPlatform(init))
  try {
    return await assembleOn(init, platform)
  } catch (err) {
    await platform.close()
    throw err
  }
}

async function assembleOn (init: ChatInit, platform: Platform): Promise<{ libp2p: ChatLibp2p, features: (emit: Emit) => ChatFeatures }> {
  const privateKey = init.privateKey ?? platform.privateKey
  const datastore = init.datastore ?? platform.datastore
  const own = init.datastore == null
  // the platform's own ways into its database, for its own datastore only
  const store = new ChatStore(datastore, own ? { copiesValues: platform.copiesValues, pathBatch: platform.pathBatch, readRange: platform.readRange } : {})
  const fileStorage = init.files ?? await openFileStorage(init.dataDir)
  // made before the node: its connection gater asks who is blocked
  const contacts = new Contacts(store, peerIdFromPrivateKey(privateKey))
  const strangers = new Strangers(store, peer => contacts.has(peer))
  const allowedTopics = new Set<string>()
  const { listen, bootstrap, iceServers, webrtc, lan, dhtServer, lateServices } = init
  const libp2p = await createNode({
    lateServices,
    privateKey,
    datastore,
    listen,
    bootstrap,
    iceServers,
    webrtc,
    lan,
    dhtServer,
    allowedTopics,
    denyPeer: (peer) => strangers.isBlocked(peer.toString()),
    services: {
      // each handler is given by its feature in ChatFeatures.start(), before the node starts
      dm: directMessages(),
      roomSync: roomSync(),
      calls: callSignalling(),
      files: fileTransfer()
    }
  })
  // a new identity is stored before the node runs under it (platform.browser.ts writes it meanwhile)
  await platform.saved
  return {
    libp2p,
    features: (emit) => new ChatFeatures(libp2p, { store, contacts, strangers, fileStorage, allowedTopics, privateKey, closePlatform: platform.close }, init, emit)
  }
}
