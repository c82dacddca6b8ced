/**
 * One connect() of the dial policy (./reach.ts): the address that worked last, the addresses the peer
 * store knows and a DHT lookup raced for a peer; the first connection wins, and a dial that connects
 * later is kept, never cut off mid-handshake.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { PeerNotFoundError, PeerUnreachableError } from '../errors.js'
import { isWebRTC } from './webrtc-guard.js'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('megachat:reach')

/** The address that worked last gets this head start before the other known addresses are dialled. */
export const LAST_ADDRESS_HEAD_START_MS = 150
/**
 * Plain addresses are dialled one after another, the next this long after the last started (or at once when
 * it failed): "happy eyeballs" (RFC 8305's connection attempt delay). A dead address costs this much, and a
 * peer with several working addresses (loopback, LAN, public) gets one connection rather than one per address.
 */
export const DIAL_STAGGER_MS = 250
/** Known addresses get this head start before a DHT lookup is started beside them. */
export const LOOKUP_DELAY_MS = 300
/** A lookup that brought no connection is made again this often... */
export const LOOKUP_RETRY_MS = 750
/** ...for this long after the first one began. */
export const LOOKUP_PATIENCE_MS = 3_000
/** Peer store metadata key of the address that last worked. */
export const LAST_ADDRESS_KEY = 'megachat/last-address'

export type ReachLibp2p = Pick<Libp2p, 'peerId' | 'getConnections' | 'dial' | 'getDialQueue' | 'peerStore' | 'peerRouting'>

/** How long the side with the higher peer ID leaves a WebRTC upgrade to the other side (see upgradeTurn). */
export const UPGRADE_YIELD_MS = 2_000

/**
 * Who upgrades a relayed connection to WebRTC. When two people reach each other at the same moment (both
 * adding the other, a call and a message crossing), each has a relayed connection it dialled, and both
 * would upgrade it: two WebRTC connections, each with its own ICE, DTLS and keep-alive. The side with the
 * lower peer ID upgrades at once; the other waits UPGRADE_YIELD_MS first (then see upgradeWanted).
 */
export function upgradeTurn (self: PeerId, peer: PeerId): 'now' | 'yield' {
  return self.toString() < peer.toString() ? 'now' : 'yield'
}

/**
 * Whether to dial WebRTC now, given the connections to the peer: not when a WebRTC connection is there,
 * and, for the side that yielded, not when the peer dialled us too (an inbound relayed connection): then
 * the peer, lower in the order, upgrades.
 */
export function upgradeWanted (connections: Connection[], yielded: boolean): boolean {
  const open = connections.filter(c => c.status === 'open')
  if (open.some(isWebRTC)) return false
  return !(yielded && open.some(c => c.direction === 'inbound' && c.limits != null))
}

/** One step of a connect(): what was tried, when (ms after it began), and how it went. */
export interface ReachStep {
  at: number
  /** 'known': the addresses the peer store had; 'lookup': a DHT lookup; 'dial': a dial of `addr` */
  what: 'known' | 'lookup' | 'dial'
  /** the address(es) dialled (relay addresses go together) */
  addr?: string
  ok: boolean
  /** what it found or why it failed, in a few words */
  detail: string
}

/** The last connect() to a peer that had to dial: how it went, step by step (for diagnostics). */
export interface ReachTrace {
  startedAt: number
  /** ms it took; undefined while it runs */
  tookMs?: number
  outcome: 'connected' | 'not found' | 'unreachable' | 'running'
  /** the connection that won: its address, and whether it is direct */
  via?: string
  steps: ReachStep[]
}

/** Steps kept per trace. */
const MAX_STEPS = 64

/** One connect(): the dials and the lookup raced for a peer, the first connection wins. */
export class DialRace {
  private readonly controller = new AbortController()
  /** ends the race: what has not started yet does not start, the lookup stops */
  private readonly signal: AbortSignal
  /**
   * bounds the dials themselves, which winning does not abort: a dial that connected on the other side
   * and is aborted in its last handshake steps resets a connection the other side may be using already
   */
  private readonly dialSignal: AbortSignal
  private readonly timers: Array<ReturnType<typeof setTimeout>> = []
  private readonly tried = new Set<string>()
  readonly trace: ReachTrace = { startedAt: Date.now(), outcome: 'running', steps: [] }
  private readonly errors: string[] = []
  private readonly webrtc: Multiaddr[] = []
  private pending = 0
  private found = 0
  private winner?: Connection
  private resolve!: (c: Connection) => void
  private reject!: (err: Error) => void

  /** `shutdown`: the node stops (a WebRTC upgrade waiting its turn is then not made) */
  constructor (private readonly libp2p: ReachLibp2p, private readonly peer: PeerId, bounds: AbortSignal[], caller: AbortSignal[], private readonly force: boolean, private readonly shutdown?: AbortSignal) {
    this.dialSignal = AbortSignal.any(bounds)
    this.signal = AbortSignal.any([this.controller.signal, ...bounds, ...caller])
  }

  async run (addrs?: Multiaddr[]): Promise<Connection> {
    const result = new Promise<Connection>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // it may settle while the set-up below still awaits the peer store: not an unhandled rejection
    result.catch(() => {})
    const later = (ms: number, fn: () => void): void => { this.timers.push(setTimeout(fn, ms)) }
    this.signal.addEventListener('abort', () => { this.settle() }, { once: true })
    this.pending++ // the set-up below
    try {
      const stored = await this.stored()
      const known = (addrs != null && addrs.length > 0) ? addrs : stored.addresses
      const last = stored.last
      this.step('known', known.length > 0, known.length > 0 ? `${known.length} address${known.length === 1 ? '' : 'es'} known` : 'no address known')
      let delay = 0
      if (last != null && !this.signal.aborted) {
        this.dial([last])
        delay = LAST_ADDRESS_HEAD_START_MS
      }
      if (known.length > 0) later(delay, () => { this.dial(known) })
      this.pending++ // the lookup
      later(known.length > 0 || last != null ? delay + LOOKUP_DELAY_MS : 0, () => { void this.lookup() })
    } catch (err: any) {
      this.errors.push(err.name)
    } finally {
      this.pending--
    }
    this.settle()
    try {
      return await result
    } finally {
      for (const t of this.timers) clearTimeout(t)
    }
  }

  /** What the peer store knows of the peer: its addresses, and the one that worked last. */
  private async stored (): Promise<{ addresses: Multiaddr[], last?: Multiaddr }> {
    try {
      const peer = await this.libp2p.peerStore.get(this.peer)
      const last = peer.metadata.get(LAST_ADDRESS_KEY)
      return { addresses: peer.addresses.map(a => a.multiaddr), last: last != null ? multiaddr(new TextDecoder().decode(last)) : undefined }
    } catch {
      return { addresses: [] }
    }
  }

  /**
   * Looks the peer up, and again every LOOKUP_RETRY_MS for LOOKUP_PATIENCE_MS while no connection came of
   * it: a contact who has just come online (or reloaded its tab) is known to the bootstrap node a moment
   * after it connected, and its relay address a moment after its reservation; until then the answer is
   * "not found", or only addresses behind its router.
   */
  private async lookup (): Promise<void> {
    const until = Date.now() + LOOKUP_PATIENCE_MS
    try {
      while (this.winner == null && !this.signal.aborted) {
        try {
          // asked of the network every time: the DHT would answer from the peer store, with the addresses
          // the race dials anyway (a contact's relay address, learnt later, was never found that way)
          const info = await this.libp2p.peerRouting.findPeer(this.peer, { signal: this.signal, useCache: false })
          this.step('lookup', true, `found ${info.multiaddrs.length} address${info.multiaddrs.length === 1 ? '' : 'es'}`)
          this.dial(info.multiaddrs)
        } catch (err: any) {
          if (!this.signal.aborted) {
            log('lookup of %p failed: %s', this.peer, err.name)
            this.step('lookup', false, err.name === 'NotFoundError' ? 'not found in the DHT' : `failed: ${err.message ?? err.name}`)
          }
        }
        if (Date.now() + LOOKUP_RETRY_MS > until) return
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, LOOKUP_RETRY_MS)
          this.timers.push(timer)
          this.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
        })
      }
    } finally {
      this.pending--
      this.settle()
    }
  }

  /** Starts dials to addresses not tried yet: the plain ones staggered, each on its own, the relayed ones together. */
  private dial (addrs: Multiaddr[]): void {
    if (this.winner != null || this.signal.aborted) return
    const id = this.peer.toString()
    const relayed: Multiaddr[] = []
    const plain: Multiaddr[] = []
    for (const addr of addrs) {
      const key = addr.toString()
      if (this.tried.has(key)) continue
      this.tried.add(key)
      this.found++
      if (WebRTC.matches(addr)) this.webrtc.push(withPeer(addr, id))
      else if (addr.getComponents().some(c => c.name === 'p2p-circuit')) relayed.push(withPeer(addr, id))
      else plain.push(withoutPeer(addr, id))
    }
    if (relayed.length > 0) this.attempt(this.libp2p.dial(relayed, { signal: this.dialSignal, force: this.force }), relayed.join(' '))
    if (plain.length > 0) this.stagger(plain)
  }

  /**
   * Dials the addresses one after another: the next DIAL_STAGGER_MS after the last, or as soon as it failed.
   *
   * When libp2p is dialling the peer already (a DHT query asks the peer it just found, a protocol dials it
   * by peer ID), the queue joins that dial instead: libp2p aborts the later of two connections to the same
   * address as a duplicate ("Duplicate multiaddr connection") the moment it comes up, while the other side
   * may already have opened a stream on it (a call's offer was lost that way). The last test in
   * test/reach.spec.ts pins it.
   */
  private stagger (queue: Multiaddr[]): void {
    this.pending++ // the queue, until its last dial has started
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.pending--
      this.settle()
    }
    const next = (): void => {
      if (this.winner != null || this.signal.aborted || queue.length === 0) {
        release()
      } else if (this.libp2p.getDialQueue().some(d => d.peerId?.equals(this.peer) === true)) {
        queue.length = 0
        this.attempt(this.libp2p.dial(this.peer, { signal: this.dialSignal }), 'by peer ID (joining the dial under way)')
        release()
      } else {
        const timer = setTimeout(next, DIAL_STAGGER_MS)
        this.timers.push(timer)
        const addr = queue.shift() as Multiaddr
        this.attempt(this.libp2p.dial(addr, { signal: this.dialSignal }), addr.toString(), () => {
          clearTimeout(timer)
          next()
        })
        if (queue.length === 0) release()
      }
    }
    next()
  }

  private attempt (dial: Promise<Connection>, addr: string, failed?: () => void): void {
    this.pending++
    dial.then(async (connection) => {
      if (!connection.remotePeer.equals(this.peer)) {
        await connection.close().catch(() => {})
        throw new PeerUnreachableError('another peer answered at that address')
      }
      this.step('dial', true, connection.direct ? 'connected directly' : connection.limits != null ? 'connected through a relay' : 'connected', addr)
      this.won(connection)
    }).catch((err: any) => {
      this.errors.push(err.name ?? 'Error')
      this.step('dial', false, dialFailure(err), addr)
      failed?.()
    }).finally(() => {
      this.pending--
      this.settle()
    })
  }

  /**
   * The first connection wins. One that connects after the race was decided is left open: the other side
   * may have opened a stream on it already (closing it lost a call's offer), and libp2p's connection
   * manager prunes extra connections when there are too many.
   */
  private won (connection: Connection): void {
    if (this.winner != null || this.signal.aborted) return
    this.winner = connection
    this.ended('connected', connection.remoteAddr.toString())
    this.controller.abort()
    this.remember(connection)
    this.upgrade(connection)
    this.resolve(connection)
  }

  private remember (connection: Connection): void {
    this.libp2p.peerStore.merge(this.peer, {
      metadata: { [LAST_ADDRESS_KEY]: new TextEncoder().encode(connection.remoteAddr.toString()) }
    }).catch((err: any) => { log('could not remember the address of %p: %s', this.peer, err.name) })
  }

  /** A relayed connection is upgraded to a direct WebRTC one in the background when the peer offers it. */
  private upgrade (connection: Connection): void {
    if (connection.limits == null || this.webrtc.length === 0) return
    const webrtc = [...this.webrtc]
    const go = (yielded: boolean): void => {
      if (!upgradeWanted(this.libp2p.getConnections(this.peer), yielded)) {
        log('no WebRTC upgrade to %p: there is one, or they make it', this.peer)
        return
      }
      this.libp2p.dial(webrtc, { force: true, signal: AbortSignal.timeout(30_000) })
        .then(() => { log('upgraded %p to a direct WebRTC connection', this.peer) })
        .catch((err: any) => { log('no direct WebRTC connection to %p: %s', this.peer, err.name) })
    }
    if (upgradeTurn(this.libp2p.peerId, this.peer) === 'now') {
      go(false)
      return
    }
    const timer = setTimeout(() => { go(true) }, UPGRADE_YIELD_MS)
    timer.unref?.()
    this.shutdown?.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
  }

  /** Rejects once nothing is left running and nothing won. */
  private settle (): void {
    if (this.winner != null) return
    if (this.pending > 0 && !this.signal.aborted) return
    if (this.signal.aborted && this.controller.signal.aborted) return
    if (this.pending === 0 && this.webrtc.length > 0 && !this.signal.aborted) {
      // nothing but WebRTC was left to try: then that is the way
      const webrtc = this.webrtc.splice(0)
      this.attempt(this.libp2p.dial(webrtc, { signal: this.dialSignal, force: this.force }), webrtc.join(' '))
      return
    }
    const what = this.errors.length > 0 ? ` (${[...new Set(this.errors)].join(', ')})` : ''
    this.ended(this.found === 0 ? 'not found' : 'unreachable')
    if (this.found === 0) {
      this.reject(new PeerNotFoundError(`${this.peer} was not found${this.signal.aborted ? ' in time' : ''}: no address is known and the DHT had none`))
    } else {
      this.reject(new PeerUnreachableError(`${this.peer} was found but could not be dialled${this.signal.aborted ? ' in time' : ''}${what}`))
    }
    this.controller.abort()
  }

  private step (what: ReachStep['what'], ok: boolean, detail: string, addr?: string): void {
    if (this.trace.steps.length >= MAX_STEPS) return
    this.trace.steps.push({ at: Date.now() - this.trace.startedAt, what, ok, detail, ...(addr != null ? { addr } : {}) })
  }

  private ended (outcome: ReachTrace['outcome'], via?: string): void {
    this.trace.outcome = outcome
    this.trace.tookMs = Date.now() - this.trace.startedAt
    if (via != null) this.trace.via = via
  }
}

/** Why a dial failed, in a few words a person can act on (an AggregateError: each of its reasons, once). */
export function dialFailure (err: any): string {
  if (Array.isArray(err?.errors) && err.errors.length > 0) return [...new Set(err.errors.map(dialFailure))].join('; ')
  const text = `${String(err?.name)} ${String(err?.message)}`
  if (/ECONNREFUSED/.test(text)) return 'refused: nothing listens there (offline?)'
  if (/NO_RESERVATION|no reservation/i.test(text)) return 'the relay holds no reservation for them (offline, or on another relay)'
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return 'no route to that address'
  if (/timed? ?out|TimeoutError|AbortError/i.test(text)) return 'no answer in time (a firewall or NAT drops it?)'
  if (/another peer answered/.test(text)) return 'another peer answered at that address'
  if (/NoValidAddresses/.test(text)) return 'none of these addresses can be dialled from here'
  if (/gater|denied/i.test(text)) return 'not dialled: a private address of another network, or blocked'
  return `${String(err?.name ?? 'Error')}: ${String(err?.message ?? '').slice(0, 120)}`
}

function withPeer (addr: Multiaddr, id: string): Multiaddr {
  return addr.getComponents().some(c => c.name === 'p2p' && c.value === id) ? addr : addr.encapsulate(`/p2p/${id}`)
}

function withoutPeer (addr: Multiaddr, id: string): Multiaddr {
  const components = addr.getComponents()
  const last = components.at(-1)
  return last?.name === 'p2p' && last.value === id ? multiaddr(components.slice(0, -1)) : addr
}
