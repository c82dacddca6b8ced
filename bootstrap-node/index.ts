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
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { logger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR, DEFAULT_STUN_PORT, PING_STREAMS } from '../src/constants.js'
import { chatDhtInit } from '../src/node/services.js'
import { InvalidInputError } from '../src/errors.js'
import { loadIdentity } from '../src/identity/index.js'
import { browserAddresses, hostnameOf, stunUrlHost, withPeerId } from './addresses.js'
import { COTURN_MISSING, CoturnMissingError, startCoturn } from './coturn.js'
import { forgetDeparted } from './departed.js'
import { ListenError, listenErrorReason } from './errors.js'
import { checkUdpPortFree, translateStartError } from './listen.js'
import {
  DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DEFAULT_RELAY_LIMITS, DEFAULT_WEBRTC_DIRECT_LISTEN,
  checkRelayLimits, checkTurnOptions, checkWebOptions, definedOnly, isWebrtcDirect, parseAddrs
} from './options.js'
import { DEFAULT_RECORD_LIMITS, checkRecordLimits, openRecordStore } from './records.js'
import { createStunServer } from './stun.js'
import { turnCredentials } from './turn.js'
import { serveWebApp } from './web.js'
import type { BootstrapOptions, RelayLimits } from './options.js'
import type { RecordCounts, RecordLimits } from './records.js'
import type { WebAppServer, WebConfig } from './web.js'
import type { StunServer, StunStats } from './stun.js'
import type { Coturn } from './coturn.js'
import type { TurnCredentialsService, TurnCredentialsStats } from './turn.js'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Identify, IdentifyPush } from '@libp2p/identify'
import type { PeerId, PrivateKey, Libp2p, Transport } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'

export { ListenError, WebAppMissingError } from './errors.js'
export type { WebConfig } from './web.js'
export type { StunStats } from './stun.js'
export type { Coturn, CoturnExit } from './coturn.js'
export type { TurnCredentialsStats } from './turn.js'
export { COTURN_MISSING } from './coturn.js'
export { TURN_CREDENTIALS_PROTOCOL, DEFAULT_TURN_PORT } from '../src/constants.js'
export { DEFAULT_RECORD_LIMITS } from './records.js'
export type { RecordCounts, RecordLimits } from './records.js'
export {
  DEFAULT_LISTEN, DEFAULT_WEBRTC_DIRECT_LISTEN, DEFAULT_MAX_CONNECTIONS, DEFAULT_WEB_DIR, DEFAULT_WEB_PORT, DEFAULT_WEB_HOST,
  DEFAULT_TURN_HOST, DEFAULT_TURN_REALM, DEFAULT_TURN_MIN_PORT, DEFAULT_TURN_MAX_PORT, DEFAULT_RELAY_LIMITS
} from './options.js'
export type { WebOptions, TurnOptions, RelayLimits, BootstrapOptions } from './options.js'

export { DHT_PROTOCOL, DEFAULT_STUN_PORT } from '../src/constants.js'

const log = logger('megachat:bootstrap')

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
      ping: ping(PING_STREAMS),
      autonat: autoNAT(),
      // the clients' DHT settings, always a server
      dht: kadDHT(chatDhtInit(false)),
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
