/**
 * The dial policy: how every feature gets a connection, and a stream, to a peer.
 *
 * Nothing waits on one address or one connection at a time. `connect()` races what can work: the address
 * that worked last time, the addresses the peer store knows, and a DHT lookup, and takes the first connection
 * that comes up (a dial that connects later is kept too, never cut off mid-handshake). Plain addresses start
 * DIAL_STAGGER_MS apart, so a remote peer's private LAN address, a dropped SYN or a stale record costs a
 * quarter second at most, and nothing while a relay address answers in a round trip.
 *
 * libp2p dials one peer's addresses one after another (each up to its address timeout) and joins every
 * dial to the same peer ID into that one queue entry. So the race dials each plain address (TCP, WebSocket)
 * on its own *without* the peer ID, which libp2p runs side by side, and checks the peer that answered (Noise
 * authenticates it) before using the connection; relay addresses, which must name the peer, go together in
 * one dial by peer ID. WebRTC addresses are left for a background upgrade once a relayed connection is up, so a
 * message never waits on ICE.
 *
 * `openStream()` opens a protocol stream on the best open connection (direct first), and when it has not
 * opened within a moment also on the next one (or a fresh dial): a connection that counts as open but cannot
 * carry a stream (a WebRTC connection whose data channels never opened) does not hold anything back, and is
 * marked suspect so that the next stream avoids it.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { raceSignal } from 'race-signal'
import { FIND_TIMEOUT_MS } from '../constants.js'
import { PeerNotFoundError, PeerUnreachableError } from '../errors.js'
import type { AbortOptions, Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
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
/** A stream not open on one connection after this long is also tried on the next one. */
export const STREAM_STAGGER_MS = 500
/** How long one stream may take to open on one connection. */
export const STREAM_OPEN_TIMEOUT_MS = 5_000
/** Most connections one openStream() tries. */
export const MAX_STREAM_ATTEMPTS = 4
/** A connection that failed to carry a stream is avoided for this long. */
export const SUSPECT_MS = 60_000
/** Peer store metadata key of the address that last worked. */
export const LAST_ADDRESS_KEY = 'megachat/last-address'

export type ReachLibp2p = Pick<Libp2p, 'getConnections' | 'dial' | 'getDialQueue' | 'peerStore' | 'peerRouting'>

export interface ReachInit {
  /** per-attempt bound of connect() (ms) */
  findTimeout?: number
  /** aborts everything on shutdown */
  signal?: AbortSignal
}

export interface ConnectOptions extends AbortOptions {
  /** addresses to try in place of the peer store's (say, from a DHT provider record) */
  addrs?: Multiaddr[]
  /** connections not to return (they failed to carry a stream): a fresh one is dialled instead */
  exclude?: Set<Connection>
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

/** Peers whose last trace is kept. */
const MAX_TRACES = 256
/** Steps kept per trace. */
const MAX_STEPS = 64

export interface OpenedStream {
  stream: Stream
  connection: Connection
}

/** Connections in the order streams are tried: direct, then unlimited, then relayed; suspects last. */
export function rankConnections (connections: Connection[], isSuspect: (c: Connection) => boolean = () => false): Connection[] {
  const rank = (c: Connection): number => (isSuspect(c) ? 10 : 0) + (c.direct ? 0 : c.limits == null ? 1 : 2)
  return connections.filter(c => c.status === 'open').sort((a, b) => rank(a) - rank(b))
}

export class Reach {
  private readonly libp2p: ReachLibp2p
  private readonly init: ReachInit
  private readonly suspects = new WeakMap<Connection, number>()
  /** connect() calls under way per peer: a second caller joins the first (one connection, not two) */
  private readonly racing = new Map<string, Promise<Connection>>()
  /** the last race per peer, oldest first */
  private readonly traces = new Map<string, ReachTrace>()

  constructor (libp2p: ReachLibp2p, init: ReachInit = {}) {
    this.libp2p = libp2p
    this.init = init
  }

  /** Marks a connection that failed to carry a stream: streams avoid it for a while. */
  suspect (connection: Connection): void {
    this.suspects.set(connection, Date.now() + SUSPECT_MS)
  }

  private isSuspect (connection: Connection): boolean {
    return (this.suspects.get(connection) ?? 0) > Date.now()
  }

  /** How the last attempt to connect to the peer went (one that had to dial), if there was one lately. */
  lastTrace (peer: PeerId): ReachTrace | undefined {
    const trace = this.traces.get(peer.toString())
    return trace == null ? undefined : { ...trace, steps: [...trace.steps] }
  }

  /** The best open connection to the peer, if any (suspects only when there is nothing else). */
  openConnection (peer: PeerId, exclude?: Set<Connection>): Connection | undefined {
    return rankConnections(this.libp2p.getConnections(peer), c => this.isSuspect(c)).find(c => exclude?.has(c) !== true)
  }

  /**
   * A connection to the peer: an open one, or the first to come up of the dials raced from the last
   * working address, the known addresses and a DHT lookup. Rejects with PeerNotFoundError when nobody
   * knew an address for the peer, PeerUnreachableError when addresses were found but none answered.
   */
  async connect (peer: PeerId, options: ConnectOptions = {}): Promise<Connection> {
    const open = this.openConnection(peer, options.exclude)
    if (open != null) return open
    const key = peer.toString()
    // a caller with addresses of its own (a DHT provider record) races them itself; one that wants a
    // fresh connection (exclude) dials anew
    const fresh = options.exclude != null && options.exclude.size > 0
    const joinable = !fresh && (options.addrs == null || options.addrs.length === 0)
    const running = joinable ? this.racing.get(key) : undefined
    if (running != null) return await raceSignal(running, options.signal)
    const race = new DialRace(this.libp2p, peer, [
      AbortSignal.timeout(this.init.findTimeout ?? FIND_TIMEOUT_MS),
      ...(this.init.signal != null ? [this.init.signal] : [])
    ], options.signal != null ? [options.signal] : [], fresh)
    this.traces.delete(key)
    this.traces.set(key, race.trace)
    if (this.traces.size > MAX_TRACES) this.traces.delete(this.traces.keys().next().value as string)
    const result = race.run(options.addrs)
    if (joinable) {
      this.racing.set(key, result)
      result.catch(() => {}).finally(() => { if (this.racing.get(key) === result) this.racing.delete(key) })
    }
    return await result
  }

  /**
   * Opens a protocol stream to the peer on the best connection; when it has not opened within
   * STREAM_STAGGER_MS, also on the next connection (or a fresh dial), and takes the first that opens.
   */
  async openStream (peer: PeerId, protocol: string, options: AbortOptions = {}): Promise<OpenedStream> {
    const signals = [...(this.init.signal != null ? [this.init.signal] : []), ...(options.signal != null ? [options.signal] : [])]
    const done = new AbortController()
    const tried = new Set<Connection>()
    const errors: Error[] = []
    return await new Promise<OpenedStream>((resolve, reject) => {
      let running = 0
      let attempts = 0
      let finished = false
      let timer: ReturnType<typeof setTimeout> | undefined
      /** connections a stream is being opened on */
      const opening = new Set<Connection>()
      const finish = (err?: Error, result?: OpenedStream): void => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        // a connection another one overtook did not carry a stream in time: the next stream avoids it
        for (const c of opening) if (c !== result?.connection) this.suspect(c)
        done.abort()
        if (result != null) resolve(result)
        else reject(err)
      }
      const next = (): void => {
        clearTimeout(timer)
        if (finished) return
        if (signals.some(s => s.aborted) || attempts >= MAX_STREAM_ATTEMPTS) {
          if (running === 0) finish(errors.at(-1) ?? new PeerUnreachableError(`no stream to ${peer} in time`))
          return
        }
        attempts++
        running++
        const attempt = this.connect(peer, { signal: AbortSignal.any([done.signal, ...signals]), exclude: tried })
          .then(async (connection) => {
            tried.add(connection)
            opening.add(connection)
            const signal = AbortSignal.any([done.signal, AbortSignal.timeout(STREAM_OPEN_TIMEOUT_MS), ...signals])
            try {
              const stream = await connection.newStream(protocol, { signal, runOnLimitedConnection: true })
              opening.delete(connection)
              if (finished) {
                stream.abort(new Error('another connection was quicker'))
                return
              }
              finish(undefined, { stream, connection })
            } catch (err: any) {
              opening.delete(connection)
              if (!done.signal.aborted) {
                log('no %s stream on a connection to %p (%s): %s', protocol, peer, connection.direct ? 'direct' : 'relayed', err.name)
                this.suspect(connection)
              }
              throw err
            }
          })
        attempt.catch((err: Error) => {
          errors.push(err)
        }).finally(() => {
          running--
          // a failed attempt starts the next one at once, unless it was a dial that found nothing new
          if (!finished && running === 0) {
            const last = errors.at(-1)
            if (last != null && [PeerNotFoundError.name, PeerUnreachableError.name, 'UnsupportedProtocolError'].includes(last.name)) finish(last)
            else next()
          }
        })
        timer = setTimeout(next, STREAM_STAGGER_MS)
      }
      next()
    })
  }
}

/** One connect(): the dials and the lookup raced for a peer, the first connection wins. */
class DialRace {
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

  constructor (private readonly libp2p: ReachLibp2p, private readonly peer: PeerId, bounds: AbortSignal[], caller: AbortSignal[], private readonly force: boolean) {
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
    this.libp2p.dial(this.webrtc, { force: true, signal: AbortSignal.timeout(30_000) })
      .then(() => { log('upgraded %p to a direct WebRTC connection', this.peer) })
      .catch((err: any) => { log('no direct WebRTC connection to %p: %s', this.peer, err.name) })
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
