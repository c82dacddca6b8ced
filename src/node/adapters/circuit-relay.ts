/**
 * What the bootstrap node relies on of @libp2p/circuit-relay-v2's server beyond its public API;
 * test/adapters.spec.ts pins it against the real library.
 */
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { PeerId } from '@libp2p/interface'

/**
 * Ends `peer`'s reservation now. The server has no call for it: its `reservations` map (public, typed
 * for reading) is the store itself, and each reservation's signal deletes the entry when the TTL runs
 * out. The signal's timer is cleared first, so that it cannot delete a fresh reservation the peer
 * makes when it comes back. Returns whether there was one.
 */
export function dropReservation (relay: CircuitRelayService, peer: PeerId): boolean {
  const reservation = relay.reservations.get(peer)
  if (reservation == null) return false
  reservation.signal.clear()
  relay.reservations.delete(peer)
  return true
}
