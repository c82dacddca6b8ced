/**
 * The bootstrap node's options: their defaults, and the checks that turn a bad one into one line for the
 * operator (InvalidInputError) before anything starts.
 */
import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_TURN_PORT, TURN_CREDENTIALS_TTL_S } from '../src/constants.js'
import { InvalidInputError } from '../src/errors.js'
import { isPeerRange } from './coturn.js'
import { WebAppMissingError } from './errors.js'
import type { RecordLimits } from './records.js'
import type { Multiaddr } from '@multiformats/multiaddr'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']
export const DEFAULT_WEBRTC_DIRECT_LISTEN = '/ip4/0.0.0.0/udp/4001/webrtc-direct'
export const DEFAULT_MAX_CONNECTIONS = 1000
/** the built web app next to this file: dist/bootstrap-node/index.js -> dist/web */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../web', import.meta.url))
export const DEFAULT_WEB_PORT = 8080
export const DEFAULT_WEB_HOST = '0.0.0.0'

export interface WebOptions {
  /** TCP port of the HTTP server; 0 picks a free one. Default 8080. */
  port?: number
  /** Address it binds. Default '0.0.0.0'. */
  host?: string
  /** The built app. Default {@link DEFAULT_WEB_DIR} (dist/web, made by `npm run web:build`). */
  dir?: string
}

export const DEFAULT_TURN_HOST = '0.0.0.0'
export const DEFAULT_TURN_REALM = 'megachat'
/** The UDP ports coturn relays media on by default: one per allocation, two or four per relayed call. */
export const DEFAULT_TURN_MIN_PORT = 49152
export const DEFAULT_TURN_MAX_PORT = 49407

export interface TurnOptions {
  /** UDP and TCP port of coturn. Default {@link DEFAULT_TURN_PORT} (3479: 3478 is the STUN responder's). */
  port?: number
  /** Address coturn listens and relays on. Default '0.0.0.0'. */
  host?: string
  /** TURN realm. Default 'megachat'. */
  realm?: string
  /** The machine's public IPv4 address when it sits behind a 1:1 NAT (a cloud VM); also the TURN URLs' host. */
  externalIp?: string
  /** The UDP port range of relayed media. Default 49152-49407. */
  minPort?: number
  maxPort?: number
  /** Relay to loopback and private addresses: for tests and labs only, never on a public server. */
  allowPrivatePeers?: boolean
  /**
   * Addresses and ranges (`203.0.113.0-203.0.113.255`) coturn may relay to although they are private or
   * special (e.g. a lab's "internet" in documentation space); every other denied range stays denied.
   */
  allowedPeers?: string[]
  /** How long credentials last (seconds). Default 6 h. */
  ttl?: number
  /** The coturn binary. Default `turnserver` on the PATH. */
  binary?: string
}

export interface RelayLimits {
  /** Most reservations held at once; more clients are refused until one leaves. */
  maxReservations: number
  /** How long one relayed connection may stay open, in ms; then it is closed and the peers redial. */
  durationLimit: number
  /** How many bytes one relayed connection may carry (both directions together). */
  dataLimit: bigint
  /** How long a reservation lasts before the client must refresh it, in ms. */
  reservationTtl: number
}

/**
 * Relay defaults for chat: the library's (2 minutes, 128 KiB, 15 reservations) cut off a conversation
 * or a room sync; these let a relayed connection carry text, sync and call signalling for a while.
 * Calls' media goes direct (WebRTC), never through the relay.
 */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxReservations: 512,
  durationLimit: 10 * 60 * 1000,
  dataLimit: 16n * 1024n * 1024n,
  reservationTtl: 2 * 60 * 60 * 1000
})

export interface BootstrapOptions {
  /**
   * Keeps the node's key in `<dataDir>/identity.key` (same peer ID after restarts) and what it holds for
   * others (DHT and peer records) in a LevelDB at `<dataDir>/datastore`; without it both are in memory.
   */
  dataDir?: string
  /** Opens (or protects a new) key file in dataDir. */
  passphrase?: string
  /** Multiaddrs to listen on. Default {@link DEFAULT_LISTEN}. */
  listen?: string[]
  /** Multiaddrs to tell others instead of the listen addresses (e.g. the public IP or DNS name of the machine). */
  announce?: string[]
  /** UDP port of the STUN responder; 0 picks a free port; false or null turns STUN off. Default 3478. */
  stunPort?: number | false | null
  /** Address the STUN responder binds. Default '0.0.0.0'. */
  stunHost?: string
  /** Also listen for WebRTC-direct (browsers dial it without TLS), on {@link DEFAULT_WEBRTC_DIRECT_LISTEN}
   * unless `listen` already holds a /webrtc-direct address. Its certificate is made at each start, so
   * the address (its /certhash) changes with every restart. Default false. */
  webrtcDirect?: boolean
  /** Relay limits; each unset one keeps its value from {@link DEFAULT_RELAY_LIMITS}. */
  relay?: Partial<RelayLimits>
  /** Most connections at once. Default 1000. */
  maxConnections?: number
  /** Limits on the DHT and peer records it keeps for others; each unset one keeps its value from {@link DEFAULT_RECORD_LIMITS}. */
  records?: Partial<RecordLimits>
  /**
   * Also serve the built web app over HTTP, with `/config.json` giving it this node's WebSocket
   * addresses as bootstrap list and its STUN URL as ICE server: a friend only needs the URL.
   */
  web?: WebOptions
  /**
   * Also run coturn as a TURN server and hand connected peers short-lived credentials for it. When
   * coturn is not installed, the node runs without TURN and `turn.unavailable` says so.
   */
  turn?: TurnOptions
}

export function checkWebOptions (web: WebOptions): Required<WebOptions> {
  const port = web.port ?? DEFAULT_WEB_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidInputError(`web port must be 0-65535, not ${port}`)
  const host = web.host ?? DEFAULT_WEB_HOST
  if (host.trim() === '') throw new InvalidInputError('web host must not be empty')
  const dir = web.dir ?? DEFAULT_WEB_DIR
  if (!existsSync(join(dir, 'index.html'))) throw new WebAppMissingError(`the web app is not built (no ${join(dir, 'index.html')}): run npm run web:build first`)
  return { port, host, dir }
}

export function checkTurnOptions (turn: TurnOptions): Required<Omit<TurnOptions, 'externalIp' | 'binary'>> & Pick<TurnOptions, 'externalIp' | 'binary'> {
  const port = turn.port ?? DEFAULT_TURN_PORT
  const minPort = turn.minPort ?? DEFAULT_TURN_MIN_PORT
  const maxPort = turn.maxPort ?? DEFAULT_TURN_MAX_PORT
  // coturn cannot pick a free port itself, and clients need the real one
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidInputError(`TURN port must be 1-65535, not ${port}`)
  if (!Number.isInteger(minPort) || !Number.isInteger(maxPort) || minPort < 1024 || maxPort > 65535 || minPort > maxPort) {
    throw new InvalidInputError(`TURN relay ports must be a range within 1024-65535, not ${minPort}-${maxPort}`)
  }
  const host = turn.host ?? DEFAULT_TURN_HOST
  if (isIP(host) === 0) throw new InvalidInputError(`TURN host must be an IP address, not ${host}`)
  if (turn.externalIp != null && isIP(turn.externalIp) !== 4) throw new InvalidInputError(`TURN external IP must be an IPv4 address, not ${turn.externalIp}`)
  const realm = turn.realm ?? DEFAULT_TURN_REALM
  if (!/^[\w.-]{1,64}$/.test(realm)) throw new InvalidInputError(`TURN realm must be 1-64 letters, digits, ".", "_" or "-", not ${realm}`)
  const ttl = turn.ttl ?? TURN_CREDENTIALS_TTL_S
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 7 * 24 * 3600) throw new InvalidInputError(`TURN credentials must last 60 s to 7 days, not ${ttl} s`)
  const allowedPeers = turn.allowedPeers ?? []
  const bad = allowedPeers.find(r => !isPeerRange(r))
  if (bad != null) throw new InvalidInputError(`TURN allowed peers must be IP addresses or ranges such as 203.0.113.0-203.0.113.255, not ${bad}`)
  return { ...turn, port, host, realm, minPort, maxPort, ttl, allowPrivatePeers: turn.allowPrivatePeers === true, allowedPeers }
}

export function parseAddrs (addrs: string[], what: string): Multiaddr[] {
  return addrs.map(a => {
    try {
      return multiaddr(a)
    } catch {
      throw new InvalidInputError(`invalid ${what} address: ${a}`)
    }
  })
}

export function isWebrtcDirect (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'webrtc-direct')
}

export function definedOnly<T extends object> (obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}

export function checkRelayLimits (limits: RelayLimits): RelayLimits {
  const { maxReservations, durationLimit, dataLimit, reservationTtl } = limits
  if (!Number.isInteger(maxReservations) || maxReservations < 0) throw new InvalidInputError(`relay maxReservations must be a whole number, not ${maxReservations}`)
  // the duration travels as a uint32 in the relay protocol
  if (!Number.isInteger(durationLimit) || durationLimit < 1 || durationLimit > 0xffffffff) throw new InvalidInputError(`relay durationLimit must be a positive number of ms, not ${durationLimit}`)
  if (typeof dataLimit !== 'bigint' || dataLimit < 1n) throw new InvalidInputError(`relay dataLimit must be a positive bigint, not ${String(dataLimit)}`)
  if (!Number.isInteger(reservationTtl) || reservationTtl < 1000) throw new InvalidInputError(`relay reservationTtl must be at least 1000 ms, not ${reservationTtl}`)
  return limits
}
