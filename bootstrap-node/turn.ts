/**
 * The bootstrap node's side of `/megachat/turn-credentials/1.0.0`: TURN REST credentials for its coturn
 * (coturn.ts), handed to connected peers.
 *
 * A peer opens a stream and the node writes one TurnCredentials frame and closes it: the TURN URLs
 * (UDP and TCP), username `<expiry unix seconds>:<peer id>` and credential
 * base64(HMAC-SHA1(secret, username)), which coturn checks with `use-auth-secret`, and the seconds
 * they last. The expiry is rounded up to the next five minutes, so that a peer asking again soon gets
 * the same username, and coturn's per-username allocation quota holds across its requests.
 *
 * Only peers on a direct (unlimited) connection are served: the handler does not run on relayed
 * connections. Each peer may ask {@link TURN_REQUESTS_PER_MINUTE} times a minute; beyond that it gets a
 * frame with `retryAfter` and no credentials. The secret and credentials are never logged.
 */
import { createHmac } from 'node:crypto'
import { RateLimiter } from '@libp2p/utils'
import { MAX_TURN_FRAME_BYTES, TURN_CREDENTIALS_PROTOCOL, TURN_CREDENTIALS_TTL_S } from '../src/constants.js'
import { boundedLpStream } from '../src/node/frames.js'
import { encodeTurnCredentials } from '../src/turn/index.js'
import type { ComponentLogger, Connection, Logger, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'

/** Requests one peer may make per minute. */
export const TURN_REQUESTS_PER_MINUTE = 6
/** Streams one connection may hold open on the protocol. */
const MAX_INBOUND_STREAMS = 2
const WRITE_TIMEOUT_MS = 5000
/** Expiries are rounded up to this many seconds. */
const EXPIRY_STEP_S = 300

export interface TurnCredentialsInit {
  /** coturn's static-auth-secret */
  secret: string
  /** the TURN URLs to give (turn:host:port?transport=udp, …); asked once the node has started */
  urls(): string[]
  /** seconds the credentials last at least; default {@link TURN_CREDENTIALS_TTL_S} */
  ttl?: number
  /** requests one peer may make per minute; default {@link TURN_REQUESTS_PER_MINUTE} */
  perMinute?: number
}

export interface TurnCredentialsComponents {
  registrar: Registrar
  logger: ComponentLogger
}

export interface TurnCredentialsStats {
  /** credentials handed out */
  issued: number
  /** requests refused for the rate limit */
  refused: number
  /** streams that failed (the peer went, a write timed out) */
  failed: number
}

export interface TurnCredentialsService {
  readonly stats: Readonly<TurnCredentialsStats>
}

/**
 * TURN REST credentials for `user` (a peer ID) valid until `expiry` (unix seconds), as coturn's
 * use-auth-secret checks them: username `<expiry>:<user>`, credential base64(HMAC-SHA1(secret, username)).
 */
export function turnRestCredentials (secret: string, user: string, expiry: number): { username: string, credential: string } {
  const username = `${expiry}:${user}`
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') }
}

class DefaultTurnCredentials implements TurnCredentialsService, Startable {
  readonly stats: TurnCredentialsStats = { issued: 0, refused: 0, failed: 0 }
  private readonly components: TurnCredentialsComponents
  private readonly init: TurnCredentialsInit
  private readonly limiter: RateLimiter
  private readonly log: Logger

  readonly [Symbol.toStringTag] = 'megachat/turn-credentials'

  constructor (components: TurnCredentialsComponents, init: TurnCredentialsInit) {
    this.components = components
    this.init = init
    this.limiter = new RateLimiter({ points: init.perMinute ?? TURN_REQUESTS_PER_MINUTE, duration: 60, keyPrefix: '' })
    this.log = components.logger.forComponent('megachat:bootstrap:turn')
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(TURN_CREDENTIALS_PROTOCOL, (stream, connection) => {
      void this.answer(stream, connection)
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, runOnLimitedConnection: false })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(TURN_CREDENTIALS_PROTOCOL)
  }

  private async answer (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(WRITE_TIMEOUT_MS)
    try {
      const lp = boundedLpStream(stream, MAX_TURN_FRAME_BYTES)
      let retryAfter = 0
      try {
        this.limiter.consume(peer)
      } catch (err: any) {
        retryAfter = Math.max(1, Math.ceil((err.msBeforeNext ?? 60_000) / 1000))
      }
      if (retryAfter > 0) {
        this.stats.refused++
        this.log('refused TURN credentials to %p: over %d a minute', connection.remotePeer, this.init.perMinute ?? TURN_REQUESTS_PER_MINUTE)
        await lp.write(encodeTurnCredentials({ retryAfter }), { signal })
      } else {
        const now = Math.floor(Date.now() / 1000)
        const expiry = Math.ceil((now + (this.init.ttl ?? TURN_CREDENTIALS_TTL_S)) / EXPIRY_STEP_S) * EXPIRY_STEP_S
        await lp.write(encodeTurnCredentials({ urls: this.init.urls(), ...turnRestCredentials(this.init.secret, peer, expiry), ttl: expiry - now }), { signal })
        this.stats.issued++
        this.log('TURN credentials to %p until %s', connection.remotePeer, new Date(expiry * 1000).toISOString())
      }
      await stream.close({ signal })
    } catch (err: any) {
      this.stats.failed++
      this.log('TURN credentials stream from %p failed: %s', connection.remotePeer, err.name)
      stream.abort(err)
    }
  }
}

export function turnCredentials (init: TurnCredentialsInit): (components: TurnCredentialsComponents) => TurnCredentialsService {
  return (components) => new DefaultTurnCredentials(components, init)
}
