/**
 * libp2p assembly for Node.js, and nothing else. The browser build swaps this file for node.browser.ts
 * (package.json "browser" map); the services both run are in services.ts.
 */
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { kadDHT } from '@libp2p/kad-dht'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL, CONNECTION_MONITOR } from '../constants.js'
import { addressOrder } from './address-order.js'
import { lanGater } from './lan-gater.js'
import { blockingGater, chatDhtInit, chatServices, limitTopics, roomGossipsubInit } from './services.js'
import { catchUpTopologies } from './topologies.js'
import type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'
import type { Libp2pOptions } from 'libp2p'

export type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']

/** How the node finds peers: the bootstrap nodes when there are any, and mDNS on the local network with `lan`. */
export async function peerDiscovery (options: Pick<NodeOptions, 'bootstrap' | 'lan'>): Promise<NonNullable<Libp2pOptions['peerDiscovery']>> {
  return [
    ...((options.bootstrap?.length ?? 0) > 0 ? [bootstrap({ list: options.bootstrap ?? [], timeout: 0 })] : []),
    // loaded only when asked for
    ...(options.lan === true ? [(await import('@libp2p/mdns')).mdns()] : [])
  ]
}

export async function createNode (options: NodeOptions): Promise<ChatLibp2p> {
  const webrtc = options.webrtc ?? true
  const listen = [...(options.listen ?? DEFAULT_LISTEN)]
  if ((options.bootstrap?.length ?? 0) > 0) listen.push('/p2p-circuit')
  if (webrtc) listen.push('/webrtc')

  const allowedTopics = options.allowedTopics
  const services = chatServices(options, {
    dht: kadDHT(chatDhtInit(options.dhtServer === true ? false : undefined)),
    // the bootstrap nodes are dialled as the node starts: one identified before the DHT registered
    // its topology would never reach the routing table (topologies.ts)
    dhtCatchUp: catchUpTopologies([DHT_PROTOCOL]),
    pubsub: (components) => {
      const pubsub = gossipsub(roomGossipsubInit(allowedTopics ?? []))(components)
      if (allowedTopics != null) limitTopics(pubsub, allowedTopics)
      return pubsub
    },
    autoNAT: autoNAT(),
    dcutr: dcutr()
  })

  const node = await createLibp2p<ChatServices>({
    start: false,
    privateKey: options.privateKey,
    datastore: options.datastore,
    addresses: { listen },
    // another network's private addresses lead nowhere from here: never wait on one
    connectionGater: blockingGater(lanGater(options.bootstrap ?? []), options.denyPeer),
    connectionManager: { addressSorter: addressOrder },
    connectionMonitor: CONNECTION_MONITOR,
    transports: [
      tcp(),
      webSockets(),
      circuitRelayTransport(),
      // loaded only when used: it is the heaviest transport (start-up time and memory)
      ...(webrtc ? [(await import('@libp2p/webrtc')).webRTC({ rtcConfiguration: { iceServers: options.iceServers ?? [] } })] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: await peerDiscovery(options),
    services
  })
  return node
}
