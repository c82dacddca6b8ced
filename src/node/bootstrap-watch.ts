/**
 * Keeps the configured bootstrap nodes connected, and says which are not and why. Without one, a
 * client finds nobody (no DHT, no relay): that must be said, not look like every contact being offline.
 *
 * At start it dials each bootstrap node that is not connected yet. @libp2p/bootstrap dials the same
 * list once at start; libp2p's dial queue joins two dials to one peer, so this is one attempt whose
 * outcome is seen here. A failed dial is retried after 1 s, doubling up to 60 s (each delay ±25 %, so
 * that clients cut off together do not all come back at once); a connection, whoever made it, resets
 * that. A lost connection is redialled the same way. Every change is a 'change' event with that node's
 * status; status() gives all of them.
 *
 * @example
 * ```ts
 * const watch = new BootstrapWatch(libp2p, ['/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…'])
 * watch.addEventListener('change', (evt) => { console.info(evt.detail.connected, evt.detail.lastError) })
 * watch.start()   // after libp2p.start()
 * ```
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { AbortOptions, Connection, Libp2pEvents, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('megachat:bootstrap')

/** The first retry after a failed dial (ms); each further failure doubles it. */
export const BOOTSTRAP_RETRY_MIN_MS = 1000
/** The longest wait between two dials of a bootstrap node (ms). */
export const BOOTSTRAP_RETRY_MAX_MS = 60_000
/** One dial of a bootstrap node gives up after this (ms); libp2p caps each address at 6 s within it. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

export interface BootstrapNodeStatus {
  /** the address as configured (the first one, for a node configured under several) */
  address: string
  /** undefined when the address names no peer (it is never dialled) */
  peerId?: string
  connected: boolean
  /** why the last dial failed, in a few words ('connection refused', 'timed out', 'wrong peer id …'); none once connected */
  lastError?: string
  /** when the next dial is due (ms since the epoch); none while connected or dialling */
  nextRetryAt?: number
}

export interface BootstrapWatchEvents {
  /** a bootstrap node connected, was lost, or a dial of it failed (its new status) */
  change: CustomEvent<BootstrapNodeStatus>
}

/** What the watch uses of the libp2p node. */
export interface BootstrapWatchComponents extends Pick<TypedEventTarget<Libp2pEvents>, 'addEventListener' | 'removeEventListener'> {
  dial(addrs: Multiaddr[], options?: AbortOptions): Promise<Connection>
  getConnections(peer?: PeerId): Connection[]
}

export interface BootstrapWatchInit {
  /** default {@link BOOTSTRAP_RETRY_MIN_MS} */
  retryMin?: number
  /** default {@link BOOTSTRAP_RETRY_MAX_MS} */
  retryMax?: number
  /** default {@link BOOTSTRAP_DIAL_TIMEOUT_MS} */
  dialTimeout?: number
  /** the jitter's source, 0 to 1 (tests pin it); default Math.random */
  random?: () => number
  /** the clock nextRetryAt is read on (tests pin it); default Date.now */
  now?: () => number
}

interface Watched {
  address: string
  addrs: Multiaddr[]
  peerId?: PeerId
  connected: boolean
  lastError?: string
  nextRetryAt?: number
  /** failed dials since the last connection */
  failures: number
  timer?: ReturnType<typeof setTimeout>
  dialling: boolean
}

export class BootstrapWatch extends TypedEventEmitter<BootstrapWatchEvents> {
  private readonly nodes: Watched[] = []
  private readonly retryMin: number
  private readonly retryMax: number
  private readonly dialTimeout: number
  private readonly random: () => number
  private readonly now: () => number
  private shutdown?: AbortController

  constructor (private readonly components: BootstrapWatchComponents, addresses: string[], init: BootstrapWatchInit = {}) {
    super()
    this.retryMin = init.retryMin ?? BOOTSTRAP_RETRY_MIN_MS
    this.retryMax = init.retryMax ?? BOOTSTRAP_RETRY_MAX_MS
    this.dialTimeout = init.dialTimeout ?? BOOTSTRAP_DIAL_TIMEOUT_MS
    this.random = init.random ?? Math.random
    this.now = init.now ?? Date.now
    const byPeer = new Map<string, Watched>()
    for (const address of addresses) {
      let ma: Multiaddr
      try {
        ma = multiaddr(address)
      } catch {
        this.nodes.push({ address, addrs: [], connected: false, lastError: 'not a valid address', failures: 0, dialling: false })
        continue
      }
      const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
      let peerId: PeerId | undefined
      try {
        peerId = id != null ? peerIdFromString(id) : undefined
      } catch {}
      if (peerId == null) {
        this.nodes.push({ address, addrs: [], connected: false, lastError: `no valid /p2p/<peer id> at the end of the address`, failures: 0, dialling: false })
        continue
      }
      const same = byPeer.get(peerId.toString())
      if (same != null) {
        same.addrs.push(ma)
        continue
      }
      const node: Watched = { address, addrs: [ma], peerId, connected: false, failures: 0, dialling: false }
      byPeer.set(peerId.toString(), node)
      this.nodes.push(node)
    }
  }

  /** Starts watching (after libp2p has started): dials every bootstrap node not connected yet. */
  start (): void {
    if (this.shutdown != null) return
    this.shutdown = new AbortController()
    this.components.addEventListener('peer:connect', this.onConnect)
    this.components.addEventListener('peer:disconnect', this.onDisconnect)
    for (const node of this.nodes) {
      if (node.peerId == null) continue
      if (this.components.getConnections(node.peerId).length > 0) this.connected(node)
      else this.dial(node)
    }
  }

  stop (): void {
    this.shutdown?.abort()
    this.components.removeEventListener('peer:connect', this.onConnect)
    this.components.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const node of this.nodes) clearTimeout(node.timer)
  }

  /** Every configured bootstrap node, in the order configured. */
  status (): BootstrapNodeStatus[] {
    return this.nodes.map(n => this.snapshot(n))
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const node = this.find(evt.detail)
    if (node != null) this.connected(node)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const node = this.find(evt.detail)
    if (node == null || !node.connected) return
    log('lost bootstrap node %p; redialling', node.peerId)
    node.connected = false
    node.failures = 0
    this.schedule(node)
  }

  private find (peer: PeerId): Watched | undefined {
    return this.nodes.find(n => n.peerId?.equals(peer) === true)
  }

  private connected (node: Watched): void {
    if (node.connected) return
    clearTimeout(node.timer)
    node.connected = true
    node.failures = 0
    node.lastError = undefined
    node.nextRetryAt = undefined
    this.changed(node)
  }

  private dial (node: Watched): void {
    const shutdown = this.shutdown?.signal
    if (shutdown == null || shutdown.aborted || node.dialling || node.connected || node.peerId == null) return
    node.dialling = true
    node.nextRetryAt = undefined
    const peer = node.peerId
    this.components.dial(node.addrs, { signal: AbortSignal.any([AbortSignal.timeout(this.dialTimeout), shutdown]) })
      .then(() => {
        node.dialling = false
        this.connected(node)
      }, (err: any) => {
        node.dialling = false
        if (shutdown.aborted) return
        // connected meanwhile some other way (their dial to us, or a dial that did not join ours)
        if (this.components.getConnections(peer).length > 0) {
          this.connected(node)
          return
        }
        node.failures++
        node.lastError = dialErrorReason(err)
        log('bootstrap node %p not reachable (%s), %d failed dials', peer, node.lastError, node.failures)
        this.schedule(node)
      })
  }

  /** The next dial after 1, 2, 4 … up to 60 s (per failure since the last connection), each ±25 %. */
  private schedule (node: Watched): void {
    clearTimeout(node.timer)
    const base = Math.min(this.retryMin * 2 ** Math.max(0, node.failures - 1), this.retryMax)
    const delay = Math.round(base * (0.75 + 0.5 * this.random()))
    node.nextRetryAt = this.now() + delay
    node.timer = setTimeout(() => { this.dial(node) }, delay)
    node.timer.unref?.()
    this.changed(node)
  }

  private changed (node: Watched): void {
    this.safeDispatchEvent('change', { detail: this.snapshot(node) })
  }

  private snapshot (node: Watched): BootstrapNodeStatus {
    return {
      address: node.address,
      ...(node.peerId != null ? { peerId: node.peerId.toString() } : {}),
      connected: node.connected,
      ...(node.lastError != null ? { lastError: node.lastError } : {}),
      ...(node.nextRetryAt != null && !node.dialling ? { nextRetryAt: node.nextRetryAt } : {})
    }
  }
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not found',
  EADDRNOTAVAIL: 'address not available'
}

/**
 * Why a dial failed, in a few words for a person. Reads what libp2p 3 throws: socket errors by
 * code, aborts and timeouts by name, and Noise's "identity key … does not match" inside an
 * EncryptionFailedError (the node at that address has another peer ID). test/bootstrap-watch.spec.ts
 * pins these against real dials.
 */
export function dialErrorReason (err: unknown): string {
  const e = err as { name?: string, code?: string, message?: unknown, errors?: unknown[] } | undefined
  if (e == null || typeof e !== 'object') return 'failed'
  // several addresses: each different reason once
  if (Array.isArray(e.errors) && e.errors.length > 0) return [...new Set(e.errors.map(dialErrorReason))].join('; ')
  const message = typeof e.message === 'string' ? e.message : ''
  if (e.code != null && SOCKET_ERRORS[e.code] != null) return SOCKET_ERRORS[e.code]
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || /aborted|timed? ?out/i.test(message)) {
    return e.name === 'EncryptionFailedError' ? 'timed out (no libp2p handshake)' : 'timed out'
  }
  const other = /^Payload identity key (\S+) does not match/.exec(message)
  if (other != null) return `wrong peer id: the node there is ${other[1]}`
  if (e.name === 'EncryptionFailedError') return 'not a libp2p node (handshake failed)'
  if (e.name === 'NoValidAddressesError') return 'no transport for this address here'
  if (e.name === 'DialDeniedError') return 'dial not allowed'
  // a WebSocket's ErrorEvent: browsers do not say why
  if (message === '' && (e as { type?: string }).type === 'error') return 'connection failed'
  const line = message.split('\n')[0].trim()
  if (line === '') return e.name ?? 'failed'
  return line.length > 80 ? `${line.slice(0, 79)}…` : line
}
