/**
 * libp2p assembly for a browser tab, and nothing else; package.json's "browser" map puts it in place of
 * node.ts. A tab cannot listen on a socket: it dials bootstrap nodes over WebSockets or WebRTC-direct,
 * is reachable through its relay reservation (/p2p-circuit), and upgrades to direct WebRTC with peers.
 * The services (DHT, gossipsub, identify, ping, the features) are those of services.ts. `lan` (mDNS)
 * and `dhtServer` do not apply in a tab: it is always a DHT client.
 */
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise, pureJsCrypto } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isPrivate } from '@libp2p/utils'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { x25519 } from '@noble/curves/ed25519.js'
import { WebSockets } from '@multiformats/multiaddr-matcher'
import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { LazyDHT, LazyGossipSub } from './lazy.js'
import { CONNECTION_MONITOR } from '../constants.js'
import { blockingGater, chatDhtInit, chatServices, limitTopics, roomGossipsubInit } from './services.js'
import type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { Multiaddr } from '@multiformats/multiaddr'

export type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'

/** Nothing of its own: a tab listens only on its relay reservation and WebRTC, which are always added. */
export const DEFAULT_LISTEN: string[] = []

export async function createNode (options: NodeOptions): Promise<ChatLibp2p> {
  const webrtc = options.webrtc ?? true
  const listen = [...(options.listen ?? DEFAULT_LISTEN), '/p2p-circuit', ...(webrtc ? ['/webrtc'] : [])]
  // never a third party's STUN server unless configured (the library's default is a public list)
  const rtcConfiguration = { iceServers: options.iceServers ?? [] }

  const late = options.lateServices
  if (late == null) throw new Error('a browser node needs `lateServices`: the loader of its DHT and gossipsub (web/late-services.ts)')
  const node = await createLibp2p<ChatServices>({
    start: false,
    privateKey: options.privateKey,
    datastore: ownRecordInMemory(options.datastore, peerIdFromPrivateKey(options.privateKey)),
    addresses: { listen },
    transports: [
      webSockets(),
      webRTCDirect({ rtcConfiguration }),
      circuitRelayTransport(),
      ...(webrtc ? [webRTC({ rtcConfiguration })] : [])
    ],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux()],
    connectionGater: blockingGater(browserGater(options.bootstrap ?? []), options.denyPeer),
    connectionMonitor: CONNECTION_MONITOR,
    peerDiscovery: (options.bootstrap?.length ?? 0) > 0 ? [bootstrap({ list: options.bootstrap ?? [], timeout: 0 })] : [],
    services: chatServices(options, {
      // a tab comes and goes and is reachable only through a relay: a DHT client, never a server.
      // Both are loaded after the first connection (lazy.ts); a stand-in is what the node has until then
      dht: (components) => new LazyDHT(components, chatDhtInit(true), late),
      pubsub: (components) => new LazyGossipSub(components, roomGossipsubInit(options.allowedTopics ?? []), late, (gossipsub) => {
        if (options.allowedTopics != null) limitTopics(gossipsub, options.allowedTopics)
      })
    })
  })
  return node
}

/**
 * Noise's own browser crypto (@noble), except that X25519 key pairs come from the Montgomery ladder.
 * @noble/curves makes an X25519 public key from Ed25519 base-point tables that it builds on first use,
 * a long task on the main thread in the middle of a tab's start; the ladder is far cheaper, gives the
 * same key, and nothing else in the tab needs those tables (Ed25519 signatures go through
 * WebCrypto, and the identity is made there: platform.browser.ts).
 */
const noiseCrypto = {
  ...pureJsCrypto,
  generateX25519KeyPair () {
    const privateKey = x25519.utils.randomSecretKey()
    return { privateKey, publicKey: x25519.scalarMult(privateKey, x25519.GuBytes) }
  }
}

/**
 * libp2p keeps the node's own record (its protocols and addresses) in the peer store, like any peer's,
 * and rewrites it at start once per protocol handler, one read and one write after another: on
 * IndexedDB a round trip each, most of a tab's start. That record
 * is rebuilt at every start anyway, so it is kept in memory; the records of other peers (what lets a
 * restarted tab dial its contacts at once) still go to `datastore`.
 */
function ownRecordInMemory (datastore: Datastore, self: PeerId): Datastore {
  // the key @libp2p/peer-store files a peer under: /peers/<its CID (base32)>
  const own = new Key(`/peers/${self.toCID().toString()}`)
  return new MountDatastore([{ prefix: own, datastore: new MemoryDatastore() }, { prefix: new Key('/'), datastore }])
}

/**
 * libp2p's browser default refuses insecure WebSockets and private addresses. A bootstrap node on a LAN
 * or on loopback, or one without TLS, is reached by exactly such addresses, and so is every peer relayed
 * through it. So: an address whose first hop is a configured bootstrap host is always dialled; insecure
 * WebSockets are refused only on an https page (the browser would block them as mixed content); private
 * addresses are dialled only when a bootstrap node is itself private (a LAN or test network).
 */
export function browserGater (bootstrapAddrs: string[]): ConnectionGater {
  const hosts = new Set<string>()
  let privateNetwork = false
  for (const addr of bootstrapAddrs) {
    try {
      const ma = multiaddr(addr)
      const host = firstHost(ma)
      if (host != null) hosts.add(host)
      if (isPrivate(ma)) privateNetwork = true
    } catch {
      // an invalid address is reported where it is dialled
    }
  }
  const securePage = globalThis.location?.protocol === 'https:'
  return {
    denyDialMultiaddr: (ma: Multiaddr) => {
      const host = firstHost(ma)
      if (host != null && hosts.has(host)) return false
      if (securePage && WebSockets.matches(ma)) return true
      return !privateNetwork && isPrivate(ma)
    }
  }
}

function firstHost (ma: Multiaddr): string | undefined {
  return ma.getComponents()[0]?.value
}
