/**
 * Finding a room's members: each member announces itself as a provider under the room's DHT key and
 * dials the others announced there. Members who have been in a room for a while look only every
 * ANNOUNCE_INTERVAL_MS, so whoever arrives does the finding:
 *
 * - a round at once on entering (joining, or starting with the room), then at EARLY_DISCOVERY_MS;
 * - while no other member is online, again after a wait that doubles from LONELY_MIN_MS to
 *   LONELY_MAX_MS (a member who was alone looks again soon when the last other member goes);
 * - otherwise every ANNOUNCE_INTERVAL_MS, which also renews the announcement.
 *
 * A round announces, lists the providers, and dials those not connected: every one of them, up to
 * MAX_DIALS_PER_ROUND, in random order with the ones that failed lately last (provider records of
 * members who left stay in the DHT for up to two days and must not crowd out the ones online). The
 * dials are spread over DIAL_SPREAD_MS each, and a member that connected to us meanwhile is not
 * dialled: members who find each other at once (joining together) then mostly make one connection,
 * not two. Rounds of one room never overlap. Every wait is jittered ±25%.
 */
import { logger } from '@libp2p/logger'
import type { ChatLibp2p } from '../node/types.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'

const log = logger('megachat:rooms:discovery')

/** How often members re-announce themselves in the DHT and look for each other when others are online. */
export const ANNOUNCE_INTERVAL_MS = 2 * 60_000
/** After entering a room, members are looked for at once and again this long after (provider records take a moment to spread). */
export const EARLY_DISCOVERY_MS = [1_000, 3_000, 10_000, 30_000]
/** While no other member is online, the wait between rounds doubles from this... */
export const LONELY_MIN_MS = 2_000
/** ...up to this. */
export const LONELY_MAX_MS = 60_000
/** Longest round: a DHT query that has not answered by then is given up until the next. */
const ROUND_TIMEOUT_MS = 30_000
/** Most providers looked at and most members dialled per round. */
const MAX_PROVIDERS_PER_ROUND = 64
const MAX_DIALS_PER_ROUND = 16
/** Each dial of a round waits up to this much longer than the one before it (random). */
const DIAL_SPREAD_MS = 25
/** A member whose dial failed this recently is dialled after the others. */
const FAILED_RECENTLY_MS = 10 * 60_000
const MAX_FAILED = 1024

export interface DiscoveryInit {
  libp2p: Pick<ChatLibp2p, 'peerId' | 'contentRouting' | 'getConnections'>
  /** connects to a member the way the chat reaches contacts */
  reach(peer: PeerId, addrs?: Multiaddr[]): Promise<unknown>
  /** members of the room online now, including yourself */
  online(roomId: string): number
  signal: AbortSignal
}

interface Entered {
  name: string
  key: CID
  enteredAt: number
  lonelyDelay: number
  timer?: ReturnType<typeof setTimeout>
  running: boolean
}

const jitter = (ms: number): number => ms * (0.75 + Math.random() * 0.5)

export class RoomDiscovery {
  private readonly init: DiscoveryInit
  private readonly rooms = new Map<string, Entered>()
  /** peer -> when a dial to it last failed */
  private readonly failed = new Map<string, number>()

  constructor (init: DiscoveryInit) {
    this.init = init
    init.signal.addEventListener('abort', () => { this.stop() }, { once: true })
  }

  /** Starts finding the members of a room: a round now, and on the schedule above. */
  enter (roomId: string, key: CID, name: string): void {
    this.leave(roomId)
    const room: Entered = { name, key, enteredAt: Date.now(), lonelyDelay: LONELY_MIN_MS, running: false }
    this.rooms.set(roomId, room)
    void this.run(roomId, room)
  }

  leave (roomId: string): void {
    const room = this.rooms.get(roomId)
    if (room == null) return
    clearTimeout(room.timer)
    this.rooms.delete(roomId)
  }

  /** The room's last other member went: look again soon, and more often while alone. */
  alone (roomId: string): void {
    const room = this.rooms.get(roomId)
    if (room == null) return
    room.lonelyDelay = LONELY_MIN_MS
    if (!room.running) this.schedule(roomId, room, LONELY_MIN_MS)
  }

  stop (): void {
    for (const roomId of [...this.rooms.keys()]) this.leave(roomId)
  }

  private schedule (roomId: string, room: Entered, delay: number): void {
    clearTimeout(room.timer)
    room.timer = setTimeout(() => { void this.run(roomId, room) }, jitter(delay))
    room.timer.unref?.()
  }

  private async run (roomId: string, room: Entered): Promise<void> {
    if (this.rooms.get(roomId) !== room || room.running || this.init.signal.aborted) return
    room.running = true
    try {
      await this.round(room)
    } finally {
      room.running = false
    }
    if (this.rooms.get(roomId) !== room || this.init.signal.aborted) return
    this.schedule(roomId, room, this.nextDelay(roomId, room))
  }

  private nextDelay (roomId: string, room: Entered): number {
    const since = Date.now() - room.enteredAt
    const early = EARLY_DISCOVERY_MS.find(t => t > since)
    if (early != null) return early - since
    if (this.init.online(roomId) > 1) return ANNOUNCE_INTERVAL_MS
    const delay = room.lonelyDelay
    room.lonelyDelay = Math.min(2 * room.lonelyDelay, LONELY_MAX_MS)
    return delay
  }

  /** Announces us under the room's key, lists the members announced there and dials the ones not connected. */
  private async round (room: Entered): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(ROUND_TIMEOUT_MS), this.init.signal])
    const { libp2p } = this.init
    const announced = libp2p.contentRouting.provide(room.key, { signal })
      .catch((err: any) => { log('announce of %s failed: %s', room.name, err.message) })
    const found: Array<{ id: PeerId, multiaddrs: Multiaddr[] }> = []
    try {
      for await (const provider of libp2p.contentRouting.findProviders(room.key, { signal })) {
        if (provider.id.equals(libp2p.peerId) || libp2p.getConnections(provider.id).length > 0) continue
        found.push(provider)
        if (found.length >= MAX_PROVIDERS_PER_ROUND) break
      }
    } catch (err: any) {
      log('looking for members of %s failed: %s', room.name, err.message)
    }
    const now = Date.now()
    const failedLately = (p: PeerId): boolean => now - (this.failed.get(p.toString()) ?? -Infinity) < FAILED_RECENTLY_MS
    const order = found
      .map(p => ({ p, rank: (failedLately(p.id) ? 1 : 0) + Math.random() }))
      .sort((a, b) => a.rank - b.rank)
      .slice(0, MAX_DIALS_PER_ROUND)
    const spread = DIAL_SPREAD_MS * order.length
    for (const { p } of order) setTimeout(() => { this.dial(p) }, Math.random() * spread).unref?.()
    log('%s: %d members not connected found, %d to dial', room.name, found.length, order.length)
    await announced
  }

  private dial (p: { id: PeerId, multiaddrs: Multiaddr[] }): void {
    if (this.init.signal.aborted || this.init.libp2p.getConnections(p.id).length > 0) return
    const id = p.id.toString()
    void this.init.reach(p.id, p.multiaddrs).then(
      () => { this.failed.delete(id) },
      () => {
        this.failed.delete(id)
        this.failed.set(id, Date.now())
        if (this.failed.size > MAX_FAILED) this.failed.delete(this.failed.keys().next().value as string)
      })
  }
}
