/**
 * The MegaChat bootstrap node: a libp2p node that others use as their first contact.
 * It is a Kademlia DHT server (`/megachat/kad/1.0.0`), a circuit relay v2 server with limits suited
 * to chat, an AutoNAT server, a WebSocket entry point for browsers (and WebRTC-direct when asked),
 * and a STUN responder so that clients' ICE can learn their public address without any third party.
 * With `turn`, it also runs coturn (coturn.ts) and hands connected peers short-lived TURN credentials for
 * it (`/megachat/turn-credentials/1.0.0`, turn.ts), so that calls get through symmetric NATs.
 * It stores no messages and reads none: everything it relays is Noise-encrypted end to end. What it keeps
 * for others (DHT provider and value records, peer records) is bounded per peer and in all (records.ts),
 * in a LevelDB under its data directory, or in memory without one.
 *
 * @example
 * ```ts
 * import { createBootstrapNode } from './bootstrap-node/index.js'
 *
 * const node = await createBootstrapNode({ dataDir: '/var/lib/megachat-bootstrap' })
 * console.info(node.addresses())  // paste one into a client's --bootstrap
 * console.info(node.stunUrl)      // stun:203.0.113.7:3478
 *
 * // also serve the built web app (dist/web), its /config.json pointing at this node
 * const withWeb = await createBootstrapNode({ web: { port: 8080, host: '0.0.0.0' } })
 * console.info(withWeb.webUrl)    // http://203.0.113.7:8080/ (browsers need HTTPS in front of it)
 * await node.stop()
 * ```
 */
import { createSocket } from 'node:dgram'
import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { isLoopback, isPrivate } from '@libp2p/utils'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { WebSockets, WebSocketsSecure } from '@multiformats/multiaddr-matcher'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../src/constants.js'
import { InvalidInputError } from '../src/errors.js'
import { loadIdentity } from '../src/identity/index.js'
import { ListenError, WebAppMissingError, listenErrorReason } from './errors.js'
import { DEFAULT_RECORD_LIMITS, checkRecordLimits, openRecordStore } from './records.js'
import { COTURN_MISSING, CoturnMissingError, isPeerRange, startCoturn } from './coturn.js'
import { createStunServer } from './stun.js'
import { turnCredentials } from './turn.js'
import { serveWebApp } from './web.js'
import { dropReservation } from '../src/node/adapters/circuit-relay.js'
import type { RecordCounts, RecordLimits } from './records.js'
import type { WebAppServer, WebConfig } from './web.js'
import type { StunServer, StunStats } from './stun.js'
import type { Coturn } from './coturn.js'
import type { TurnCredentialsService, TurnCredentialsStats } from './turn.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Identify, IdentifyPush } from '@libp2p/identify'
import type { IdentifyResult, PeerId, PrivateKey, Libp2p, Transport } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'

import { DHT_PROTOCOL, DEFAULT_STUN_PORT, DEFAULT_TURN_PORT, TURN_CREDENTIALS_TTL_S } from '../src/constants.js'
export { ListenError, WebAppMissingError } from './errors.js'
export type { WebConfig } from './web.js'
export type { StunStats } from './stun.js'
export type { Coturn, CoturnExit } from './coturn.js'
export type { TurnCredentialsStats } from './turn.js'
export { COTURN_MISSING } from './coturn.js'
export { TURN_CREDENTIALS_PROTOCOL, DEFAULT_TURN_PORT } from '../src/constants.js'
export { DEFAULT_RECORD_LIMITS } from './records.js'
export type { RecordCounts, RecordLimits } from './records.js'

export { DHT_PROTOCOL, DEFAULT_STUN_PORT } from '../src/constants.js'

const log = logger('megachat:bootstrap')

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

/** TURN as the node runs it. */
export interface TurnInfo {
  /** the URLs handed to clients; empty when coturn is missing */
  urls: string[]
  /** the UDP ports of relayed media */
  relayPorts: [number, number]
  /** `--turn` was asked for but cannot be had: one line for the operator */
  unavailable?: string
  /** the supervised coturn ('ready' and 'exit' events); undefined when unavailable */
  coturn?: Coturn
  /** credentials handed out and refused; undefined when unavailable */
  stats(): TurnCredentialsStats | undefined
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

export interface BootstrapStatus {
  /** peers connected now */
  peers: number
  /** relay reservations held now */
  reservations: number
}

// a type alias, not an interface: libp2p's ServiceMap needs an index signature
export type BootstrapServices = {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  autonat: unknown
  dht: KadDHT
  relay: CircuitRelayService
  turn?: TurnCredentialsService
}

export interface BootstrapNode {
  readonly peerId: PeerId
  readonly libp2p: Libp2p<BootstrapServices>
  /** Multiaddrs ending in /p2p/<peerId>, each ready to paste into a client's `--bootstrap`. */
  addresses(): string[]
  /** e.g. `stun:203.0.113.7:3478` with the port really bound; undefined when STUN is off. */
  readonly stunUrl: string | undefined
  /** TURN (coturn) as it runs; undefined without `turn`. */
  readonly turn: TurnInfo | undefined
  /** The relay limits in force. */
  readonly relayLimits: Readonly<RelayLimits>
  /** The limits on records kept for others, in force. */
  readonly recordLimits: Readonly<RecordLimits>
  status(): BootstrapStatus
  /** DHT and peer records held for others now, and writes refused for a limit since start. */
  records(): RecordCounts
  /** STUN counters (received, answered, dropped); undefined when STUN is off. */
  stunStats(): StunStats | undefined
  /**
   * The web app's plain-http URL on this node's address (e.g. `http://203.0.113.7:8080/`); undefined
   * without `web`. Browsers run the app from it only through HTTPS in front (web.ts's webAppAdvice).
   */
  readonly webUrl: string | undefined
  /** What the web app gets as `/config.json` (also without `web`). */
  webConfig(): WebConfig
  /** Stops libp2p, the STUN responder, coturn and the web server. Safe to call twice. */
  stop(): Promise<void>
}

export async function createBootstrapNode (options: BootstrapOptions = {}): Promise<BootstrapNode> {
  const listen = parseAddrs(options.listen ?? DEFAULT_LISTEN, 'listen')
  const announce = parseAddrs(options.announce ?? [], 'announce')
  if (listen.length === 0) throw new InvalidInputError('at least one listen address is needed')
  const relayLimits = checkRelayLimits({ ...DEFAULT_RELAY_LIMITS, ...definedOnly(options.relay ?? {}) })
  const recordLimits = checkRecordLimits({ ...DEFAULT_RECORD_LIMITS, ...definedOnly(options.records ?? {}) })
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new InvalidInputError(`maxConnections must be a positive integer, not ${maxConnections}`)
  const stunPort = options.stunPort === false || options.stunPort === null ? undefined : options.stunPort ?? DEFAULT_STUN_PORT
  if (stunPort != null && (!Number.isInteger(stunPort) || stunPort < 0 || stunPort > 65535)) throw new InvalidInputError(`STUN port must be 0-65535, not ${stunPort}`)

  const hasWebrtcDirect = listen.some(isWebrtcDirect)
  if (options.webrtcDirect === true && !hasWebrtcDirect) listen.push(multiaddr(DEFAULT_WEBRTC_DIRECT_LISTEN))
  const useWebrtcDirect = options.webrtcDirect === true || hasWebrtcDirect
  const web = options.web != null ? checkWebOptions(options.web) : undefined
  const turn = options.turn != null ? checkTurnOptions(options.turn) : undefined

  const privateKey: PrivateKey = options.dataDir != null
    ? (await loadIdentity(options.dataDir, { passphrase: options.passphrase })).privateKey
    : await generateKeyPair('Ed25519')

  // libjuice (under WebRTC-direct) prints to stdout and gives a vague error when its port is taken: check first
  for (const ma of listen.filter(isWebrtcDirect)) await checkUdpPortFree(ma)

  // what it keeps for others, bounded; a connected peer's record is never dropped to make room
  let connected = (_peer: PeerId): boolean => false
  const records = await openRecordStore(options.dataDir, peerIdFromPrivateKey(privateKey), (peer) => connected(peer), recordLimits)

  // STUN first: it is quick to fail (port in use) and cheap to undo
  let stunServer: StunServer | undefined
  if (stunPort != null) stunServer = await createStunServer({ port: stunPort, host: options.stunHost }).catch(async (err) => { await records.close(); throw err })

  // coturn next: its secret goes into the credentials service. Without coturn the node runs on without TURN
  let coturn: Coturn | undefined
  let turnUnavailable: string | undefined
  if (turn != null) {
    try {
      coturn = await startCoturn(turn)
    } catch (err: any) {
      if (err.name !== CoturnMissingError.name) {
        await Promise.allSettled([stunServer?.close(), records.close()])
        throw err
      }
      turnUnavailable = COTURN_MISSING
      log.error(COTURN_MISSING)
    }
  }
  let turnUrls: string[] = []
  /** Stops what runs beside libp2p: the STUN responder, coturn, then the record store. */
  const closeBeside = async (): Promise<void> => {
    await Promise.allSettled([stunServer?.close(), coturn?.stop()])
    await records.close().catch(() => {})
  }

  const transports: Array<(components: any) => Transport> = [tcp(), webSockets()]
  // no ICE servers: a public listener needs none, and the library's default is a list of third-party STUN servers
  if (useWebrtcDirect) transports.push(webRTCDirect({ rtcConfiguration: { iceServers: [] } }))

  const node = await createLibp2p<BootstrapServices>({
    start: false,
    privateKey,
    datastore: records.datastore,
    nodeInfo: { name: 'megachat-bootstrap' },
    addresses: { listen: listen.map(String), announce: announce.map(String) },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // many clients may share one address (carrier-grade NAT, a test host): allow bursts from one IP
    connectionManager: { maxConnections, inboundConnectionThreshold: 100 },
    // a client busy for a few seconds keeps its connection (constants.ts)
    connectionMonitor: CONNECTION_MONITOR,
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping(),
      autonat: autoNAT(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        // the default mapper drops private addresses, which breaks LAN and loopback networks
        peerInfoMapper: passthroughMapper
      }),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: relayLimits.maxReservations,
          defaultDurationLimit: relayLimits.durationLimit,
          defaultDataLimit: relayLimits.dataLimit,
          reservationTtl: relayLimits.reservationTtl
        }
      }),
      ...(coturn != null ? { turn: turnCredentials({ secret: coturn.secret, urls: () => turnUrls, ttl: turn?.ttl }) } : {})
    }
  }).catch(async (err) => {
    await closeBeside()
    throw err
  })
  connected = (peer) => node.getConnections(peer).length > 0

  const stopForgetting = forgetDeparted(node)

  try {
    await node.start()
  } catch (err) {
    stopForgetting()
    await Promise.resolve(node.stop()).catch(() => {})
    await closeBeside()
    throw translateStartError(err, listen)
  }

  const peerId = peerIdFromPrivateKey(privateKey)
  const addresses = (): string[] => node.getMultiaddrs().map(ma => withPeerId(ma, peerId))
  const stunUrl = stunServer != null ? `stun:${stunUrlHost(stunServer.address().address, announce, node.getMultiaddrs())}:${stunServer.address().port}` : undefined
  if (turn != null && coturn != null) {
    const host = turn.externalIp ?? stunUrlHost(turn.host, announce, node.getMultiaddrs())
    turnUrls = [`turn:${host}:${turn.port}?transport=udp`, `turn:${host}:${turn.port}?transport=tcp`]
  }
  const turnInfo: TurnInfo | undefined = turn == null
    ? undefined
    : {
        urls: turnUrls,
        relayPorts: [turn.minPort, turn.maxPort],
        ...(turnUnavailable != null ? { unavailable: turnUnavailable } : {}),
        ...(coturn != null ? { coturn } : {}),
        stats: () => node.services.turn != null ? { ...node.services.turn.stats } : undefined
      }
  const webConfig = (requestHost?: string): WebConfig => ({
    bootstrap: browserAddresses(node.getMultiaddrs(), peerId, requestHost),
    iceServers: stunUrl != null ? [{ urls: stunUrl }] : []
  })

  let webServer: WebAppServer | undefined
  if (web != null) {
    try {
      webServer = await serveWebApp({
        dir: web.dir,
        host: web.host,
        port: web.port,
        config: (req) => webConfig(hostnameOf(req.headers.host))
      })
    } catch (err: any) {
      stopForgetting()
      await Promise.resolve(node.stop()).catch(() => {})
      await closeBeside()
      throw new ListenError(`cannot serve the web app on ${web.host}:${web.port}: ${listenErrorReason(err)}`)
    }
  }
  const webUrl = webServer != null && web != null ? `http://${stunUrlHost(web.host, announce, node.getMultiaddrs())}:${webServer.port}/` : undefined

  let stopped: Promise<void> | undefined
  return {
    peerId,
    libp2p: node,
    addresses,
    stunUrl,
    turn: turnInfo,
    relayLimits: Object.freeze({ ...relayLimits }),
    recordLimits: Object.freeze({ ...recordLimits }),
    status: () => ({
      peers: node.getPeers().length,
      reservations: node.services.relay.reservations.size
    }),
    records: () => records.datastore.counts(),
    stunStats: () => stunServer?.stats(),
    webUrl,
    webConfig: () => webConfig(),
    stop: async () => {
      stopped ??= (async () => {
        stopForgetting()
        await Promise.allSettled([node.stop(), webServer?.close()])
        await closeBeside()
      })()
      return stopped
    }
  }
}

/**
 * What the node holds for a peer that has gone (its last connection closed) and can no longer use.
 *
 * Its relay reservation: the relay cannot reach the peer any more, but the library keeps a
 * reservation until its TTL (2 h), so departed peers would fill the table. Clearing the old timer
 * first keeps it from deleting a fresh reservation when the peer comes back.
 *
 * A client's addresses: the DHT answers a lookup for any peer in the peer store, so a departed
 * client's dead addresses were the answer, and a contact who had gone offline looked found: the one
 * looking dialled addresses that could not answer (behind a NAT: waiting on dropped packets) instead of
 * hearing "not found". A DHT server's addresses stay: the routing table answers with them. A DHT server
 * is a peer that announced the DHT protocol in its last identify (the peer store's protocols will not
 * do: libp2p adds every protocol a peer opened a stream for, and clients query the DHT). The entry
 * itself stays, with its signed peer record, which identify compares when the peer comes back; a
 * provider without addresses is left out of answers. Returns a function that stops this.
 */
function forgetDeparted (node: Libp2p<BootstrapServices>): () => void {
  const servers = new Set<string>()
  const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(DHT_PROTOCOL)) servers.add(evt.detail.peerId.toString())
    else servers.delete(evt.detail.peerId.toString())
  }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail
    dropReservation(node.services.relay, peer)
    if (servers.delete(peer.toString())) return
    void (async () => {
      const { addresses } = await node.peerStore.get(peer)
      // it may have come back meanwhile (a reloaded tab): then the addresses identify just gave are its own
      if (addresses.length > 0 && node.getConnections(peer).length === 0) await node.peerStore.patch(peer, { multiaddrs: [] })
    })().catch((err: Error) => { log.error('could not forget the addresses of %p: %e', peer, err) })
  }
  node.addEventListener('peer:identify', onIdentify)
  node.addEventListener('peer:disconnect', onDisconnect)
  return () => {
    node.removeEventListener('peer:identify', onIdentify)
    node.removeEventListener('peer:disconnect', onDisconnect)
  }
}

function checkWebOptions (web: WebOptions): Required<WebOptions> {
  const port = web.port ?? DEFAULT_WEB_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidInputError(`web port must be 0-65535, not ${port}`)
  const host = web.host ?? DEFAULT_WEB_HOST
  if (host.trim() === '') throw new InvalidInputError('web host must not be empty')
  const dir = web.dir ?? DEFAULT_WEB_DIR
  if (!existsSync(join(dir, 'index.html'))) throw new WebAppMissingError(`the web app is not built (no ${join(dir, 'index.html')}): run npm run web:build first`)
  return { port, host, dir }
}

function checkTurnOptions (turn: TurnOptions): Required<Omit<TurnOptions, 'externalIp' | 'binary'>> & Pick<TurnOptions, 'externalIp' | 'binary'> {
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

/** The host name of an HTTP Host header (without port or IPv6 brackets). */
function hostnameOf (header: string | undefined): string | undefined {
  if (header == null || header === '') return undefined
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[(.*)\]$/, '$1')
  } catch {
    return undefined
  }
}

/**
 * The addresses a browser can dial, with /p2p/<id>: the WebSocket ones (announced ones when there
 * are any, since libp2p then gives only those). The one on the host the page was loaded from comes
 * first (it is known to be reachable from that browser), then public, private, loopback.
 */
function browserAddresses (addrs: Multiaddr[], peerId: PeerId, requestHost?: string): string[] {
  // a page opened as http://localhost (what main.ts tells the local user) reaches the node on loopback
  const host = requestHost === 'localhost' ? '127.0.0.1' : requestHost
  const rank = (ma: Multiaddr): number => {
    if (host != null && firstHost(ma) === host) return 0
    return isLoopback(ma) ? 3 : isPrivate(ma) === true ? 2 : 1
  }
  return addrs
    .filter(ma => WebSockets.exactMatch(ma) || WebSocketsSecure.exactMatch(ma))
    .map(ma => ({ ma, rank: rank(ma) }))
    .sort((a, b) => a.rank - b.rank)
    .map(({ ma }) => withPeerId(ma, peerId))
}

function firstHost (ma: Multiaddr): string | undefined {
  return ma.getComponents()[0]?.value
}

function parseAddrs (addrs: string[], what: string): Multiaddr[] {
  return addrs.map(a => {
    try {
      return multiaddr(a)
    } catch {
      throw new InvalidInputError(`invalid ${what} address: ${a}`)
    }
  })
}

function isWebrtcDirect (ma: Multiaddr): boolean {
  return ma.getComponents().some(c => c.name === 'webrtc-direct')
}

function definedOnly<T extends object> (obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>
}

function checkRelayLimits (limits: RelayLimits): RelayLimits {
  const { maxReservations, durationLimit, dataLimit, reservationTtl } = limits
  if (!Number.isInteger(maxReservations) || maxReservations < 0) throw new InvalidInputError(`relay maxReservations must be a whole number, not ${maxReservations}`)
  // the duration travels as a uint32 in the relay protocol
  if (!Number.isInteger(durationLimit) || durationLimit < 1 || durationLimit > 0xffffffff) throw new InvalidInputError(`relay durationLimit must be a positive number of ms, not ${durationLimit}`)
  if (typeof dataLimit !== 'bigint' || dataLimit < 1n) throw new InvalidInputError(`relay dataLimit must be a positive bigint, not ${String(dataLimit)}`)
  if (!Number.isInteger(reservationTtl) || reservationTtl < 1000) throw new InvalidInputError(`relay reservationTtl must be at least 1000 ms, not ${reservationTtl}`)
  return limits
}

function withPeerId (ma: Multiaddr, peerId: PeerId): string {
  return ma.getComponents().some(c => c.name === 'p2p') ? ma.toString() : ma.encapsulate(`/p2p/${peerId}`).toString()
}

/**
 * The host clients should put in the STUN URL: the bound address when it is a real one; for a
 * wildcard bind, the first announced (else listening) IPv4 address or DNS name, public before
 * private before loopback. node-datachannel rejects IPv6 STUN URLs, so IPv6 comes last.
 */
function stunUrlHost (bound: string, announce: Multiaddr[], addrs: Multiaddr[]): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound.includes(':') ? `[${bound}]` : bound
  const hosts: Array<{ host: string, rank: number }> = []
  for (const ma of [...announce, ...addrs]) {
    const c = ma.getComponents()[0]
    if (c?.value == null) continue
    if (c.name === 'dns4' || c.name === 'dns') hosts.push({ host: c.value, rank: 0 })
    else if (c.name === 'ip4' && c.value !== '0.0.0.0') {
      hosts.push({ host: c.value, rank: isLoopback(ma) ? 2 : isPrivate(ma) ? 1 : 0 })
    }
  }
  hosts.sort((a, b) => a.rank - b.rank)
  return hosts[0]?.host ?? (bound === '::' ? '[::1]' : '127.0.0.1')
}

/** Binds and releases the UDP port of a WebRTC-direct address, on the wildcard address as libjuice does. */
async function checkUdpPortFree (ma: Multiaddr): Promise<void> {
  const [ip, udp] = ma.getComponents()
  const port = Number(udp?.value)
  if (udp?.name !== 'udp' || !Number.isInteger(port) || port === 0) return
  const type = ip?.name === 'ip6' ? 'udp6' : 'udp4'
  const socket = createSocket({ type })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => { resolve() })
    })
  } catch (err: any) {
    throw new ListenError(`cannot listen on ${ma.toString()}: ${listenErrorReason(err)}`)
  } finally {
    await new Promise<void>(resolve => { try { socket.close(() => { resolve() }) } catch { resolve() } })
  }
}

/** libp2p's listen failure is a multi-line message with stack traces; the operator gets one line. */
function translateStartError (err: any, listen: Multiaddr[]): Error {
  if (/ICE UDP mux listener/.test(String(err?.message))) {
    return new ListenError(`cannot listen on ${listen.find(isWebrtcDirect)?.toString() ?? 'WebRTC-direct'}: UDP port not available`)
  }
  if (err?.name !== 'UnsupportedListenAddressesError' && err?.name !== 'UnsupportedListenAddressError') return err
  const text = String(err.message)
  const m = /^\s+(\/\S+): (.*)$/m.exec(text)
  if (m == null) return new ListenError('cannot listen on the configured addresses')
  const [, addr, reason] = m
  const code = /\b(E[A-Z]+)\b/.exec(reason)?.[1]
  const why = code != null ? listenErrorReason({ code }) : reason.includes('UnsupportedListenAddressError') || reason.trim() === '' ? 'no transport for this address' : reason.replace(/^\w*Error: /, '')
  return new ListenError(`cannot listen on ${addr}: ${why}`)
}
