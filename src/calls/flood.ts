/** How often one peer may call us: more offers than that in a minute are answered busy and not kept. */

/** Calls one peer may place to us per minute; more are answered busy and not kept (a flood). */
export const MAX_OFFERS_PER_MINUTE = 10
/** Peers whose recent offers are remembered for that limit. */
const MAX_TRACKED_CALLERS = 1000

export class OfferLimit {
  /** when each peer's recent offers came */
  private readonly offers = new Map<string, number[]>()

  /** Counts an offer from a peer; false when it called too often in the last minute. */
  allow (peer: string): boolean {
    const now = Date.now()
    const recent = (this.offers.get(peer) ?? []).filter(t => t > now - 60_000)
    this.offers.delete(peer)
    if (this.offers.size >= MAX_TRACKED_CALLERS) this.offers.delete(this.offers.keys().next().value as string)
    const allowed = recent.length < MAX_OFFERS_PER_MINUTE
    if (allowed) recent.push(now)
    this.offers.set(peer, recent)
    return allowed
  }
}
