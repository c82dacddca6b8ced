/**
 * The features behind a Chat, for this project's tests and benchmarks (counters, the store, the dial
 * policy). Not part of the package's surface: package.json exports only index.ts, which does not
 * re-export this.
 */
import type { ChatFeatures } from './features.js'

const features = new WeakMap<object, ChatFeatures>()

/** Called by the Chat constructor. */
export function register (chat: object, parts: ChatFeatures): void {
  features.set(chat, parts)
}

/** The features of a Chat (read-only use: tests and benchmarks). */
export function internals (chat: object): ChatFeatures {
  const parts = features.get(chat)
  if (parts == null) throw new Error('not a Chat')
  return parts
}
