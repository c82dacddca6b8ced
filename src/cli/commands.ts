/**
 * The slash commands, shared by the interactive terminal and `--json` mode. Each command returns
 * a typed result object; the JSON mode prints it as is, the terminal renders it for people.
 */
import { InvalidInputError } from '../errors.js'
import type { Chat, ContactInfo } from '../index.js'
import type { StoredMessage } from '../store/index.js'

export interface HistoryEntry {
  id: string
  from: string
  to: string
  direction: 'in' | 'out'
  text: string
  timestamp: number
  state?: string
}

export type CommandResult =
  | { type: 'contact', action: 'added' | 'removed', peerId: string, name: string, safetyCode?: string }
  | { type: 'contacts', contacts: Array<Omit<ContactInfo, 'addedAt'>> }
  | { type: 'sent', id: string, to: string, timestamp: number }
  | { type: 'history', peer: string, name?: string, messages: HistoryEntry[] }
  | { type: 'whoami', peerId: string, addresses: string[] }
  | { type: 'safety', peerId: string, name?: string, safetyCode: string }
  | { type: 'status', connections: number, contactsOnline: number, relayed: number, addresses: string[] }
  | { type: 'chat', peerId: string, name?: string }
  | { type: 'help', commands: Array<{ usage: string, description: string }> }
  | { type: 'quit' }
  | { type: 'none' }

export const COMMANDS: Array<{ usage: string, description: string }> = [
  { usage: '/add <peerId> [name]', description: 'add a contact by peer ID' },
  { usage: '/remove <name>', description: 'remove a contact (history is kept)' },
  { usage: '/contacts', description: 'list contacts with presence and safety codes' },
  { usage: '/msg <name|peerId> <text>', description: 'send a direct message' },
  { usage: '/chat <name|peerId>', description: 'talk to one contact: plain lines go to them' },
  { usage: '/history <name|peerId> [n]', description: 'show the last n messages (default 20)' },
  { usage: '/safety <name|peerId>', description: 'show the safety code to compare with a contact' },
  { usage: '/whoami', description: 'show your peer ID and addresses' },
  { usage: '/status', description: 'show connections' },
  { usage: '/help', description: 'this list' },
  { usage: '/quit', description: 'leave (waiting messages are kept and sent next time)' }
]

/** Splits the first `count` words off a line; the rest (with its spacing) is the last element. */
function words (rest: string, count: number): string[] {
  const out: string[] = []
  let s = rest.trimStart()
  while (out.length < count && s.length > 0) {
    const m = /^(\S+)\s*/.exec(s)
    if (m == null) break
    out.push(m[1])
    s = s.slice(m[0].length)
  }
  if (s.length > 0) out.push(s)
  return out
}

function historyEntry (chat: Chat, m: StoredMessage): HistoryEntry {
  const me = chat.peerId.toString()
  return {
    id: m.id,
    from: m.direction === 'in' ? m.peer : me,
    to: m.direction === 'in' ? me : m.peer,
    direction: m.direction,
    text: m.text,
    timestamp: m.timestamp,
    ...(m.state != null ? { state: m.state } : {})
  }
}

export interface CommandContext {
  /** the conversation plain lines go to, set by /chat */
  current?: string
}

export async function runCommand (chat: Chat, line: string, ctx: CommandContext = {}): Promise<CommandResult> {
  const trimmed = line.trim()
  if (trimmed.length === 0) return { type: 'none' }
  if (!trimmed.startsWith('/')) {
    if (ctx.current == null) throw new InvalidInputError('commands start with /; type /help, or /chat <name> to talk to someone')
    return await send(chat, ctx.current, line)
  }
  const m = /^\/(\S+)\s*([\s\S]*)$/.exec(trimmed)
  const cmd = m?.[1].toLowerCase() ?? ''
  const rest = m?.[2] ?? ''
  switch (cmd) {
    case 'add': {
      const [peer, name, extra] = words(rest, 2)
      if (peer == null || extra != null) throw new InvalidInputError('usage: /add <peerId> [name]')
      const c = await chat.addContact(peer, name)
      return { type: 'contact', action: 'added', peerId: c.peerId, name: c.name, safetyCode: c.safetyCode }
    }
    case 'remove': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /remove <name>')
      const c = await chat.removeContact(ref)
      if (ctx.current === c.peerId) ctx.current = undefined
      return { type: 'contact', action: 'removed', peerId: c.peerId, name: c.name }
    }
    case 'contacts': {
      const contacts = (await chat.contacts()).map(({ addedAt, ...c }) => c)
      return { type: 'contacts', contacts }
    }
    case 'msg': {
      const [ref, text] = words(rest, 1)
      if (ref == null || text == null) throw new InvalidInputError('usage: /msg <name|peerId> <text>')
      return await send(chat, ref, text)
    }
    case 'chat': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /chat <name|peerId>')
      const peer = chat.resolve(ref).toString()
      ctx.current = peer
      return { type: 'chat', peerId: peer, ...nameOf(chat, peer) }
    }
    case 'history': {
      const [ref, n, extra] = words(rest, 2)
      const limit = n == null ? 20 : Number(n)
      if (ref == null || extra != null || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new InvalidInputError('usage: /history <name|peerId> [n]   (n from 1 to 10000)')
      }
      const peer = chat.resolve(ref).toString()
      const messages = (await chat.history(peer, limit)).map(msg => historyEntry(chat, msg))
      return { type: 'history', peer, ...nameOf(chat, peer), messages }
    }
    case 'safety': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /safety <name|peerId>')
      const peer = chat.resolve(ref).toString()
      return { type: 'safety', peerId: peer, ...nameOf(chat, peer), safetyCode: chat.safetyCode(peer) }
    }
    case 'whoami':
      return { type: 'whoami', peerId: chat.peerId.toString(), addresses: chat.addresses() }
    case 'status': {
      const conns = chat.libp2p.getConnections()
      const online = (await chat.contacts()).filter(c => c.online).length
      return { type: 'status', connections: conns.length, contactsOnline: online, relayed: conns.filter(c => c.limits != null).length, addresses: chat.addresses() }
    }
    case 'help':
      return { type: 'help', commands: COMMANDS }
    case 'quit':
    case 'exit':
      return { type: 'quit' }
    default:
      throw new InvalidInputError(`unknown command /${cmd}; type /help`)
  }
}

function nameOf (chat: Chat, peer: string): { name?: string } {
  const name = chat.contactFor(peer)?.name
  return name != null ? { name } : {}
}

async function send (chat: Chat, ref: string, text: string): Promise<CommandResult> {
  const m = await chat.send(ref, text)
  return { type: 'sent', id: m.id, to: m.peer, timestamp: m.timestamp }
}
