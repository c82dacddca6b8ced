/**
 * libp2p tells a protocol's topologies of a peer once: when identify with that peer completes. A
 * topology registered after that never hears of the peer (the registrar does not look back).
 *
 * A client dials its bootstrap nodes as it starts, and the services start side by side, so the
 * bootstrap node's identify can complete before kad-dht has registered its topology (its start waits
 * on peer-store writes first). The DHT then never learns of the one DHT server it is connected to: its
 * routing table stays empty for the life of the process and every lookup waits for a peer that never
 * comes ("not found in time"). Measured with the terminal client before this module: 7 of 30 fresh
 * clients, each for as long as it ran. `catchUpTopologies` tells the topologies registered during
 * start of the peers identified before them, once everything has started; the web app's late
 * services (lazy.ts) hand over the peers connected before they load the same way.
 */
import type { ComponentLogger, Connection, Libp2pEvents, Logger, PeerId, PeerStore, Startable, Topology, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export interface RegisteredTopology {
  protocol: string
  topology: Topology
}

export interface ConnectedPeersComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
}

/**
 * Tells each topology of the peers connected now that speak its protocol, by the registrar's own
 * rules (limited connections only to topologies that ask for them; a topology's filter is honoured and
 * updated). A peer may hear twice if identify told it meanwhile: topologies take that (kad-dht finds
 * the peer in its table; filtered ones are skipped). Resolves true when any topology was told.
 */
export async function tellTopologies (components: ConnectedPeersComponents, topologies: RegisteredTopology[], log: Logger, only?: PeerId): Promise<boolean> {
  let any = false
  const protocolsOf = new Map<string, string[]>()
  const told = topologies.map(() => new Set<string>())
  // unlimited connections first: the one a topology hears of is the one its streams go on
  const connections = components.connectionManager.getConnections(only).sort((a, b) => (a.limits == null ? 0 : 1) - (b.limits == null ? 0 : 1))
  for (const connection of connections) {
    if (connection.status !== 'open') continue
    const peer = connection.remotePeer
    const key = peer.toString()
    let protocols = protocolsOf.get(key)
    if (protocols == null) {
      protocols = await components.peerStore.get(peer).then(p => p.protocols, () => [] as string[])
      protocolsOf.set(key, protocols)
    }
    for (const [i, { protocol, topology }] of topologies.entries()) {
      if (told[i].has(key) || !protocols.includes(protocol)) continue
      if (connection.limits != null && topology.notifyOnLimitedConnection !== true) continue
      if (topology.filter?.has(peer) === true) continue
      topology.filter?.add(peer)
      told[i].add(key)
      any = true
      await Promise.resolve(topology.onConnect?.(peer, connection)).catch((err: Error) => { log.error('could not tell a topology of %p: %e', peer, err) })
    }
  }
  return any
}

export interface CatchUpComponents extends ConnectedPeersComponents {
  registrar: Registrar
  logger: ComponentLogger
}

class TopologyCatchUp implements Startable {
  private readonly log: Logger

  constructor (private readonly components: CatchUpComponents, private readonly protocols: string[]) {
    this.log = components.logger.forComponent('megachat:topologies')
  }

  readonly [Symbol.toStringTag] = '@megachat/topology-catch-up'

  start (): void {}

  /** every service has registered its topologies by now (libp2p runs afterStart once all have started) */
  afterStart (): void {
    const registrar = this.components.registrar
    const topologies = this.protocols.flatMap(protocol => registrar.getTopologies(protocol).map(topology => ({ protocol, topology })))
    tellTopologies(this.components, topologies, this.log)
      .then(told => { if (told) this.log('told the topologies of %s of peers identified before they were registered', this.protocols.join(', ')) })
      .catch((err: Error) => { this.log.error('could not catch the topologies up: %e', err) })
  }

  stop (): void {}
}

export interface RepairComponents extends CatchUpComponents {
  events: TypedEventTarget<Libp2pEvents>
}

/**
 * gossipsub opens its streams to a peer on the connection it was told of, and forgets them when that
 * connection goes (a stream that fails makes it forget the peer and its subscriptions too). libp2p tells it
 * of a peer on identify only, so with another connection to the peer still open nothing brings the streams
 * back: a room member stopped hearing (and seeing) another until one of them reconnected. It happens
 * whenever a pair loses one of two connections: the relayed one after a WebRTC upgrade, at the relay's
 * limits, a NAT rebinding. So when a connection closes and the peer has another one open, the
 * topologies of `protocols` are told of the peer again on it (gossipsub keeps the streams it still has and
 * opens the ones it lost, sending its subscriptions on them).
 */
class TopologyRepair implements Startable {
  private readonly log: Logger

  constructor (private readonly components: RepairComponents, private readonly protocols: string[]) {
    this.log = components.logger.forComponent('megachat:topologies')
    this.onClose = this.onClose.bind(this)
  }

  readonly [Symbol.toStringTag] = '@megachat/topology-repair'

  start (): void {
    this.components.events.addEventListener('connection:close', this.onClose)
  }

  stop (): void {
    this.components.events.removeEventListener('connection:close', this.onClose)
  }

  private onClose (evt: CustomEvent<Connection>): void {
    const peer = evt.detail.remotePeer
    if (!this.components.connectionManager.getConnections(peer).some(c => c.status === 'open')) return
    const topologies = this.protocols.flatMap(protocol => this.components.registrar.getTopologies(protocol).map(topology => ({ protocol, topology })))
    tellTopologies(this.components, topologies, this.log, peer)
      .then(told => { if (told) this.log('told the topologies of %s of %p again: a connection to it closed, another is open', this.protocols.join(', '), peer) })
      .catch((err: Error) => { this.log.error('could not tell the topologies of %p again: %e', peer, err) })
  }
}

/** A service that tells `protocols`' topologies of a peer again on its remaining connection when one closes (above). */
export function repairTopologies (protocols: string[]): (components: RepairComponents) => Startable {
  return (components) => new TopologyRepair(components, protocols)
}

/**
 * A service that, once the node has started, tells the topologies of `protocols` of the peers that
 * were identified before the topologies were registered (see the top of this file).
 */
export function catchUpTopologies (protocols: string[]): (components: CatchUpComponents) => Startable {
  return (components) => new TopologyCatchUp(components, protocols)
}
