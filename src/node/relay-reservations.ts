/**
 * When the node's relay reservations expire and when they are renewed, for the diagnosis.
 *
 * The circuit-relay transport keeps its reservations to itself. What it shows is a keep-alive tag on
 * each relay in the peer store whose time to live is the reservation's lifetime, so the tag's expiry is
 * the reservation's; it renews a reservation 5 minutes before it expires (at the earliest 30 s after
 * making it). Both are the library's behaviour, not its API: this file is the one place that relies on
 * them, and test/relay-reservations.spec.ts fails if either changes.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerStore } from '@libp2p/interface'

/** the tag the transport puts on a relay it holds a reservation on */
export const RELAY_KEEP_ALIVE_TAG = 'keep-alive-circuit-relay'
/** how long before expiry the transport renews a reservation */
export const RENEW_BEFORE_MS = 5 * 60_000

export interface ReservationInfo {
  /** the relay's peer ID */
  relay: string
  /** when the reservation runs out (ms since the epoch), unless renewed */
  expires: number
  /** when the transport renews it (ms since the epoch); in the past when a renewal is due or under way */
  renews: number
}

/** The relays named in our circuit addresses (`…/p2p/<relay>/p2p-circuit…`). */
export function relaysOf (addresses: string[]): string[] {
  const out = new Set<string>()
  for (const a of addresses) {
    const m = /\/p2p\/([^/]+)\/p2p-circuit/.exec(a)
    if (m != null) out.add(m[1])
  }
  return [...out]
}

/** The reservation on each relay of `addresses` whose expiry the peer store knows. */
export async function relayReservations (peerStore: PeerStore, addresses: string[]): Promise<ReservationInfo[]> {
  const out: ReservationInfo[] = []
  for (const relay of relaysOf(addresses)) {
    try {
      const peer = await peerStore.get(peerIdFromString(relay))
      const expiry = (peer.tags.get(RELAY_KEEP_ALIVE_TAG) as { expiry?: bigint | number } | undefined)?.expiry
      if (expiry == null) continue
      const expires = Number(expiry)
      out.push({ relay, expires, renews: expires - RENEW_BEFORE_MS })
    } catch {
      // not in the peer store (any more): nothing to say about it
    }
  }
  return out
}
