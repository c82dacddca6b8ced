/**
 * The order in which libp2p dials one peer's addresses (its `connectionManager.addressSorter`).
 *
 * libp2p's own order puts a WebRTC address signalled through a relay (`…/p2p-circuit/webrtc`) before the
 * plain relay address, because `Circuit.exactMatch` does not match it. A dial by peer ID then waits for ICE
 * (a second or more through two home routers, up to its timeout where no direct path exists) before it
 * takes the relay, which answers in a round trip. Every dial to one peer joins one queue entry, so that
 * wait was the first message's too. Here WebRTC addresses come after all others; the dial policy
 * (reach.ts) still upgrades a relayed connection to WebRTC in the background.
 */
import { circuitRelayAddressesLast, loopbackAddressLast, publicAddressesFirst, reliableTransportsFirst } from '@libp2p/utils'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import type { Address } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

function webRTCLast (a: Multiaddr, b: Multiaddr): number {
  return Number(WebRTC.matches(a)) - Number(WebRTC.matches(b))
}

/** A compare function for Array.prototype.sort, as libp2p's AddressSorter is. */
export function addressOrder (a: Address, b: Address): -1 | 0 | 1 {
  return Math.sign(
    loopbackAddressLast(a.multiaddr, b.multiaddr) ||
    publicAddressesFirst(a.multiaddr, b.multiaddr) ||
    webRTCLast(a.multiaddr, b.multiaddr) ||
    circuitRelayAddressesLast(a.multiaddr, b.multiaddr) ||
    Number(b.isCertified) - Number(a.isCertified) ||
    reliableTransportsFirst(a.multiaddr, b.multiaddr)) as -1 | 0 | 1
}
