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
import { raceSignal } from 'race-signal'
import { FIND_TIMEOUT_MS } from '../constants.js'
import { PeerNotFoundError, PeerUnreachableError } from '../errors.js'
import type { AbortOptions, Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DialRace } from './dial-race.js'
import type { ReachLibp2p, ReachTrace } from './dial-race.js'

const log = logger('megachat:reach')

export { DIAL_STAGGER_MS, LAST_ADDRESS_HEAD_START_MS, LAST_ADDRESS_KEY, LOOKUP_DELAY_MS, LOOKUP_PATIENCE_MS, LOOKUP_RETRY_MS, dialFailure } from './dial-race.js'
export type { ReachLibp2p, ReachStep, ReachTrace } from './dial-race.js'

/** A stream not open on one connection after this long is also tried on the next one. */
export const STREAM_STAGGER_MS = 500
/** How long one stream may take to open on one connection. */
export const STREAM_OPEN_TIMEOUT_MS = 5_000
/** Most connections one openStream() tries. */
export const MAX_STREAM_ATTEMPTS = 4
/** A connection that failed to carry a stream is avoided for this long. */
export const SUSPECT_MS = 60_000

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

/** Peers whose last trace is kept. */
const MAX_TRACES = 256

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
    ], options.signal != null ? [options.signal] : [], fresh, this.init.signal)
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

