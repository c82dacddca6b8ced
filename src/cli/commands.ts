/**
 * The slash commands, shared by the interactive terminal and `--json` mode. Each command returns
 * a typed result object; the JSON mode prints it as is, the terminal renders it for people.
 */
import { openAsBlob } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { CallError, InvalidInputError, UnknownContactError, UnknownRoomError } from '../errors.js'
import { looksLikePeerId } from '../contacts/index.js'
import type { BootstrapNodeStatus, CallRecord, Chat, ContactInfo, Diagnosis, FileTransfer, MessageRequest, RoomInfo } from '../index.js'
import type { StoredMessage } from '../store/index.js'

/** A file a message offered, as the history shows it. */
export interface HistoryFile {
  id: string
  name: string
  size: number
}

export interface HistoryEntry {
  id: string
  from: string
  to: string
  direction: 'in' | 'out'
  text: string
  timestamp: number
  state?: string
  file?: HistoryFile
}

/** The file a stored message offered, if the transfer is known here. */
function historyFile (chat: Chat, id: string | undefined): { file: HistoryFile } | Record<string, never> {
  const t = id != null ? chat.files.get(id) : undefined
  return t != null ? { file: { id: t.id, name: t.name, size: t.size } } : {}
}

export type CommandResult =
  | { type: 'contact', action: 'added' | 'removed', peerId: string, name: string, safetyCode?: string }
  | { type: 'contacts', contacts: Array<Omit<ContactInfo, 'addedAt'>> }
  | { type: 'requests', requests: MessageRequest[], blocked: string[] }
  | ({ type: 'diagnosis' } & Diagnosis)
  | { type: 'block', action: 'blocked' | 'unblocked', peerId: string, name?: string }
  | { type: 'sent', id: string, to: string, timestamp: number }
  | { type: 'history', peer: string, name?: string, messages: HistoryEntry[] }
  | { type: 'whoami', peerId: string, addresses: string[] }
  | { type: 'safety', peerId: string, name?: string, safetyCode: string }
  | { type: 'status', connections: number, peers: number, contactsOnline: number, relayed: number, addresses: string[], bootstrap: BootstrapNodeStatus[] }
  | { type: 'chat', peerId: string, name?: string }
  | { type: 'chat', room: string, roomId: string }
  | { type: 'chat', ended: true, peerId?: string, name?: string, room?: string }
  | { type: 'room', action: 'created' | 'joined' | 'left', name: string, roomId: string, invite: string, online: number }
  | { type: 'rooms', rooms: RoomInfo[] }
  | { type: 'said', room: string, id: string, timestamp: number }
  | { type: 'members', room: string, members: Array<{ peerId: string, name?: string, you?: true }> }
  | { type: 'room-history', room: string, messages: Array<{ id: string, from: string, name?: string, you?: true, text: string, timestamp: number, file?: HistoryFile }> }
  | { type: 'declined', id: string, peer: string, name?: string }
  | { type: 'calls', peer: string, name?: string, calls: CallRecord[] }
  | { type: 'file-sent', file: FileLine }
  | { type: 'files', conversation?: string, files: FileLine[] }
  | { type: 'file-save', file: FileLine }
  | { type: 'file-cancelled', file: FileLine }
  | { type: 'help', commands: Array<{ usage: string, description: string }> }
  | { type: 'quit' }
  | { type: 'none' }

/** A transfer as the terminal and `--json` show it: the thumbnail left out, the MIME type as `mime` (`type` names the JSON line). */
export type FileLine = Omit<FileTransfer, 'thumbnail' | 'type'> & { mime: string }

export function fileLine (t: FileTransfer): FileLine {
  const { thumbnail, type, ...rest } = t
  return { ...rest, mime: type }
}

export const COMMANDS: Array<{ usage: string, description: string }> = [
  { usage: '/add <peerId> [name]', description: 'add a contact by peer ID' },
  { usage: '/remove <name>', description: 'remove a contact (history is kept)' },
  { usage: '/contacts', description: 'list contacts with presence and safety codes' },
  { usage: '/requests', description: 'messages from people who are not contacts, and who is blocked' },
  { usage: '/accept <peerId> [name]', description: 'accept a message request: add them as a contact' },
  { usage: '/block <name|peerId>', description: 'refuse someone\'s connections and messages, and forget your conversation' },
  { usage: '/unblock <peerId>', description: 'let a blocked peer write to you again' },
  { usage: '/msg <name|peerId> <text>', description: 'send a direct message' },
  { usage: '/chat <name|peerId|#room>', description: 'talk to one contact or room: plain lines go there; /chat alone stops' },
  { usage: '/history <name|peerId> [n]', description: 'show the last n messages (default 20)' },
  { usage: '/send <name|peerId|room> <path>', description: 'offer a file: they fetch it from you, checked chunk by chunk (it stays where it is)' },
  { usage: '/files [name|peerId|room]', description: 'files sent and received (of one conversation), with their ids and progress' },
  { usage: '/save <id> [path]', description: 'fetch a file that waits for you (from a non-contact, or over --auto-fetch); with a path, also copy it there' },
  { usage: '/cancel <id>', description: 'stop a file transfer either way (a partial file is deleted)' },
  { usage: '/create-room <name>', description: 'make an encrypted room and print its invite link' },
  { usage: '/join <invite> [name]', description: 'join a room by invite link (optionally under another name)' },
  { usage: '/rooms', description: 'your rooms with members online and invite links' },
  { usage: '/say <room> <text>', description: 'send a message to a room' },
  { usage: '/members <room>', description: 'who is online in a room' },
  { usage: '/room-history <room> [n]', description: 'the last n messages of a room (default 20)' },
  { usage: '/leave <room>', description: 'leave a room and forget its messages' },
  { usage: '/decline', description: 'turn down the call that is ringing (answering needs the web app)' },
  { usage: '/calls <name|peerId> [n]', description: 'the last n calls and missed calls with someone (default 20)' },
  { usage: '/safety <name|peerId>', description: 'show the safety code to compare with a contact' },
  { usage: '/whoami', description: 'show your peer ID and addresses' },
  { usage: '/status', description: 'show connections and the bootstrap nodes' },
  { usage: '/diagnose [name|peerId]', description: 'why can\'t I reach someone? your NAT, relays, TURN, and the way to them' },
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
    ...(m.state != null ? { state: m.state } : {}),
    ...historyFile(chat, m.file)
  }
}

export interface CommandContext {
  /** the peer plain lines go to, set by /chat */
  current?: string
  /** or the room (its id) they are said in, set by /chat #room */
  room?: string
}

/** Does this line send a message (a plain line in a conversation, or /msg)? */
export function isSendLine (line: string, ctx: CommandContext): boolean {
  const trimmed = line.trim()
  if (trimmed.length === 0) return false
  return trimmed.startsWith('/') ? /^\/msg\s/i.test(trimmed) : ctx.current != null
}

export async function runCommand (chat: Chat, line: string, ctx: CommandContext = {}): Promise<CommandResult> {
  const trimmed = line.trim()
  if (trimmed.length === 0) return { type: 'none' }
  if (!trimmed.startsWith('/')) {
    if (ctx.room != null) return await say(chat, ctx.room, line)
    if (ctx.current == null) throw new InvalidInputError('commands start with /; type /help, or /chat <name> to talk to someone')
    return await send(chat, ctx.current, line)
  }
  const m = /^\/(\S+)\s*([\s\S]*)$/.exec(trimmed)
  const cmd = m?.[1].toLowerCase() ?? ''
  const rest = m?.[2] ?? ''
  switch (cmd) {
    case 'add':
    case 'accept': {
      const [peer, name, extra] = words(rest, 2)
      if (peer == null || extra != null) throw new InvalidInputError(`usage: /${cmd} <peerId> [name]`)
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
    case 'requests':
      return { type: 'requests', requests: chat.requests(), blocked: chat.blocked() }
    case 'block': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /block <name|peerId>')
      const name = chat.contactFor(ref)?.name
      const peer = chat.resolve(ref).toString()
      await chat.block(peer)
      if (ctx.current === peer) ctx.current = undefined
      return { type: 'block', action: 'blocked', peerId: peer, ...(name != null ? { name } : {}) }
    }
    case 'unblock': {
      const [peer, extra] = words(rest, 1)
      if (peer == null || extra != null) throw new InvalidInputError('usage: /unblock <peerId>')
      if (!await chat.unblock(peer)) throw new InvalidInputError(`${peer} is not blocked`)
      return { type: 'block', action: 'unblocked', peerId: chat.resolve(peer).toString() }
    }
    case 'msg': {
      const [ref, text] = words(rest, 1)
      if (ref == null || text == null) throw new InvalidInputError('usage: /msg <name|peerId> <text>')
      return await send(chat, ref, text)
    }
    case 'chat': {
      const [ref, extra] = words(rest, 1)
      if (extra != null) throw new InvalidInputError('usage: /chat <name|peerId|#room>, or /chat alone to stop')
      if (ref == null) return endChat(chat, ctx)
      // a room as it is shown (#crew), or by name as /send takes it when no contact has that name
      if (ref.startsWith('#') || !isPeerRef(chat, ref)) {
        const room = roomFor(chat, ref)
        ctx.current = undefined
        ctx.room = room.roomId
        return { type: 'chat', room: room.name, roomId: room.roomId }
      }
      const peer = chat.resolve(ref).toString()
      ctx.room = undefined
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
      // relayed: peers reached only through a relay
      const { connections, peers, relayed } = chat.connections()
      const online = (await chat.contacts()).filter(c => c.online).length
      return { type: 'status', connections, peers: peers.length, contactsOnline: online, relayed, addresses: chat.addresses(), bootstrap: chat.bootstrapStatus() }
    }
    case 'diagnose': {
      const [ref, extra] = words(rest, 1)
      if (extra != null) throw new InvalidInputError('usage: /diagnose [name|peerId]')
      return { type: 'diagnosis', ...await chat.diagnose(ref) }
    }
    case 'create-room': {
      const [name, extra] = words(rest, 1)
      if (name == null || extra != null) throw new InvalidInputError('usage: /create-room <name>')
      return { type: 'room', action: 'created', ...await chat.createRoom(name) }
    }
    case 'join': {
      const [invite, name, extra] = words(rest, 2)
      if (invite == null || extra != null) throw new InvalidInputError('usage: /join <invite> [name]')
      return { type: 'room', action: 'joined', ...await chat.joinRoom(invite, name) }
    }
    case 'leave': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /leave <room>')
      const left = await chat.leaveRoom(ref)
      if (ctx.room === left.roomId) ctx.room = undefined
      return { type: 'room', action: 'left', ...left }
    }
    case 'rooms':
      return { type: 'rooms', rooms: chat.listRooms() }
    case 'say': {
      const [ref, text] = words(rest, 1)
      if (ref == null || text == null) throw new InvalidInputError('usage: /say <room> <text>')
      return await say(chat, ref, text)
    }
    case 'members': {
      const [ref, extra] = words(rest, 1)
      if (ref == null || extra != null) throw new InvalidInputError('usage: /members <room>')
      const me = chat.peerId.toString()
      const members = chat.members(ref).map(peerId => ({ peerId, ...nameOf(chat, peerId), ...(peerId === me ? { you: true as const } : {}) }))
      return { type: 'members', room: chat.room(ref).name, members }
    }
    case 'room-history': {
      const [ref, n, extra] = words(rest, 2)
      const limit = n == null ? 20 : Number(n)
      if (ref == null || extra != null || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new InvalidInputError('usage: /room-history <room> [n]   (n from 1 to 10000)')
      }
      const me = chat.peerId.toString()
      const messages = (await chat.roomHistory(ref, limit)).map(m => ({
        id: m.id, from: m.author, ...nameOf(chat, m.author), ...(m.author === me ? { you: true as const } : {}), text: m.text, timestamp: m.timestamp, ...historyFile(chat, m.file)
      }))
      return { type: 'room-history', room: chat.room(ref).name, messages }
    }
    case 'decline': {
      const [id, extra] = words(rest, 1)
      if (extra != null) throw new InvalidInputError('usage: /decline')
      const ringing = chat.calls().filter(c => c.state === 'incoming' && (id == null || c.id === id))
      if (ringing.length === 0) throw new CallError('no call is ringing')
      const call = ringing[ringing.length - 1]
      await chat.decline(call.id)
      return { type: 'declined', id: call.id, peer: call.peer, ...nameOf(chat, call.peer) }
    }
    case 'call':
    case 'answer':
      throw new CallError('calls need the web app (npm run web): this terminal shows incoming and missed calls and can /decline them')
    case 'calls': {
      const [ref, n, extra] = words(rest, 2)
      const limit = n == null ? 20 : Number(n)
      if (ref == null || extra != null || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new InvalidInputError('usage: /calls <name|peerId> [n]   (n from 1 to 10000)')
      }
      const peer = chat.resolve(ref).toString()
      return { type: 'calls', peer, ...nameOf(chat, peer), calls: await chat.callHistory(peer, limit) }
    }
    case 'send': {
      const [ref, path] = words(rest, 1)
      if (ref == null || path == null) throw new InvalidInputError('usage: /send <name|peerId|room> <path>')
      const full = resolve(path.trim())
      const s = await stat(full).catch(() => undefined)
      if (s == null) throw new InvalidInputError(`no file ${path.trim()}`)
      if (!s.isFile()) throw new InvalidInputError(`${path.trim()} is not a file`)
      const t = await chat.sendFile(ref, { name: basename(full), blob: await openAsBlob(full), path: full })
      return { type: 'file-sent', file: fileLine(t) }
    }
    case 'files': {
      const [ref, extra] = words(rest, 1)
      if (extra != null) throw new InvalidInputError('usage: /files [name|peerId|room]')
      const conversation = ref == null ? undefined : conversationOf(chat, ref)
      return { type: 'files', ...(conversation != null ? { conversation } : {}), files: chat.files.list(conversation).map(fileLine) }
    }
    case 'save': {
      const [id, path] = words(rest, 1)
      if (id == null) throw new InvalidInputError('usage: /save <id> [path]')
      const t = chat.files.find(id)
      await chat.files.fetch(t.id, path != null ? { path: resolve(path.trim()) } : {})
      return { type: 'file-save', file: fileLine(chat.files.get(t.id) ?? t) }
    }
    case 'cancel': {
      const [id, extra] = words(rest, 1)
      if (id == null || extra != null) throw new InvalidInputError('usage: /cancel <id>')
      const t = chat.files.find(id)
      await chat.files.cancel(t.id)
      return { type: 'file-cancelled', file: fileLine(chat.files.get(t.id) ?? t) }
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

/** Leaves the /chat mode: plain lines are commands again. */
function endChat (chat: Chat, ctx: CommandContext): CommandResult {
  const room = chat.listRooms().find(r => r.roomId === ctx.room)?.name
  const was = room != null ? { room } : ctx.current != null ? { peerId: ctx.current, ...nameOf(chat, ctx.current) } : {}
  ctx.current = undefined
  ctx.room = undefined
  return { type: 'chat', ended: true, ...was }
}

/** A contact's or peer's ID, or a room's id. */
function conversationOf (chat: Chat, ref: string): string {
  if (isPeerRef(chat, ref)) return chat.resolve(ref).toString()
  return chat.room(ref).roomId
}

/** A contact's name or a peer ID, rather than a room's name. */
function isPeerRef (chat: Chat, ref: string): boolean {
  return chat.contactFor(ref) != null || looksLikePeerId(ref)
}

/** The room `#name` or `name` refers to; a bare name that is no room is said to be neither. */
function roomFor (chat: Chat, ref: string): RoomInfo {
  if (ref.startsWith('#')) return chat.room(ref.slice(1))
  try {
    return chat.room(ref)
  } catch (err: any) {
    if (err.name === UnknownRoomError.name) throw new UnknownContactError(`no contact or room named ${ref}; /contacts and /rooms list yours`)
    throw err
  }
}

function nameOf (chat: Chat, peer: string): { name?: string } {
  const name = chat.contactFor(peer)?.name
  return name != null ? { name } : {}
}

async function say (chat: Chat, ref: string, text: string): Promise<CommandResult> {
  const m = await chat.say(ref, text)
  return { type: 'said', room: chat.room(ref).name, id: m.id, timestamp: m.timestamp }
}

async function send (chat: Chat, ref: string, text: string): Promise<CommandResult> {
  const m = await chat.send(ref, text)
  return { type: 'sent', id: m.id, to: m.peer, timestamp: m.timestamp }
}
