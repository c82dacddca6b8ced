/** What the bootstrap node stops holding for a peer once it has gone. */
import { logger } from '@libp2p/logger'
import { DHT_PROTOCOL } from '../src/constants.js'
import { dropReservation } from '../src/node/adapters/circuit-relay.js'
import type { BootstrapServices } from './index.js'
import type { IdentifyResult, Libp2p, PeerId } from '@libp2p/interface'

const log = logger('megachat:bootstrap')

/**
 * What the node holds for a peer that has gone (its last connection closed) and can no longer use.
 *
 * Its relay reservation: the relay cannot reach the peer any more, but the library keeps a
 * reservation until its TTL (2 h), so departed peers would fill the table. Clearing the old timer
 * first keeps it from deleting a fresh reservation when the peer comes back.
 *
 * A client's addresses: the DHT answers a lookup for any peer in the peer store, so a departed
 * client's dead addresses were the answer, and a contact who had gone offline looked found: the one
 * looking dialled addresses that could not answer (behind a NAT: waiting on dropped packets) instead of
 * hearing "not found". A DHT server's addresses stay: the routing table answers with them. A DHT server
 * is a peer that announced the DHT protocol in its last identify (the peer store's protocols will not
 * do: libp2p adds every protocol a peer opened a stream for, and clients query the DHT). The entry
 * itself stays, with its signed peer record, which identify compares when the peer comes back; a
 * provider without addresses is left out of answers. Returns a function that stops this.
 */
export function forgetDeparted (node: Libp2p<BootstrapServices>): () => void {
  const servers = new Set<string>()
  const onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    if (evt.detail.protocols.includes(DHT_PROTOCOL)) servers.add(evt.detail.peerId.toString())
    else servers.delete(evt.detail.peerId.toString())
  }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail
    dropReservation(node.services.relay, peer)
    if (servers.delete(peer.toString())) return
    void (async () => {
      const { addresses } = await node.peerStore.get(peer)
      // it may have come back meanwhile (a reloaded tab): then the addresses identify just gave are its own
      if (addresses.length > 0 && node.getConnections(peer).length === 0) await node.peerStore.patch(peer, { multiaddrs: [] })
    })().catch((err: Error) => { log.error('could not forget the addresses of %p: %e', peer, err) })
  }
  node.addEventListener('peer:identify', onIdentify)
  node.addEventListener('peer:disconnect', onDisconnect)
  return () => {
    node.removeEventListener('peer:identify', onIdentify)
    node.removeEventListener('peer:disconnect', onDisconnect)
  }
}
