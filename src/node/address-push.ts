/**
 * Tells connected peers of a new listen address at once: identify push when a transport starts or stops
 * listening, a relay reservation above all.
 *
 * The bootstrap node answers lookups with the addresses a peer last pushed to it. libp2p's address
 * manager waits 1 s after a transport starts listening before it updates the peer's own record (a fixed
 * debounce, there to make one update of the addresses that come together at start), and identify push
 * goes out on that update, after its own debounce. So for a second or more after a client's relay
 * reservation, a lookup found only its private addresses, which nobody outside its router can dial: a
 * contact who had just come online was reached one lookup retry later (the NAT lab's first DM took
 * ~1.05 s in most runs). identify push builds its message from the address manager's current addresses,
 * not from that record, so pushing on the transport's own event carries the relay address at once.
 * Public APIs only: the 'transport:listening' and 'transport:close' events, and IdentifyPush.push().
 */
import type { IdentifyPush } from '@libp2p/identify'
import type { Libp2pEvents, TypedEventTarget } from '@libp2p/interface'

export interface AddressPushComponents {
  events: TypedEventTarget<Libp2pEvents>
}

/** Makes `push` (the node's identify push service) run whenever a transport starts or stops listening. */
export function pushOnListen<T extends Pick<IdentifyPush, 'push'>> (components: AddressPushComponents, push: T): T {
  const send = (): void => {
    push.push().catch(() => {}) // it logs its own failures; the address manager's update pushes again
  }
  components.events.addEventListener('transport:listening', send)
  components.events.addEventListener('transport:close', send)
  return push
}
