/**
 * What MegaChat relies on of @libp2p/gossipsub beyond its public API, in one place; test/adapters.spec.ts
 * pins each of these against the real library and fails when a release changes them.
 *
 * This module imports gossipsub's types only: the web app's first load (lazy.ts, rooms) takes it in
 * without gossipsub, which a tab loads later.
 */
import type { GossipSub, TopicValidatorResult } from '@libp2p/gossipsub'

/**
 * gossipsub's TopicValidatorResult values. Its enum lives in the module that carries all of gossipsub,
 * so the values are repeated here (the spec checks they are still the enum's).
 */
export const Validation = {
  Accept: 'accept' as unknown as TopicValidatorResult,
  Ignore: 'ignore' as unknown as TopicValidatorResult,
  Reject: 'reject' as unknown as TopicValidatorResult
} as const

/**
 * The protocols gossipsub handles (its GossipsubIDv12/11/10 and FloodsubID constants), for the same
 * reason: the tab's stand-in announces them before gossipsub is loaded.
 */
export const GOSSIPSUB_PROTOCOLS = ['/meshsub/1.2.0', '/meshsub/1.1.0', '/meshsub/1.0.0']
export const FLOODSUB_PROTOCOL = '/floodsub/1.0.0'

/** The topics gossipsub tracks subscribers for now (its private `topics` map). */
export interface TrackedTopics {
  has(topic: string): boolean
  readonly size: number
}

/** gossipsub as this module reads it: private fields, so an upgrade that renames them fails the spec */
interface GossipSubInternals {
  allowedTopics: { has(topic: string): boolean } | null
  topics: Map<string, unknown>
}

/**
 * Makes `allow` decide, for every subscription a peer announces and every message it sends, whether
 * gossipsub takes it. gossipsub's own `allowedTopics` option is a set copied once at construction;
 * this replaces that set with a live check, the only way to change it after construction.
 */
export function filterTopics (gossipsub: GossipSub, allow: (topic: string, tracked: TrackedTopics) => boolean): void {
  const internals = gossipsub as unknown as GossipSubInternals
  const tracked: TrackedTopics = {
    has: (topic) => internals.topics.has(topic),
    get size () { return internals.topics.size }
  }
  internals.allowedTopics = { has: (topic: string) => allow(topic, tracked) }
}
