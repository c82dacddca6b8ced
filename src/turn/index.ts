/**
 * TURN from the bootstrap nodes, client side: `/megachat/turn-credentials/1.0.0`.
 *
 * Behind a symmetric NAT (many mobile carriers and offices) ICE finds no direct path, and a call's
 * media must be relayed by a TURN server. A bootstrap node started with `--turn` runs coturn beside
 * it and hands out short-lived TURN REST credentials (username `<expiry>:<peer id>`, credential
 * base64(HMAC-SHA1(secret, username))) to peers connected to it. This client asks each configured
 * bootstrap node that announces the protocol (identify) once it is connected, asks again when two
 * thirds of the lifetime have gone, and gives the TURN servers it holds to calls beside the STUN
 * servers (Chat.iceServers()). Nothing to configure.
 *
 * Only configured bootstrap nodes are asked: any peer can announce the protocol, and a call's media
 * must not be steered through a stranger's relay. (It would still be DTLS-SRTP, end to end: a TURN
 * server forwards ciphertext; but it would see who calls whom, and when.)
 *
 * The TURN servers are for calls only (RTCPeerConnection), not for libp2p's own WebRTC transport:
 * there, the circuit relay already carries what cannot go direct, within its limits, and libp2p tries
 * a WebRTC upgrade on every relayed connection, which would hold a TURN allocation for each.
 *
 * @example
 * ```ts
 * const turn = new BootstrapTurn(libp2p, (peer) => bootstrapIds.has(peer.toString()))
 * turn.start()                        // before libp2p.start(): it listens for identify
 * new RTCPeerConnection({ iceServers: [...stun, ...turn.iceServers()] })
 * ```
 */
import { logger } from '@libp2p/logger'
import { UnexpectedEOFError } from '@libp2p/utils'
import { MAX_TURN_FRAME_BYTES, TURN_CREDENTIALS_PROTOCOL } from '../constants.js'
import { ProtocolViolationError, TurnRefusedError } from '../errors.js'
import { boundedLpStream, checkFields } from '../node/frames.js'
import { TurnCredentials } from './pb/turn.js'
import type { Shape } from '../node/frames.js'
import type { AbortOptions, Connection, IdentifyResult, Libp2pEvents, PeerId, TypedEventTarget } from '@libp2p/interface'

export { TurnCredentials } from './pb/turn.js'

const log = logger('megachat:turn')

/** Most URLs one answer may hold, and the longest one. */
export const MAX_TURN_URLS = 4
const MAX_URL_CHARS = 256
const MAX_USERNAME_CHARS = 128
const MAX_CREDENTIAL_CHARS = 128
/** How long one request may take (ms). */
const REQUEST_TIMEOUT_MS = 10_000
/** After a failed request, the first retry (ms); each further failure doubles it up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 5_000
const RETRY_MAX_MS = 10 * 60_000
/** Credentials are asked for again once this share of their lifetime has gone. */
const REFRESH_AT = 2 / 3

/** TurnCredentials' fields as turn.proto declares them. */
const TURN_SHAPE: Shape = { 1: 'string', 2: 'string', 3: 'string', 4: 'varint', 5: 'varint' }

/** TURN credentials as a client holds them. */
export interface TurnGrant {
  urls: string[]
  username: string
  credential: string
  /** ms since the epoch, on our clock */
  expiresAt: number
}

/** Encodes one answer (the bootstrap node's side). */
export function encodeTurnCredentials (answer: Partial<TurnCredentials>): Uint8Array {
  return TurnCredentials.encode({ urls: [], username: '', credential: '', ttl: 0, retryAfter: 0, ...answer })
}

/** Decodes and checks one answer; throws ProtocolViolationError for anything malformed. */
export function decodeTurnCredentials (bytes: Uint8Array): TurnCredentials {
  checkFields(bytes, TURN_SHAPE)
  let answer: TurnCredentials
  try {
    answer = TurnCredentials.decode(bytes, { limits: { urls: MAX_TURN_URLS } })
  } catch {
    throw new ProtocolViolationError('undecodable TURN credentials')
  }
  if (answer.urls.some(u => u.length > MAX_URL_CHARS || !/^turns?:[^\s@/]+(\?transport=(udp|tcp))?$/.test(u))) throw new ProtocolViolationError('bad TURN URL')
  if (answer.username.length > MAX_USERNAME_CHARS || answer.credential.length > MAX_CREDENTIAL_CHARS) throw new ProtocolViolationError('TURN credentials too long')
  return answer
}

/**
 * Asks a bootstrap node for TURN credentials on a connection to it. Fails with TurnRefusedError when
 * it refuses (too many requests: `retryAfter` says when to ask again) or gives none.
 */
export async function fetchTurnCredentials (connection: Connection, options: AbortOptions = {}): Promise<TurnGrant> {
  const signal = options.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const stream = await connection.newStream(TURN_CREDENTIALS_PROTOCOL, { signal })
  try {
    const lp = boundedLpStream(stream, MAX_TURN_FRAME_BYTES)
    let bytes: Uint8Array
    try {
      bytes = (await lp.read({ signal })).subarray()
    } catch (err: any) {
      // the node closed the stream without an answer: it refused
      if (err.name === UnexpectedEOFError.name) throw new TurnRefusedError('the bootstrap node gave no TURN credentials')
      throw err
    }
    const answer = decodeTurnCredentials(bytes)
    await stream.close({ signal }).catch(() => {})
    if (answer.retryAfter > 0 || answer.username === '' || answer.credential === '' || answer.urls.length === 0 || answer.ttl === 0) {
      const err = new TurnRefusedError(answer.retryAfter > 0 ? `too many requests: ask again in ${answer.retryAfter} s` : 'the bootstrap node gave no TURN credentials')
      if (answer.retryAfter > 0) err.retryAfter = answer.retryAfter
      throw err
    }
    return { urls: answer.urls, username: answer.username, credential: answer.credential, expiresAt: Date.now() + answer.ttl * 1000 }
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}

/** What BootstrapTurn uses of the libp2p node. */
export interface BootstrapTurnComponents extends Pick<TypedEventTarget<Libp2pEvents>, 'addEventListener' | 'removeEventListener'> {
  getConnections(peer?: PeerId): Connection[]
}

interface Held {
  grant?: TurnGrant
  timer?: ReturnType<typeof setTimeout>
  asking: boolean
  failures: number
}

/**
 * The TURN credentials of the configured bootstrap nodes: asked for when one is connected and
 * announces the protocol, asked for again before they expire, kept until they expire (a TURN server
 * serves on while the libp2p connection to its node is down).
 */
export class BootstrapTurn {
  private readonly held = new Map<string, Held>()
  private stopped = false

  constructor (private readonly libp2p: BootstrapTurnComponents, private readonly isBootstrap: (peer: PeerId) => boolean) {}

  start (): void {
    this.libp2p.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.stopped = true
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    for (const h of this.held.values()) clearTimeout(h.timer)
    this.held.clear()
  }

  /** The TURN servers whose credentials have not expired, one entry per bootstrap node. */
  iceServers (): RTCIceServer[] {
    const now = Date.now()
    const out: RTCIceServer[] = []
    for (const { grant } of this.held.values()) {
      if (grant != null && grant.expiresAt > now) out.push({ urls: grant.urls, username: grant.username, credential: grant.credential })
    }
    return out
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols } = evt.detail
    if (!protocols.includes(TURN_CREDENTIALS_PROTOCOL) || !this.isBootstrap(peerId)) return
    const held = this.held.get(peerId.toString())
    // fresh enough already (identify runs again on every new connection and on identify-push)
    if (held?.grant != null && held.timer != null && !held.asking) return
    void this.ask(peerId)
  }

  private async ask (peer: PeerId): Promise<void> {
    const key = peer.toString()
    const held = this.held.get(key) ?? { asking: false, failures: 0 }
    this.held.set(key, held)
    if (held.asking || this.stopped) return
    clearTimeout(held.timer)
    held.timer = undefined
    const connection = this.libp2p.getConnections(peer).find(c => c.status === 'open' && c.limits == null)
    if (connection == null) return // asked again at the next identify, when it is back
    held.asking = true
    let delay: number
    try {
      const grant = await fetchTurnCredentials(connection)
      held.grant = grant
      held.failures = 0
      delay = (grant.expiresAt - Date.now()) * REFRESH_AT
      log('TURN credentials from %p for %d s: %s', peer, Math.round((grant.expiresAt - Date.now()) / 1000), grant.urls.join(' '))
    } catch (err: any) {
      held.failures++
      const backoff = Math.min(RETRY_MIN_MS * 2 ** (held.failures - 1), RETRY_MAX_MS)
      delay = Math.max(backoff, (err.retryAfter ?? 0) * 1000)
      log('no TURN credentials from %p (%s): again in %d s', peer, err.message, Math.round(delay / 1000))
    } finally {
      held.asking = false
    }
    if (this.stopped) return
    // ±25 %, so that clients that met the node together do not all come back together
    held.timer = setTimeout(() => { void this.ask(peer) }, delay * (0.75 + Math.random() * 0.5))
    held.timer.unref?.()
  }
}
