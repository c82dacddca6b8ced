/**
 * Presence: who of the contacts is online. A contact is online while a connection to them is open;
 * each change is stored (last seen) and reported. Offline contacts are probed every round so that a
 * contact who came back is noticed, with a delay that doubles per failed probe up to MAX_PROBE_DELAY_MS.
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { MAX_PROBE_DELAY_MS, RETRY_INTERVAL_MS } from '../constants.js'
import type { Contacts } from '../contacts/index.js'
import type { Reach } from '../node/reach.js'
import type { ChatStore } from '../store/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'

const log = logger('megachat:presence')

export interface PresenceChange {
  peerId: string
  name: string
  online: boolean
  lastSeen?: number
}

export interface PresenceInit {
  libp2p: Pick<Libp2p, 'addEventListener' | 'removeEventListener' | 'getConnections'>
  store: ChatStore
  contacts: Contacts
  reach: Pick<Reach, 'connect'>
  /** how often offline contacts may be probed at first (ms) */
  retryInterval?: number
  signal: AbortSignal
  /** a contact came online or went offline */
  onChange(change: PresenceChange): void
}

export class Presence {
  private readonly init: PresenceInit
  /** when each offline contact is probed next, and the delay after that */
  private readonly probes = new Map<string, { next: number, delay: number }>()
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => { this.changed(evt.detail, true) }
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => { this.changed(evt.detail, false) }

  constructor (init: PresenceInit) {
    this.init = init
  }

  start (): void {
    this.init.libp2p.addEventListener('peer:connect', this.onConnect)
    this.init.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
  }

  stop (): void {
    this.init.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.init.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Is there an open connection to this peer? */
  isOnline (peer: string): boolean {
    return this.init.libp2p.getConnections(peerIdFromString(peer)).length > 0
  }

  /**
   * Probes the offline contacts whose turn it is, one after the other, leaving out those in `skip`
   * (whose messages are being delivered, which reaches them anyway).
   */
  async probe (skip: (peer: string) => boolean): Promise<void> {
    const first = this.init.retryInterval ?? RETRY_INTERVAL_MS
    for (const c of this.init.contacts.list()) {
      if (this.init.signal.aborted) return
      if (this.isOnline(c.peerId) || skip(c.peerId)) continue
      const probe = this.probes.get(c.peerId) ?? { next: 0, delay: first }
      if (Date.now() < probe.next) continue
      await this.reach(peerIdFromString(c.peerId))
      if (!this.isOnline(c.peerId)) {
        this.probes.set(c.peerId, { next: Date.now() + probe.delay, delay: Math.min(probe.delay * 2, MAX_PROBE_DELAY_MS) })
      }
    }
  }

  /** Tries to connect to a peer now (a new contact), logging a failure only. */
  async reach (peer: PeerId): Promise<void> {
    await this.init.reach.connect(peer).catch(err => { log('contact %p not reachable: %s', peer, err.message) })
  }

  private changed (peer: PeerId, online: boolean): void {
    const now = Date.now()
    const contact = this.init.contacts.seen(peer.toString(), now)
    if (contact == null) return
    this.probes.delete(contact.peerId)
    this.init.store.putContact(contact).catch(err => { log.error('could not store last-seen: %e', err) })
    this.init.onChange({ peerId: contact.peerId, name: contact.name, online, lastSeen: now })
  }
}
