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
import type { ComponentLogger, Logger, PeerStore, Startable, Topology } from '@libp2p/interface'
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
export async function tellTopologies (components: ConnectedPeersComponents, topologies: RegisteredTopology[], log: Logger): Promise<boolean> {
  let any = false
  const protocolsOf = new Map<string, string[]>()
  const told = topologies.map(() => new Set<string>())
  for (const connection of components.connectionManager.getConnections()) {
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

/**
 * A service that, once the node has started, tells the topologies of `protocols` of the peers that
 * were identified before the topologies were registered (see the top of this file).
 */
export function catchUpTopologies (protocols: string[]): (components: CatchUpComponents) => Startable {
  return (components) => new TopologyCatchUp(components, protocols)
}
