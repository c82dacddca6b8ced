/**
 * The libp2p services every MegaChat node runs, Node.js or browser: identify, ping, the MegaChat DHT
 * and gossipsub set up for rooms, plus the features (DM, room sync) passed in. node.ts builds the DHT
 * and gossipsub from these settings at once; node.browser.ts has them loaded after the tab's first
 * connection (lazy.ts). This module imports neither at run time, so that the tab's first load does not.
 */
import { identify, identifyPush } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { sha256 } from '@noble/hashes/sha2.js'
import { DHT_PROTOCOL, IDENTIFY_PUSH_DEBOUNCE_MS, PING_STREAMS } from '../constants.js'
import { pushOnListen } from './address-push.js'
import { GOSSIPSUB_PROTOCOLS, filterTopics } from './adapters/gossipsub.js'
import { repairTopologies } from './topologies.js'
import { webrtcGuard } from './webrtc-guard.js'
import type { ChatServices, NodeOptions } from './types.js'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'
import type { KadDHTInit } from '@libp2p/kad-dht'
import type { ServiceFactoryMap } from 'libp2p'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * How MegaChat runs gossipsub for rooms. Exported so that the benchmark's floor and the tests' plain
 * gossipsub peers use exactly these settings rather than a copy.
 */
export function roomGossipsubInit (allowedTopics?: string[] | Set<string>): Partial<GossipsubOpts> {
  return {
    // room messages are signed by their authors inside the ciphertext; a gossip-level signature
    // would only tell relaying peers who wrote what (gossipsub's StrictNoSign)
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: (msg) => sha256(msg.data),
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    ...(allowedTopics != null ? { allowedTopics } : {}),
    runOnLimitedConnection: true,
    maxInboundDataLength: 256 * 1024,
    // peer scoring stays on, but without the same-IP penalty: every peer reached through one relay
    // shares the relay's address, as do peers behind one carrier-grade NAT (or on one test host)
    scoreParams: { IPColocationFactorWeight: 0 }
  }
}

/**
 * How MegaChat runs the DHT. `clientMode`: true, a client only; undefined, automatic (a server once
 * reachable).
 */
export function chatDhtInit (clientMode?: boolean): KadDHTInit {
  return {
    protocol: DHT_PROTOCOL,
    // kad-dht's default mapper drops private addresses, which breaks LAN and loopback networks
    peerInfoMapper: (peer) => peer,
    // every lookup waits for the first self-query, which kad-dht runs a second after start by
    // default: a contact added at once was found only after that second (first contact ~1.1 s)
    initialQuerySelfInterval: 0,
    clientMode
  }
}

/**
 * The services a node runs: the features in `options.services`, those here, and `own` (node.ts's and
 * node.browser.ts's DHT, gossipsub and transport helpers).
 */
export function chatServices (options: NodeOptions, own: Pick<ServiceFactoryMap<ChatServices>, 'dht' | 'pubsub'> & Partial<ServiceFactoryMap<ChatServices>>): ServiceFactoryMap<ChatServices> {
  const services: Partial<ServiceFactoryMap<ChatServices>> = {
    ...options.services,
    identify: identify(),
    // a new address (a relay reservation above all) reaches the bootstrap node at once (address-push.ts)
    identifyPush: (components) => pushOnListen(components, identifyPush({ debounce: IDENTIFY_PUSH_DEBOUNCE_MS })(components)),
    ping: ping(PING_STREAMS),
    // gossipsub's streams to a room member come back on its other connection when one goes (topologies.ts)
    gossipRepair: repairTopologies(GOSSIPSUB_PROTOCOLS),
    // a WebRTC connection whose data channels never opened is closed (webrtc-guard.ts)
    webrtcGuard: webrtcGuard(),
    ...own
  }
  // the features (direct messages, rooms' sync, calls, files) are the caller's to pass: createChat passes them all
  return services as ServiceFactoryMap<ChatServices>
}

/** Most topics gossipsub tracks subscribers for, beyond the joined rooms'. */
const MAX_OTHER_TOPICS = 512
const ROOM_TOPIC = /^\/megachat\/room\/1\/[a-z2-7]{52}$/

/**
 * The bound on subscriptions. gossipsub drops subscriptions to topics outside `allowedTopics`, and
 * copies that set once at construction. Rooms are joined at run time, and a peer announces its
 * subscriptions only once per connection, so a plain "joined rooms only" filter would forget who is in
 * a room we join later. The filter therefore takes the joined rooms' topics always, and other
 * well-formed room topics up to MAX_OTHER_TOPICS tracked in all; anything else is dropped
 * (adapters/gossipsub.ts sets the filter; test/adapters.spec.ts pins that gossipsub consults it).
 */
export function limitTopics (gossipsub: GossipSub, joined: Set<string>): void {
  filterTopics(gossipsub, (topic, tracked) =>
    joined.has(topic) || (ROOM_TOPIC.test(topic) && (tracked.has(topic) || tracked.size < joined.size + MAX_OTHER_TOPICS)))
}

/**
 * A gater that also refuses every connection to and from the peers `denyPeer` names (the ones the user
 * blocked): dials to them are not made, and their connections are closed once Noise has told who they
 * are, on every transport (TCP, WebSockets, relayed, WebRTC), before any stream is opened.
 */
export function blockingGater (gater: ConnectionGater, denyPeer?: (peer: PeerId) => boolean): ConnectionGater {
  if (denyPeer == null) return gater
  return {
    ...gater,
    denyDialPeer: (peer) => denyPeer(peer),
    denyInboundEncryptedConnection: (peer) => denyPeer(peer),
    denyOutboundEncryptedConnection: (peer) => denyPeer(peer),
    denyInboundRelayedConnection: (_relay, peer) => denyPeer(peer)
  }
}
