/** The public types of the Chat facade (index.ts re-exports them). */
import type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
import type { ConnectionSummary } from './node/connections.js'
import type { NodeOptions } from './node/node.js'
import type { PlatformInit, Platform } from './platform.js'
import type { CallInfo, MediaFactory } from './calls/index.js'
import type { IncomingMessage } from './direct/conversations.js'
import type { Unreachable } from './direct/outbox.js'
import type { FileEvents, FileStorage } from './files/types.js'
import type { PresenceChange } from './presence/index.js'
import type { RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
import type { CallRecord, Contact, StoredMessage } from './store/index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

export type { IncomingMessage } from './direct/conversations.js'
export type { PresenceChange } from './presence/index.js'
export type { Contact, MessageRequest, StoredMessage, DeliveryState, Direction, StoredRoomMessage } from './store/index.js'
export type { RoomInfo, RoomMembersEvent, RoomMessageEvent } from './rooms/index.js'
export type { CallRecord, CallOutcome } from './store/index.js'
export type { CallInfo, CallState, MediaEvents, MediaFactory, MediaOptions, MediaSession, MediaSetup, MediaState, IceCandidate } from './calls/index.js'
export type { ChatLibp2p } from './node/node.js'
export type { BootstrapNodeStatus } from './node/bootstrap-watch.js'
export type { ConnectionSummary, PeerPath } from './node/connections.js'
export type { Diagnosis, PeerDiagnosis, PathInfo, NatReport, NatMapping, NatSeen, ReachTrace, ReachStep } from './node/diagnose.js'
export type { FileTransfer, FileState, FileSource, FileStorage, Files, FileEvents, FileOffer } from './files/types.js'
export type { FileEngineStats, FileTransferStats } from './files/index.js'
export type { Unreachable } from './direct/outbox.js'

/** The network settings (listen, bootstrap, iceServers, webrtc, lan, dhtServer) are those of NodeOptions. */
export interface ChatInit extends PlatformInit, Pick<NodeOptions, 'listen' | 'bootstrap' | 'iceServers' | 'webrtc' | 'lan' | 'dhtServer' | 'lateServices'> {
  /** overrides the data directory's store (tests use a MemoryDatastore) */
  datastore?: Datastore
  /** overrides the data directory's identity */
  privateKey?: PrivateKey
  /** an identity and store opened already (openPlatform), used instead of `dataDir`; stop() closes it */
  platform?: Platform
  /** how long to look for an unreachable contact per attempt (ms) */
  findTimeout?: number
  /** how often waiting messages are retried and offline contacts probed (ms) */
  retryInterval?: number
  /** false: createChat returns before starting, so listeners can be added first; then call start() */
  start?: boolean
  /** the media of calls (the web app's RTCPeerConnection); without it calls can be shown and declined only */
  callMedia?: MediaFactory
  /** how long a call rings before it is missed (ms) */
  ringTimeout?: number
  /** where file bytes are kept (default: `<dataDir>/files/`, or a temporary folder without a dataDir) */
  files?: FileStorage
  /** contacts' files up to this many bytes are fetched without asking (default AUTO_FETCH_BYTES, 64 MiB) */
  autoFetchBytes?: number
}

export interface ContactInfo extends Contact {
  online: boolean
  /** read it out to each other: equal codes mean no impostor */
  safetyCode: string
}

export interface ChatEvents extends FileEvents {
  /** a message arrived (each id once) */
  message: CustomEvent<IncomingMessage>
  /** a message was stored in the outbox */
  sent: CustomEvent<StoredMessage>
  /** the recipient acknowledged a message */
  delivered: CustomEvent<StoredMessage>
  /** a contact came online or went offline */
  presence: CustomEvent<PresenceChange>
  /** waiting messages could not be delivered this time; they stay queued and are retried */
  unreachable: CustomEvent<Unreachable>
  /** a room message from another member was accepted (each id once) */
  'room:message': CustomEvent<RoomMessageEvent & { name?: string }>
  /** the number of members online in a joined room changed */
  'room:members': CustomEvent<RoomMembersEvent>
  /** a call started, rang, was answered, connected or ended (state 'incoming': someone calls) */
  call: CustomEvent<CallInfo>
  /** a call ended and is stored in the history */
  'call:ended': CustomEvent<CallRecord>
  /** a bootstrap node connected, was lost, or could not be reached (and when it is tried next) */
  bootstrap: CustomEvent<BootstrapNodeStatus>
  /** a connection opened or closed, or our addresses changed (a relay reservation came or went) */
  connections: CustomEvent<ConnectionSummary>
}
