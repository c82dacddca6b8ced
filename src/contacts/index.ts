/**
 * Contacts: the people the user added, by peer ID and by a local name (unique, case-insensitive).
 * The store keeps them; this cache answers the many synchronous questions (is this a contact, what is
 * their name, who is "bob") without a read. load() fills it before the node starts.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { LOCAL_NAME, LOCAL_NAME_RULE } from '../constants.js'
import { DuplicateContactError, InvalidInputError, InvalidPeerIdError, UnknownContactError } from '../errors.js'
import type { ChatStore, Contact } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

/** Does the text look like a peer ID rather than a name? */
export function looksLikePeerId (ref: string): boolean {
  return /^(12D3Koo|Qm|16Uiu2)/.test(ref)
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

export class Contacts {
  private readonly store: ChatStore
  private readonly self: PeerId
  private readonly byId = new Map<string, Contact>()
  /** contacts' peer IDs, parsed once (a send looks its contact up every time) */
  private readonly parsed = new Map<string, PeerId>()

  constructor (store: ChatStore, self: PeerId) {
    this.store = store
    this.self = self
  }

  async load (): Promise<void> {
    for (const c of await this.store.listContacts()) this.byId.set(c.peerId, c)
  }

  has (peer: string): boolean {
    return this.byId.has(peer)
  }

  get (peer: string): Contact | undefined {
    return this.byId.get(peer)
  }

  /** The contacts, by name. */
  list (): Contact[] {
    return [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** A contact by name (case-insensitive) or peer ID. */
  find (ref: string): Contact | undefined {
    const byId = this.byId.get(ref)
    if (byId != null) return byId
    const lower = ref.toLowerCase()
    for (const c of this.byId.values()) if (c.name.toLowerCase() === lower) return c
    return undefined
  }

  /** The peer behind a contact name or a peer ID (contact or not). */
  resolve (ref: string): PeerId {
    const contact = this.find(ref)
    if (contact != null) return this.peerIdOf(contact.peerId)
    if (looksLikePeerId(ref)) return parsePeerId(ref)
    throw new UnknownContactError(`no contact named ${ref}`)
  }

  /** Adds a contact under `name` (default `peer-` and the ID's last six characters). */
  async add (peer: string, name?: string): Promise<Contact> {
    const id = parsePeerId(peer)
    if (id.equals(this.self)) throw new InvalidInputError('that is your own peer ID')
    const key = id.toString()
    const chosen = name ?? `peer-${key.slice(-6)}`
    if (!LOCAL_NAME.test(chosen)) throw new InvalidInputError(`a contact name is ${LOCAL_NAME_RULE}`)
    const existing = this.byId.get(key)
    if (existing != null) throw new DuplicateContactError(`already a contact: ${existing.name}`)
    if (this.find(chosen) != null) throw new DuplicateContactError(`the name ${chosen} is taken by another contact`)
    const contact: Contact = { peerId: key, name: chosen, addedAt: Date.now() }
    await this.store.putContact(contact)
    this.byId.set(key, contact)
    return contact
  }

  async remove (ref: string): Promise<Contact> {
    const contact = this.find(ref)
    if (contact == null) throw new UnknownContactError(`no contact ${ref}`)
    await this.store.deleteContact(contact.peerId)
    this.byId.delete(contact.peerId)
    return contact
  }

  /** Forgets a contact if there is one (blocking them); resolves whether there was. */
  async forget (peer: string): Promise<boolean> {
    if (!this.byId.delete(peer)) return false
    await this.store.deleteContact(peer)
    return true
  }

  /** Notes when a contact was last seen (connected or disconnected); resolves the contact, if one. */
  seen (peer: string, at: number): Contact | undefined {
    const contact = this.byId.get(peer)
    if (contact == null) return undefined
    contact.lastSeen = at
    return contact
  }

  private peerIdOf (peer: string): PeerId {
    let id = this.parsed.get(peer)
    if (id == null) {
      id = peerIdFromString(peer)
      if (this.parsed.size > 10_000) this.parsed.clear()
      this.parsed.set(peer, id)
    }
    return id
  }
}
