/**
 * Room history sync: `/megachat/room-sync/1.0.0`.
 *
 * A member that joins late, or comes back, asks an online member for what it missed. The request
 * carries an HMAC that proves knowledge of the room secret and is bound to both peer IDs of the
 * (Noise-authenticated) connection; a peer that cannot prove membership gets the same empty answer as
 * one asking for a room the responder does not have, so nothing is learnt either way. The answer is the
 * sealed messages exactly as they were published: the requester opens and verifies each one itself, so a
 * responder cannot forge or alter history, only withhold it. Bounded by count and age on both sides.
 */
import { serviceCapabilities } from '@libp2p/interface'
import { equals } from 'uint8arrays/equals'
import { toString as toHex } from 'uint8arrays/to-string'
import { roomSyncAuth, MAX_ROOM_MESSAGE_BYTES } from '../crypto/room.js'
import { ProtocolViolationError } from '../errors.js'
import { boundedPbStream } from '../node/frames.js'
import { SyncFrame, SyncRequest } from './pb/room.js'
import type { RoomKeys } from '../crypto/room.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export const ROOM_SYNC_PROTOCOL = '/megachat/room-sync/1.0.0'
/** Most messages one sync answer carries. */
export const SYNC_MAX_MESSAGES = 1000
/** Oldest message one sync answer carries. */
export const SYNC_MAX_AGE_MS = 30 * 24 * 3600_000
const SYNC_TIMEOUT_MS = 30_000
const MAX_REQUEST_BYTES = 256

export interface RoomSyncSource {
  keys: RoomKeys
  /** sealed messages with a timestamp at or after `since`, the newest `limit` of them, oldest first */
  sealed(since: number, limit: number): Promise<Uint8Array[]>
}

export interface RoomSyncInit {
  /** the joined room with this public id (hex), if any */
  lookup(roomIdHex: string): RoomSyncSource | undefined
  maxMessages?: number
  maxAge?: number
}

export interface RoomSyncComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface RoomSyncStats {
  served: number
  /** requests for an unknown room or with a wrong proof of membership */
  denied: number
  /** streams that failed: bad frames, timeouts, resets */
  failed: number
}

export interface RoomSyncRequestOptions extends AbortOptions {
  since?: number
  limit?: number
}

export interface RoomSync {
  readonly stats: Readonly<RoomSyncStats>
  /** Asks `peer` for a room's messages; resolves with the sealed bytes (unverified: open each). */
  request(peer: PeerId, keys: RoomKeys, options?: RoomSyncRequestOptions): Promise<Uint8Array[]>
}

class DefaultRoomSync implements RoomSync, Startable {
  readonly stats: RoomSyncStats = { served: 0, denied: 0, failed: 0 }
  private readonly components: RoomSyncComponents
  private readonly init: RoomSyncInit
  private readonly log: Logger
  private readonly maxMessages: number

  readonly [Symbol.toStringTag] = 'megachat/room-sync'
  readonly [serviceCapabilities] = ['@megachat/room-sync']

  constructor (components: RoomSyncComponents, init: RoomSyncInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('megachat:room-sync')
    this.maxMessages = init.maxMessages ?? SYNC_MAX_MESSAGES
    this.handle = this.handle.bind(this)
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(ROOM_SYNC_PROTOCOL, this.handle, {
      maxInboundStreams: 4,
      runOnLimitedConnection: true
    })
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(ROOM_SYNC_PROTOCOL)
  }

  private async handle (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const pb = boundedPbStream(stream, MAX_REQUEST_BYTES)
    try {
      const req = await pb.read(SyncRequest, { signal })
      const source = this.init.lookup(toHex(req.roomId, 'base16'))
      let messages: Uint8Array[] = []
      if (source != null && equals(req.auth, roomSyncAuth(source.keys, connection.remotePeer, this.components.peerId))) {
        const oldest = Date.now() - (this.init.maxAge ?? SYNC_MAX_AGE_MS)
        const limit = Math.min(req.limit > 0 ? req.limit : this.maxMessages, this.maxMessages)
        messages = await source.sealed(Math.max(Number(req.since), oldest), limit)
        this.stats.served++
      } else {
        this.stats.denied++
      }
      const out = pb.pb(SyncFrame)
      for (const message of messages) await out.write({ message: message as Uint8Array<ArrayBuffer> }, { signal })
      await out.write({ end: true }, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      this.stats.failed++
      this.log('sync stream from %p failed: %s', connection.remotePeer, err.name)
      stream.abort(err)
    }
  }

  async request (peer: PeerId, keys: RoomKeys, options: RoomSyncRequestOptions = {}): Promise<Uint8Array[]> {
    const signal = options.signal ?? AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const limit = Math.min(options.limit ?? this.maxMessages, this.maxMessages)
    const stream = await this.components.connectionManager.openStream(peer, ROOM_SYNC_PROTOCOL, { signal, runOnLimitedConnection: true })
    const pb = boundedPbStream(stream, MAX_ROOM_MESSAGE_BYTES + 16)
    try {
      await pb.write({
        roomId: keys.roomId as Uint8Array<ArrayBuffer>,
        auth: roomSyncAuth(keys, this.components.peerId, peer) as Uint8Array<ArrayBuffer>,
        since: BigInt(Math.max(0, Math.floor(options.since ?? 0))),
        limit
      }, SyncRequest, { signal })
      const frames = pb.pb(SyncFrame)
      const out: Uint8Array[] = []
      while (true) {
        const frame = await frames.read({ signal })
        if (frame.end === true) break
        if (frame.message == null || out.length >= limit) throw new ProtocolViolationError('unexpected sync frame')
        out.push(frame.message)
      }
      await stream.close({ signal })
      return out
    } catch (err: any) {
      stream.abort(err)
      throw err
    }
  }
}

export function roomSync (init: RoomSyncInit): (components: RoomSyncComponents) => RoomSync {
  return (components) => new DefaultRoomSync(components, init)
}
