/**
 * Conversations with one person: what arrives (stored, then reported; a stranger's part of a message
 * request), what is sent (through the outbox, so it survives a crash), and who may write (strangers.ts).
 * The DM protocol (index.ts) calls receive() before it acknowledges.
 */
import { logger } from '@libp2p/logger'
import { toString as toHex } from 'uint8arrays/to-string'
import { DM_PROTOCOL } from '../constants.js'
import { checkMessageLength, InvalidInputError } from '../errors.js'
import { decodeOffer } from '../files/offer.js'
import { Outbox } from './outbox.js'
import type { DirectMessage, DirectMessages } from './index.js'
import type { Unreachable } from './outbox.js'
import type { Strangers } from './strangers.js'
import type { Contacts } from '../contacts/index.js'
import type { FileEngine } from '../files/index.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore, MessageRequest, StoredMessage } from '../store/index.js'
import type { PeerId } from '@libp2p/interface'

const log = logger('megachat:direct')
/** a message needs something besides white space (a regular expression: trim() would copy the text) */
const NOT_BLANK = /\S/

export interface IncomingMessage extends StoredMessage {
  direction: 'in'
  /** the contact's name, when the author is a contact */
  name?: string
  /** the author is not a contact: the message is part of their message request (accept: addContact; or block) */
  request?: true
}

export interface ConversationsInit {
  self: PeerId
  store: ChatStore
  contacts: Contacts
  strangers: Strangers
  files: Pick<FileEngine, 'onOffer'>
  reach: Reach
  dm: DirectMessages
  signal: AbortSignal
  retryInterval?: number
  onMessage(message: IncomingMessage): void
  onSent(message: StoredMessage): void
  onDelivered(message: StoredMessage): void
  onUnreachable(u: Unreachable): void
}

export class Conversations {
  private readonly init: ConversationsInit
  private readonly outbox: Outbox

  constructor (init: ConversationsInit) {
    this.init = init
    this.outbox = new Outbox({
      store: init.store,
      dm: () => init.dm,
      reach: init.reach,
      protocol: DM_PROTOCOL,
      signal: init.signal,
      retryInterval: init.retryInterval,
      onSent: init.onSent,
      onDelivered: init.onDelivered,
      onUnreachable: init.onUnreachable
    })
  }

  /**
   * Stores a message in the outbox and starts delivering it; with `file`, the message carries that
   * file's offer (the text may then be empty), and `stored` runs before 'sent' is reported. (Not an async
   * function: a burst of sends costs the outbox's one promise per message, not one per call on the way.)
   */
  send (peer: PeerId, text: string, file?: { id: string, offer: Uint8Array, stored(message: StoredMessage): Promise<void> }): Promise<StoredMessage> {
    try {
      if (peer.equals(this.init.self)) throw new InvalidInputError(file != null ? 'cannot send a file to yourself' : 'cannot message yourself')
      if (file == null && !NOT_BLANK.test(text)) throw new InvalidInputError('empty message')
      checkMessageLength(text)
    } catch (err) {
      return Promise.reject(err)
    }
    if (file == null) return this.outbox.send(peer.toString(), text)
    return this.outbox.send(peer.toString(), text, { id: file.id, offer: file.offer }).then(async (message) => {
      await file.stored(message)
      this.init.onSent(message)
      return message
    })
  }

  async history (peer: PeerId, limit: number): Promise<StoredMessage[]> {
    return await this.init.store.history(peer.toString(), limit)
  }

  /** Delivers what waits in the outbox for a peer. */
  async flush (peer: string): Promise<void> {
    await this.outbox.flush(peer)
  }

  /** Retries every peer with messages waiting; resolves with those peers. */
  async retry (): Promise<string[]> {
    const waiting = await this.init.store.outboxPeers()
    for (const peer of waiting) void this.outbox.retry(peer)
    return waiting
  }

  /** Is a delivery to the peer under way? */
  busy (peer: string): boolean {
    return this.outbox.busy(peer)
  }

  requests (): MessageRequest[] {
    return this.init.strangers.requests()
  }

  /**
   * Called by the DM protocol before it acknowledges: the messages it took are on disk when this resolves
   * with their number (all from a contact; from a stranger, what their message request has room for).
   * Each id is stored (and reported) once.
   */
  async receive (from: PeerId, messages: DirectMessage[]): Promise<number> {
    const peer = from.toString()
    const receivedAt = Date.now()
    const taken = this.init.strangers.admit(peer, messages)
    if (taken === 0) return 0
    const request = this.init.strangers.record(peer)
    // the store takes writes in turn, so two streams from one peer store (and report) one after the other
    const offers = new Map<string, Uint8Array>()
    const fresh = await this.init.store.addIncoming(peer, messages.slice(0, taken).map(m => {
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
      if (offer != null) await this.init.files.onOffer(peer, peer, false, decodeOffer(offer), m.id).catch((err: any) => { log.error('could not take a file offer: %e', err) })
    }
    const name = this.init.contacts.get(peer)?.name
    for (const message of fresh) {
      this.init.onMessage({ ...message, direction: 'in', ...(name != null ? { name } : {}), ...(request != null ? { request: true } : {}) })
    }
    return taken
  }

  /** Resolves once every delivery under way has ended (stop). */
  async settled (): Promise<void> {
    await this.outbox.settled()
  }
}
