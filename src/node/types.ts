import type { CallSignalling } from '../calls/signalling.js'
import type { DirectMessages } from '../direct/index.js'
import type { RoomSync } from '../rooms/sync.js'
import type { WebRTCGuard } from './webrtc-guard.js'
import type { FileTransfer } from '../files/protocol.js'
import type { GossipSub, gossipsub } from '@libp2p/gossipsub'
import type { Identify, IdentifyPush } from '@libp2p/identify'
import type { KadDHT, kadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { ServiceFactoryMap } from 'libp2p'
import type { Datastore } from 'interface-datastore'

export interface ChatServices extends Record<string, unknown> {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  dht: ChatDHT
  dm: DirectMessages
  pubsub: RoomPubSub
  roomSync: RoomSync
  calls: CallSignalling
  webrtcGuard: WebRTCGuard
  files: FileTransfer
}

export type ChatLibp2p = Libp2p<ChatServices>

/**
 * What MegaChat uses of gossipsub: the real one in Node.js, and in a tab a stand-in until it is loaded
 * (lazy.ts), so only what both have.
 */
export type RoomPubSub = Pick<GossipSub, 'subscribe' | 'unsubscribe' | 'publish' | 'getSubscribers' | 'getTopics' | 'getPeers' | 'topicValidators' | 'addEventListener' | 'removeEventListener' | 'dispatchEvent'>

/**
 * What MegaChat asks of the DHT service itself (lookups go through libp2p's peer and content routing):
 * the real kad-dht in Node.js, a stand-in in a tab (lazy.ts).
 */
export type ChatDHT = Pick<KadDHT, 'getMode'>

export interface NodeOptions {
  privateKey: PrivateKey
  datastore: Datastore
  /** listen multiaddrs; a relay listener (/p2p-circuit) and /webrtc are added when they apply */
  listen?: string[]
  /** bootstrap multiaddrs, each with /p2p/<id> */
  bootstrap?: string[]
  /** ICE servers for WebRTC (never a third party unless the user configures one) */
  iceServers?: RTCIceServer[]
  /** private-to-private WebRTC (default on) */
  webrtc?: boolean
  /** mDNS discovery on the local network (default off) */
  lan?: boolean
  /** force DHT server mode (default: automatic) */
  dhtServer?: boolean
  /** peers whose connections are refused (the ones the user blocked); asked on every connection */
  denyPeer?: (peer: PeerId) => boolean
  /** gossipsub accepts subscriptions only to these topics (the joined rooms'); the set may change */
  allowedTopics?: Set<string>
  /** the features: direct messages, rooms, ... */
  services: Partial<ServiceFactoryMap<ChatServices>>
  /**
   * A browser tab's DHT and gossipsub, loaded after its first connection (lazy.ts). The web app hands in
   * a loader of its separately built bundle of the two (web/late-services.ts); Node.js ignores it.
   */
  lateServices?: () => Promise<LateServiceModules>
}

/** What a tab loads after its first connection: the DHT and gossipsub factories. */
export interface LateServiceModules {
  kadDHT: typeof kadDHT
  gossipsub: typeof gossipsub
}
