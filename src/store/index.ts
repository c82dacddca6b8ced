/**
 * Persistence for contacts, conversations and the outbox, behind one interface over any
 * interface-datastore Datastore: LevelDB in Node, IndexedDB in the browser, memory in tests.
 * libp2p shares the same datastore (peer store, DHT records) under its own prefixes.
 *
 * Keys
 *   /megachat/contact/<peerId>                      Contact (JSON)
 *   /megachat/msg/<peerId>/<timestamp:16>-<id>      StoredMessage (JSON), ordered by time
 *   /megachat/msgid/<peerId>/<id>                   -> the msg key (dedupe and lookup by id)
 *   /megachat/outbox/<peerId>/<timestamp:16>-<id>   -> the msg key of an unacknowledged message
 * Related writes go in one batch, so a crash never leaves a message without its index or outbox entry.
 */
import { Key } from 'interface-datastore'
import { CorruptDataError } from '../errors.js'
import type { Datastore } from 'interface-datastore'

export interface Contact {
  peerId: string
  name: string
  addedAt: number
  /** last time a connection to the contact was open (ms), if ever */
  lastSeen?: number
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
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))

function parse<T> (bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T
  } catch {
    throw new CorruptDataError(`stored ${what} is corrupted`)
  }
}

const pad = (n: number): string => Math.max(0, Math.floor(n)).toString().padStart(16, '0')
const contactKey = (peer: string): Key => new Key(`/megachat/contact/${peer}`)
const msgKey = (m: StoredMessage): Key => new Key(`/megachat/msg/${m.peer}/${pad(m.timestamp)}-${m.id}`)
const msgIdKey = (peer: string, id: string): Key => new Key(`/megachat/msgid/${peer}/${id}`)
const outboxKey = (m: StoredMessage): Key => new Key(`/megachat/outbox/${m.peer}/${pad(m.timestamp)}-${m.id}`)

export class ChatStore {
  constructor (readonly datastore: Datastore) {}

  // ---- contacts

  async putContact (contact: Contact): Promise<void> {
    await this.datastore.put(contactKey(contact.peerId), json(contact))
  }

  async getContact (peer: string): Promise<Contact | undefined> {
    try {
      return parse<Contact>(await this.datastore.get(contactKey(peer)), 'contact')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  async deleteContact (peer: string): Promise<void> {
    await this.datastore.delete(contactKey(peer))
  }

  async listContacts (): Promise<Contact[]> {
    const out: Contact[] = []
    for await (const { value } of this.datastore.query({ prefix: '/megachat/contact/' })) {
      out.push(parse<Contact>(value, 'contact'))
    }
    return out
  }

  // ---- messages

  /** Stores an outgoing message and its outbox entry in one batch. */
  async addOutgoing (m: StoredMessage): Promise<void> {
    const batch = this.datastore.batch()
    const key = msgKey(m)
    batch.put(key, json(m))
    batch.put(msgIdKey(m.peer, m.id), enc.encode(key.toString()))
    batch.put(outboxKey(m), enc.encode(key.toString()))
    await batch.commit()
  }

  /**
   * Stores an incoming message unless one with the same id from the same peer is already stored.
   * Returns false for a duplicate.
   */
  async addIncoming (m: StoredMessage): Promise<boolean> {
    if (await this.datastore.has(msgIdKey(m.peer, m.id))) return false
    const batch = this.datastore.batch()
    const key = msgKey(m)
    batch.put(key, json(m))
    batch.put(msgIdKey(m.peer, m.id), enc.encode(key.toString()))
    await batch.commit()
    return true
  }

  async getMessage (peer: string, id: string): Promise<StoredMessage | undefined> {
    try {
      const key = new Key(dec.decode(await this.datastore.get(msgIdKey(peer, id))))
      return parse<StoredMessage>(await this.datastore.get(key), 'message')
    } catch (err: any) {
      if (err.name === 'NotFoundError') return undefined
      throw err
    }
  }

  /** Marks an outgoing message delivered and takes it out of the outbox. Returns it, or undefined if unknown or already delivered. */
  async markDelivered (peer: string, id: string): Promise<StoredMessage | undefined> {
    const m = await this.getMessage(peer, id)
    if (m == null || m.direction !== 'out' || m.state === 'delivered') return undefined
    const updated: StoredMessage = { ...m, state: 'delivered' }
    const batch = this.datastore.batch()
    batch.put(msgKey(m), json(updated))
    batch.delete(outboxKey(m))
    await batch.commit()
    return updated
  }

  /** The last `limit` messages with a peer, oldest first. */
  async history (peer: string, limit = 50): Promise<StoredMessage[]> {
    const all: StoredMessage[] = []
    for await (const { value } of this.datastore.query({ prefix: `/megachat/msg/${peer}/` })) {
      all.push(parse<StoredMessage>(value, 'message'))
      if (all.length > limit) all.shift()
    }
    return all
  }

  /** Unacknowledged messages to a peer, oldest first. */
  async outbox (peer: string): Promise<StoredMessage[]> {
    const out: StoredMessage[] = []
    for await (const { value } of this.datastore.query({ prefix: `/megachat/outbox/${peer}/` })) {
      try {
        out.push(parse<StoredMessage>(await this.datastore.get(new Key(dec.decode(value))), 'message'))
      } catch (err: any) {
        if (err.name !== 'NotFoundError') throw err
      }
    }
    return out
  }

  /** Peers that have unacknowledged messages waiting. */
  async outboxPeers (): Promise<string[]> {
    const peers = new Set<string>()
    for await (const key of this.datastore.queryKeys({ prefix: '/megachat/outbox/' })) {
      peers.add(key.toString().split('/')[3])
    }
    return [...peers]
  }
}
