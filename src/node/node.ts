/**
 * libp2p assembly for Node.js, and nothing else. The browser build swaps this file for node.browser.ts.
 */
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub'
import { sha256 } from '@noble/hashes/sha2.js'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL } from '../constants.js'
import type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'
import type { ServiceFactoryMap } from 'libp2p'

export type { NodeOptions, ChatLibp2p, ChatServices } from './types.js'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']

export async function createNode (options: NodeOptions): Promise<ChatLibp2p> {
  const webrtc = options.webrtc ?? true
  const listen = [...(options.listen ?? DEFAULT_LISTEN)]
  if ((options.bootstrap?.length ?? 0) > 0) listen.push('/p2p-circuit')
  if (webrtc) listen.push('/webrtc')

  const services = {
    ...options.services,
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      peerInfoMapper: passthroughMapper,
      clientMode: options.dhtServer === true ? false : undefined
    }),
    pubsub: gossipsub({
      // room messages are signed by their authors inside the ciphertext; a gossip-level signature
      // would only tell relaying peers who wrote what
      globalSignaturePolicy: StrictNoSign,
      msgIdFn: (msg) => sha256(msg.data),
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      allowedTopics: options.allowedTopics ?? [],
      runOnLimitedConnection: true,
      maxInboundDataLength: 256 * 1024,
      // peer scoring stays on, but without the same-IP penalty: every peer reached through one relay
      // shares the relay's address, as do peers behind one carrier-grade NAT (or on one test host)
      scoreParams: { IPColocationFactorWeight: 0 }
    }),
    autoNAT: autoNAT(),
    dcutr: dcutr()
  } as unknown as ServiceFactoryMap<ChatServices>

  const node = await createLibp2p<ChatServices>({
    start: false,
    privateKey: options.privateKey,
    datastore: options.datastore,
    addresses: { listen },
    transports: [
      tcp(),
      webSockets(),
      circuitRelayTransport(),
      // loaded only when used: it is the heaviest transport (start-up time and memory)
      ...(webrtc ? [(await import('@libp2p/webrtc')).webRTC({ rtcConfiguration: { iceServers: options.iceServers ?? [] } })] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [
      ...((options.bootstrap?.length ?? 0) > 0 ? [bootstrap({ list: options.bootstrap ?? [] })] : []),
      ...(options.lan === true ? [(await import('@libp2p/mdns')).mdns()] : [])
    ],
    services
  })
  if (options.allowedTopics != null) limitTopics(node, options.allowedTopics)
  return node
}

/** Most topics gossipsub tracks subscribers for, beyond the joined rooms'. */
const MAX_OTHER_TOPICS = 512
const ROOM_TOPIC = /^\/megachat\/room\/1\/[a-z2-7]{52}$/

/**
 * The bound on subscriptions. gossipsub drops subscriptions to topics outside `allowedTopics`, and
 * copies that set once at construction. Rooms are joined at run time, and a peer announces its
 * subscriptions only once per connection, so a plain "joined rooms only" filter would forget who is in
 * a room we join later. The filter therefore takes the joined rooms' topics always, and other
 * well-formed room topics up to MAX_OTHER_TOPICS tracked in all; anything else is dropped.
 * (test/rooms.spec.ts checks that a topic that is not a room topic stays untracked.)
 */
function limitTopics (node: ChatLibp2p, joined: Set<string>): void {
  const pubsub = node.services.pubsub as unknown as { allowedTopics: { has(topic: string): boolean }, topics: Map<string, unknown> }
  pubsub.allowedTopics = {
    has: (topic: string) => joined.has(topic) || (ROOM_TOPIC.test(topic) && (pubsub.topics.has(topic) || pubsub.topics.size < joined.size + MAX_OTHER_TOPICS))
  }
}
