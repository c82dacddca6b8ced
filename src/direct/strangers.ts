/**
 * Who may write to us.
 *
 * - Contacts (the people the user added): freely.
 * - Blocked peers: nobody hears them. The node's connection gater refuses their connections (see
 *   `denies`), and a message that comes all the same is refused.
 * - Everyone else is a stranger, whose messages make a message request that the user accepts (adds the
 *   contact) or blocks. A request holds at most REQUEST_MAX_MESSAGES messages and REQUEST_MAX_SIZE of
 *   text and file offers, and at most MAX_REQUESTS are open.
 *
 * What does not fit is not acknowledged, so nothing is lost: it waits in the sender's outbox and arrives
 * once the user has accepted the request. A flood from one stranger, or from many made-up identities,
 * costs at most MAX_REQUESTS requests of bounded size on disk and in memory.
 */
import { MAX_REQUESTS, REQUEST_MAX_MESSAGES, REQUEST_MAX_SIZE } from '../constants.js'
import type { ChatStore, MessageRequest } from '../store/index.js'

/** What was refused, and why. */
export interface StrangerStats {
  /** messages from blocked peers */
  blocked: number
  /** messages over a request's size, or from new strangers while MAX_REQUESTS are open */
  deferred: number
}

export class Strangers {
  readonly stats: StrangerStats = { blocked: 0, deferred: 0 }
  private readonly store: ChatStore
  private readonly isContact: (peer: string) => boolean
  private readonly open = new Map<string, MessageRequest>()
  private readonly blocked = new Set<string>()

  constructor (store: ChatStore, isContact: (peer: string) => boolean) {
    this.store = store
    this.isContact = isContact
  }

  async load (): Promise<void> {
    for (const b of await this.store.listBlocked()) this.blocked.add(b.peerId)
    for (const r of await this.store.listRequests()) {
      // a request accepted just before a crash: the contact was written first
      if (this.isContact(r.peerId)) await this.store.deleteRequest(r.peerId)
      else this.open.set(r.peerId, r)
    }
  }

  /** Open message requests, the latest first. */
  requests (): MessageRequest[] {
    return [...this.open.values()].sort((a, b) => b.lastAt - a.lastAt).map(r => ({ ...r }))
  }

  isBlocked (peer: string): boolean {
    return this.blocked.has(peer)
  }

  listBlocked (): string[] {
    return [...this.blocked]
  }

  /**
   * How many of a peer's messages, from the first, may be stored now: all from a contact, none from a
   * blocked peer, what the request has room for from a stranger. A stranger's request takes them at once
   * (so that two streams cannot both fill it); `record` is what to store with them.
   */
  admit (peer: string, messages: ReadonlyArray<{ text: string, file?: Uint8Array }>): number {
    if (this.blocked.has(peer)) {
      this.stats.blocked += messages.length
      return 0
    }
    if (this.isContact(peer)) return messages.length
    let request = this.open.get(peer)
    if (request == null && this.open.size >= MAX_REQUESTS) {
      this.stats.deferred += messages.length
      return 0
    }
    const now = Date.now()
    request ??= { peerId: peer, firstAt: now, lastAt: now, messages: 0, chars: 0 }
    let n = 0
    for (const m of messages) {
      const size = m.text.length + (m.file?.byteLength ?? 0)
      if (request.messages + 1 > REQUEST_MAX_MESSAGES || request.chars + size > REQUEST_MAX_SIZE) break
      request.messages++
      request.chars += size
      n++
    }
    this.stats.deferred += messages.length - n
    if (n > 0) {
      request.lastAt = now
      this.open.set(peer, request)
    }
    return n
  }

  /** The request to store with a stranger's messages (admit() took them), or nothing for a contact. */
  record (peer: string): MessageRequest | undefined {
    return this.open.get(peer)
  }

  /** The user accepted the peer (added the contact): the request is done with. */
  async accepted (peer: string): Promise<void> {
    if (!this.open.delete(peer)) return
    await this.store.deleteRequest(peer)
  }

  /** Blocks a peer and forgets the conversation with them (store.block). */
  async block (peer: string): Promise<void> {
    await this.store.block({ peerId: peer, blockedAt: Date.now() })
    this.blocked.add(peer)
    this.open.delete(peer)
  }

  async unblock (peer: string): Promise<boolean> {
    if (!this.blocked.has(peer)) return false
    await this.store.unblock(peer)
    this.blocked.delete(peer)
    return true
  }
}
