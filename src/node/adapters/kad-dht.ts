/**
 * What MegaChat relies on of @libp2p/kad-dht beyond its public API; test/adapters.spec.ts pins it
 * against the real library. Types only, so that a tab's first load does not take kad-dht in.
 */

/**
 * kad-dht's routing table as a lookup waits on it: its size (public, on SingleKadDHT) and its
 * 'peer:add' event (not in any exported type).
 */
export interface RoutingTableView extends EventTarget {
  readonly size: number
}

/** The routing table of a DHT that kad-dht made, or undefined for anything else. */
export function routingTableOf (dht: object): RoutingTableView | undefined {
  const table = (dht as { routingTable?: unknown }).routingTable
  return table instanceof EventTarget && typeof (table as { size?: unknown }).size === 'number' ? table as RoutingTableView : undefined
}
