/** The views of several lines the terminal client prints: the banner, lists, a conversation, a diagnosis, each command's result. */
import { shortPeerIds } from '../short-id.js'
import { ago, bootstrapName, callLine, day, fileListLine, label, time } from './format.js'
import { formatBytes } from '../bytes.js'
import { safeName, safeText } from './terminal-safe.js'
import type { CommandResult, HistoryEntry, HistoryFile } from './commands.js'
import type { BootstrapNodeStatus, Diagnosis } from '../index.js'
import type { Paint } from './format.js'

/** The first lines at start, with `notices` (things the start did that the user should hear of). */
export function bannerLines (peerId: string, addresses: string[], bootstrapCount: number, notices: string[], paint: Paint): string[] {
  return [
    `${paint('bold', 'MegaChat')} — end-to-end encrypted, peer to peer`,
    ...notices.map(n => paint('green', n)),
    `Your peer ID (give it to friends): ${paint(['bold', 'green'], peerId)}`,
    ...(addresses.length > 0 ? [paint('dim', `Listening on ${addresses.length} address${addresses.length === 1 ? '' : 'es'}; /whoami lists them`)] : []),
    ...(bootstrapCount === 0
      ? [paint('yellow', 'No bootstrap node configured: only peers that know your address (or --lan) can reach you. Start with --bootstrap <address>, or put it in config.json in your data directory.')]
      : []),
    paint('dim', 'Type /help for commands, /add <peerId> <name> to add a friend.')
  ]
}

type Contacts = Extract<CommandResult, { type: 'contacts' }>['contacts']
type RoomHistory = Extract<CommandResult, { type: 'room-history' }>['messages']

/** /contacts: each with whether it is online, its peer ID and safety code (`color`: styled text is wider). */
export function contactLines (contacts: Contacts, paint: Paint, color: boolean): string[] {
  if (contacts.length === 0) return [paint('dim', 'No contacts yet. /add <peerId> <name>')]
  return contacts.map(c => {
    const state = c.online ? paint('green', '● online ') : paint('dim', `○ ${c.lastSeen != null ? `seen ${ago(c.lastSeen)}` : 'offline'}`)
    return `${paint('bold', safeName(c.name).padEnd(16))} ${state.padEnd(color ? 30 : 20)} ${paint('dim', c.peerId)}\n${' '.repeat(17)}${paint('dim', `safety code ${c.safetyCode}`)}`
  })
}

/** A room's history, a line per message. */
export function roomHistoryLines (room: string, messages: RoomHistory, paint: Paint): string[] {
  if (messages.length === 0) return [paint('dim', `No messages in #${safeName(room)} yet.`)]
  return messages.map(m => `${paint('dim', `${day(m.timestamp).slice(4, 10)} ${time(m.timestamp)}`)} ${m.you === true ? paint('bold', 'you') : paint(['bold', 'cyan'], label(m.name, m.from))}: ${withFile(m, paint)}`)
}

/** A message's text, and the file it offered (a file alone has no text). */
function withFile (m: { text: string, file?: HistoryFile }, paint: Paint): string {
  const file = m.file != null ? `${paint('bold', '📎')} ${safeName(m.file.name)} (${formatBytes(m.file.size)}) ${paint('dim', `[${m.file.id.slice(0, 8)}]`)}` : ''
  return [safeText(m.text), file].filter(s => s !== '').join(' ')
}

/** /diagnose, for people: the network first, then the way to the person asked about, step by step. */
export function diagnosisLines (d: Diagnosis, paint: Paint): string[] {
  const lines = [paint('bold', 'This device'), `  NAT: ${d.nat.summary}`]
  for (const s of d.nat.seen) lines.push(paint('dim', `    STUN ${s.server}: ${s.mapped != null ? `sees you at ${s.mapped}` : s.error ?? 'no answer'}`))
  lines.push(...(d.bootstrap.length === 0 ? [paint('yellow', '  no bootstrap node configured')] : d.bootstrap.map(b => `  bootstrap node ${bootstrapName(b.address)}: ${bootstrapState(b, paint)}`)))
  lines.push(d.relays.length > 0 ? `  reachable through ${d.relays.length} relay address${d.relays.length === 1 ? '' : 'es'}` : '  no relay reservation: only reachable at your own addresses')
  for (const r of d.relays) lines.push(paint('dim', `    ${shortPeerIds(r)}`))
  for (const r of d.reservations) lines.push(paint('dim', `    reservation on ${shortPeerIds(r.relay)} until ${time(r.expires)}, renews ${r.renews > Date.now() ? `at ${time(r.renews)}` : 'now'}`))
  lines.push(d.turn.length > 0 ? `  TURN for calls: ${d.turn.join(', ')}` : '  TURN for calls: none (no bootstrap node of yours runs --turn)')
  for (const a of d.advice) lines.push(paint('yellow', `  ! ${a}`))
  const p = d.peer
  if (p == null) return lines
  lines.push(paint('bold', label(p.name, p.peerId)), `  ${safeText(p.summary)}`)
  for (const c of p.connections) lines.push(paint('dim', `    ${c.path} (${c.direction}) ${shortPeerIds(c.address)}`))
  const t = p.lastAttempt
  if (t != null && p.connections.length === 0) {
    lines.push(`  last attempt ${ago(t.startedAt)}${t.tookMs != null ? `, ${t.tookMs} ms` : ''}: ${t.outcome}`)
    for (const s of t.steps) lines.push(paint(s.ok ? 'dim' : 'yellow', `    +${String(s.at).padStart(5)} ms ${s.what}${s.addr != null ? ` ${shortPeerIds(s.addr)}` : ''}: ${s.detail}`))
  }
  return lines
}

/** A bootstrap node's state in a few words: connected, connecting, or why not and when it is tried next. */
export function bootstrapState (b: BootstrapNodeStatus, paint: Paint): string {
  if (b.connected) return paint('green', 'connected')
  if (b.lastError == null) return 'connecting…'
  const next = b.peerId == null ? 'not used' : b.nextRetryAt != null ? `next try in ${Math.max(1, Math.round((b.nextRetryAt - Date.now()) / 1000))} s` : 'trying now'
  return paint('yellow', `not reachable (${b.lastError}); ${next}`)
}

/** A conversation, a line per message, with a line at each new day. */
export function historyLines (messages: HistoryEntry[], name: string, paint: Paint): string[] {
  if (messages.length === 0) return [paint('dim', `No messages with ${name} yet.`)]
  const lines: string[] = []
  let lastDay = ''
  for (const m of messages) {
    const d = day(m.timestamp)
    if (d !== lastDay) {
      lines.push(paint('dim', `── ${d} ──`))
      lastDay = d
    }
    const who = m.direction === 'out' ? paint('bold', 'you') : paint(['bold', 'cyan'], name)
    const mark = m.direction === 'out' ? (m.state === 'delivered' ? paint('green', ' ✓') : paint('yellow', ' ⋯')) : ''
    lines.push(`${paint('dim', time(m.timestamp))} ${who}: ${withFile(m, paint)}${mark}`)
  }
  return lines
}

/**
 * The lines the interactive terminal prints for a command's result (in --json mode the result itself is
 * the line). Text from the network goes through terminal-safe.ts.
 */
export function resultLines (r: CommandResult, paint: Paint, color: boolean): string[] {
  const out: string[] = []
  switch (r.type) {
    case 'contact':
      if (r.action === 'added') {
        out.push(`Added ${paint('bold', safeName(r.name))}. Safety code: ${paint('bold', r.safetyCode ?? '')}`,
          paint('dim', '  Compare it with your friend (in person or on a call); the same code means no impostor.'))
      } else {
        out.push(`Removed ${safeName(r.name)}. Your conversation stays in the history.`)
      }
      return out
    case 'requests':
      if (r.requests.length === 0) out.push(paint('dim', 'No message requests.'))
      out.push(...r.requests.map(q => `${paint('yellow', q.peerId)} ${q.messages} message${q.messages === 1 ? '' : 's'}, the last ${ago(q.lastAt)}`))
      if (r.requests.length > 0) out.push(paint('dim', '  /history <peerId> reads them; /accept <peerId> <name> or /block <peerId> answers'))
      if (r.blocked.length > 0) out.push(`Blocked: ${r.blocked.join(', ')}`, paint('dim', '  /unblock <peerId> lets one write again'))
      return out
    case 'block':
      out.push(r.action === 'blocked'
        ? `Blocked ${label(r.name, r.peerId)}: their connections and messages are refused, and your conversation is deleted. /unblock ${r.peerId} undoes it.`
        : `Unblocked ${r.peerId}: they can write to you again (as a message request).`)
      return out
    case 'contacts':
      out.push(...contactLines(r.contacts, paint, color))
      return out
    case 'sent':
      out.push(paint('dim', '  … sending'))
      return out
    case 'history':
      out.push(...historyLines(r.messages, label(r.name, r.peer), paint))
      return out
    case 'whoami':
      out.push(`Peer ID: ${paint('bold', r.peerId)}`, ...r.addresses.map(a => paint('dim', `  ${a}`)))
      return out
    case 'safety':
      out.push(`Safety code with ${label(r.name, r.peerId)}: ${paint('bold', r.safetyCode)}`)
      return out
    case 'status':
      out.push(`${r.connections} connection${r.connections === 1 ? '' : 's'} to ${r.peers} peer${r.peers === 1 ? '' : 's'} (${r.relayed} only via relay), ${r.contactsOnline} contact${r.contactsOnline === 1 ? '' : 's'} online`,
        ...(r.bootstrap.length === 0 ? [paint('yellow', 'no bootstrap node configured')] : r.bootstrap.map(b => `bootstrap node ${bootstrapName(b.address)}: ${bootstrapState(b, paint)}`)))
      return out
    case 'diagnosis':
      out.push(...diagnosisLines(r, paint))
      return out
    case 'chat':
      if ('ended' in r) {
        const was = r.room != null ? `#${safeName(r.room)}` : r.peerId != null ? label(r.name, r.peerId) : undefined
        out.push(paint('dim', `${was != null ? `Stopped talking ${r.room != null ? 'in' : 'to'} ${was}` : 'Not talking to anyone'}: plain lines are not sent; /chat <name|#room> starts again.`))
      } else if ('room' in r) {
        out.push(paint('dim', `Talking in ${paint('magenta', `#${safeName(r.room)}`)}: plain lines are said in the room. /chat another name to switch, /chat alone to stop.`))
      } else {
        out.push(paint('dim', `Talking to ${label(r.name, r.peerId)}: plain lines are sent to them. /chat another name to switch, /chat alone to stop.`))
      }
      return out
    case 'room':
      if (r.action === 'left') {
        out.push(`Left #${safeName(r.name)}.`)
      } else {
        out.push(`${r.action === 'created' ? 'Created' : 'Joined'} ${paint('magenta', `#${safeName(r.name)}`)} (${r.online} online). Invite link — share it only with people who should read the room:`,
          `  ${paint('bold', r.invite)}`)
      }
      return out
    case 'rooms':
      if (r.rooms.length === 0) {
        out.push(paint('dim', 'No rooms yet. /create-room <name> or /join <invite>'))
        return out
      }
      out.push(...r.rooms.map(room => `${paint('magenta', `#${safeName(room.name)}`.padEnd(18))} ${room.online} online   ${paint('dim', room.invite)}`))
      return out
    case 'said':
      out.push(paint('dim', `  ✓ sent to #${safeName(r.room)}`))
      return out
    case 'members':
      out.push(`#${safeName(r.room)}: ${r.members.length} online`, ...r.members.map(m => `  ${m.you === true ? paint('bold', 'you') : label(m.name, m.peerId)}  ${paint('dim', m.peerId)}`))
      return out
    case 'room-history':
      out.push(...roomHistoryLines(r.room, r.messages, paint))
      return out
    case 'declined':
      out.push(`Declined the call from ${label(r.name, r.peer)}.`)
      return out
    case 'calls':
      if (r.calls.length === 0) {
        out.push(paint('dim', `No calls with ${label(r.name, r.peer)} yet.`))
        return out
      }
      out.push(...r.calls.map(c => callLine(c, label(r.name, r.peer))))
      return out
    case 'file-sent':
      out.push(paint('dim', `  offered ${safeName(r.file.name)} (${formatBytes(r.file.size)}) [${r.file.id.slice(0, 8)}]; it is fetched from you while you are online`))
      return out
    case 'files':
      if (r.files.length === 0) {
        out.push(paint('dim', 'No files yet. /send <name> <path>'))
        return out
      }
      out.push(...r.files.map(f => fileListLine(f)))
      return out
    case 'file-save':
      out.push(paint('dim', r.file.state === 'done' ? `  ${safeName(r.file.name)} is at ${safeName(r.file.path ?? '?')}` : `  fetching ${safeName(r.file.name)}…`))
      return out
    case 'file-cancelled':
      out.push(`Cancelled ${safeName(r.file.name)}.`)
      return out
    case 'help': {
      const width = Math.max(...r.commands.map(c => c.usage.length))
      out.push(...r.commands.map(c => `  ${paint('bold', c.usage.padEnd(width))}  ${c.description}`))
    }
  }
  return out
}
