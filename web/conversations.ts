/**
 * The messages of every conversation and what has been read: a signal per conversation (made when its
 * first message comes), so that a message re-renders only the views of its own conversation.
 */
import { computed, signal } from '@preact/signals'
import { withDelivered, withMessage } from './messages.js'
import type { ReadonlySignal, Signal } from '@preact/signals'
import type { ConversationKey, UiMessage } from './messages.js'

const LAST_READ_KEY = 'megachat:last-read'
const NO_MESSAGES: readonly UiMessage[] = []

export class Conversations {
  private readonly lists = signal<ReadonlyMap<ConversationKey, Signal<readonly UiMessage[]>>>(new Map())
  /** when each conversation was last read (our clock), kept in localStorage */
  private readonly lastRead: Signal<Readonly<Record<string, number>>>

  readonly totalUnread: ReadonlySignal<number> = computed(() => {
    let n = 0
    for (const key of this.lists.value.keys()) n += this.unread(key)
    return n
  })

  constructor () {
    let lastRead = {}
    try {
      lastRead = JSON.parse(localStorage.getItem(LAST_READ_KEY) ?? '{}')
    } catch {}
    this.lastRead = signal(lastRead)
  }

  messagesOf (key: ConversationKey): readonly UiMessage[] {
    return this.lists.value.get(key)?.value ?? NO_MESSAGES
  }

  lastOf (key: ConversationKey): UiMessage | undefined {
    const list = this.messagesOf(key)
    return list[list.length - 1]
  }

  unread (key: ConversationKey): number {
    const since = this.lastRead.value[key] ?? 0
    // a call counts when it was missed; one that was answered or declined was seen
    return this.messagesOf(key).filter(m => !m.mine && m.at > since && (m.call == null || m.call.outcome === 'missed')).length
  }

  /** Adds a message once (by id), in conversation order; false when it changed nothing. */
  add (key: ConversationKey, m: UiMessage): boolean {
    let list = this.lists.peek().get(key)
    if (list == null) {
      list = signal(NO_MESSAGES)
      this.lists.value = new Map(this.lists.peek()).set(key, list)
    }
    const before = list.peek()
    const after = withMessage(before, m)
    if (after === before) return false
    list.value = after
    return true
  }

  delivered (key: ConversationKey, id: string): void {
    const list = this.lists.peek().get(key)
    if (list != null) list.value = withDelivered(list.peek(), id)
  }

  forget (key: ConversationKey): void {
    const lists = new Map(this.lists.peek())
    lists.delete(key)
    this.lists.value = lists
  }

  markRead (key: ConversationKey): void {
    const last = this.lists.peek().get(key)?.peek().reduce((t, m) => Math.max(t, m.at), 0) ?? 0
    const lastRead = { ...this.lastRead.peek(), [key]: Math.max(Date.now(), last) }
    this.lastRead.value = lastRead
    try {
      localStorage.setItem(LAST_READ_KEY, JSON.stringify(lastRead))
    } catch {}
  }
}
