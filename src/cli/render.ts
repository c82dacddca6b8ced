/**
 * Output for the terminal client. In `--json` mode every line on stdout is one JSON object and nothing
 * else is ever written there; in the interactive mode, lines are printed above the prompt so that
 * incoming messages never break what the user is typing, and every piece of text that came from the
 * network (names, messages, room names, errors) goes through terminal-safe.ts first: its control
 * characters and escape sequences are shown, never obeyed.
 */
import { styleText } from 'node:util'
import { shortPeerId, shortPeerIds } from '../short-id.js'
import { fileLine } from './commands.js'
import type { CommandResult, FileLine, HistoryEntry } from './commands.js'
import type { BootstrapNodeStatus, CallInfo, CallRecord, Chat, Diagnosis, FileTransfer, IncomingMessage, PresenceChange, RoomMessageEvent, StoredMessage, Unreachable } from '../index.js'
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline'
import type { Interface } from 'node:readline'
import { safeName, safeText } from './terminal-safe.js'

type Style = Parameters<typeof styleText>[0]

export interface RendererInit {
  json: boolean
  color: boolean
}

const pad2 = (n: number): string => n.toString().padStart(2, '0')
const time = (ms: number): string => { const d = new Date(ms); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}` }
const day = (ms: number): string => new Date(ms).toDateString()
const shortId = (peer: string): string => safeName(shortPeerId(peer))
/** A contact's (or room member's) name made safe, or a short form of the peer ID for someone without one. */
const label = (name: string | undefined, peer: string): string => name != null ? safeName(name) : shortId(peer)
const clip = (text: string, n = 40): string => text.length > n ? `${text.slice(0, n - 1)}…` : text

export class Renderer {
  private readonly json: boolean
  private readonly color: boolean
  private rl?: Interface
  private promptText = '> '
  /** bootstrap nodes (by address) said to be unreachable, so that their coming back is said too */
  private readonly warned = new Set<string>()
  /** peers whose message request was explained already (the hint is shown once per person) */
  private readonly requestsShown = new Set<string>()
  /** the last thing printed was a progress line (on a TTY it is redrawn in place) */
  private progressShown = false
  /** the last tenth of each transfer said as a plain progress line (not a TTY) */
  private readonly tenths = new Map<string, number>()
  /** JSON lines to write at the end of this turn of the event loop */
  private unwritten: string[] = []

  constructor (init: RendererInit) {
    this.json = init.json
    this.color = init.color
    if (this.json) process.once('exit', () => { this.flush() })
  }

  attach (rl: Interface): void {
    this.rl = rl
    if (!this.json) rl.setPrompt(this.promptText)
  }

  private c (style: Style, text: string): string {
    return this.color ? styleText(style, text) : text
  }

  /**
   * JSON lines go out together once per turn of the event loop: stdout to a pipe is written synchronously,
   * and a write per line made a burst of messages cost a system call each.
   */
  private emit (obj: object): void {
    this.unwritten.push(JSON.stringify(obj))
    if (this.unwritten.length === 1) setImmediate(() => { this.flush() })
  }

  /** Writes the JSON lines not written yet (before the process exits, too). */
  flush (): void {
    if (this.unwritten.length === 0) return
    const text = this.unwritten.join('\n') + '\n'
    this.unwritten = []
    process.stdout.write(text)
  }

  /**
   * Prints lines above the prompt, then redraws the prompt with what the user had typed. With `replace`
   * (a TTY's progress line), the progress line printed just before is overwritten.
   */
  private print (...lines: string[]): void {
    this.printOver(false, lines)
  }

  private printOver (replace: boolean, lines: string[]): void {
    const tty = this.rl != null && process.stdout.isTTY === true
    if (tty && this.rl != null) {
      // the typed line may wrap over several rows: go up to its first row and clear from there down
      const rows = this.rl.getCursorPos().rows + (replace && this.progressShown ? 1 : 0)
      if (rows > 0) moveCursor(process.stdout, 0, -rows)
      cursorTo(process.stdout, 0)
      clearScreenDown(process.stdout)
    }
    this.progressShown = replace && tty
    process.stdout.write(lines.join('\n') + '\n')
    if (tty) this.rl?.prompt(true)
  }

  prompt (current?: string): void {
    if (this.json || this.rl == null) return
    this.promptText = current != null ? `${this.c('cyan', safeName(current))}> ` : '> '
    this.rl.setPrompt(this.promptText)
    this.rl.prompt()
  }

  /** The first lines, then `notices` (things the start did that the user should hear of). */
  ready (chat: Chat, bootstrapCount: number, notices: string[] = []): void {
    const peerId = chat.peerId.toString()
    const addresses = chat.addresses()
    if (this.json) {
      this.emit({ type: 'ready', peerId, addresses })
      for (const message of notices) this.emit({ type: 'notice', message })
      this.bootstrapAtStart(chat.bootstrapStatus())
      return
    }
    process.stdout.write([
      `${this.c('bold', 'MegaChat')} — end-to-end encrypted, peer to peer`,
      ...notices.map(n => this.c('green', n)),
      `Your peer ID (give it to friends): ${this.c(['bold', 'green'], peerId)}`,
      ...(addresses.length > 0 ? [this.c('dim', `Listening on ${addresses.length} address${addresses.length === 1 ? '' : 'es'}; /whoami lists them`)] : []),
      ...(bootstrapCount === 0
        ? [this.c('yellow', 'No bootstrap node configured: only peers that know your address (or --lan) can reach you. Start with --bootstrap <address>.')]
        : []),
      this.c('dim', 'Type /help for commands, /add <peerId> <name> to add a friend.'),
      ''
    ].join('\n'))
    this.bootstrapAtStart(chat.bootstrapStatus())
    this.prompt()
  }

  /** What is known at start: an address that cannot be dialled at all (the rest follow as events). */
  private bootstrapAtStart (all: BootstrapNodeStatus[]): void {
    for (const node of all) if (!node.connected && node.lastError != null) this.bootstrap(node, all)
  }

  /**
   * A bootstrap node's status changed. The JSON mode prints each change; people get a warning when a
   * node cannot be reached (once, not at every retry) and a line when it is reached after that.
   */
  bootstrap (node: BootstrapNodeStatus, all: BootstrapNodeStatus[]): void {
    if (this.json) {
      this.emit({ type: 'bootstrap', ...node })
      return
    }
    const where = bootstrapName(node.address)
    if (node.connected) {
      if (this.warned.delete(node.address)) this.print(this.c('green', `● bootstrap node ${where} is reachable now`))
      return
    }
    if (node.lastError == null || this.warned.has(node.address)) return
    this.warned.add(node.address)
    const others = all.filter(n => n.connected).length
    const next = node.peerId == null ? 'it is not used' : 'retrying'
    const consequence = others > 0
      ? `${others} other${others === 1 ? ' is' : 's are'} connected`
      : `contacts cannot be found until ${all.length === 1 ? 'it' : 'one'} is reachable`
    this.print(this.c('yellow', `warning: bootstrap node ${where} not reachable (${node.lastError}); ${next}. ${capitalise(consequence)}.`))
  }

  /** /diagnose, for people: the network first, then the way to the person asked about, step by step. */
  private diagnosisLines (d: Diagnosis): string[] {
    const lines = [this.c('bold', 'This device'), `  NAT: ${d.nat.summary}`]
    for (const s of d.nat.seen) lines.push(this.c('dim', `    STUN ${s.server}: ${s.mapped != null ? `sees you at ${s.mapped}` : s.error ?? 'no answer'}`))
    lines.push(...(d.bootstrap.length === 0 ? [this.c('yellow', '  no bootstrap node configured')] : d.bootstrap.map(b => `  bootstrap node ${bootstrapName(b.address)}: ${this.bootstrapState(b)}`)))
    lines.push(d.relays.length > 0 ? `  reachable through ${d.relays.length} relay address${d.relays.length === 1 ? '' : 'es'}` : '  no relay reservation: only reachable at your own addresses')
    for (const r of d.relays) lines.push(this.c('dim', `    ${shortPeerIds(r)}`))
    lines.push(d.turn.length > 0 ? `  TURN for calls: ${d.turn.join(', ')}` : '  TURN for calls: none (no bootstrap node of yours runs --turn)')
    for (const a of d.advice) lines.push(this.c('yellow', `  ! ${a}`))
    const p = d.peer
    if (p == null) return lines
    lines.push(this.c('bold', label(p.name, p.peerId)), `  ${safeText(p.summary)}`)
    for (const c of p.connections) lines.push(this.c('dim', `    ${c.path} (${c.direction}) ${shortPeerIds(c.address)}`))
    const t = p.lastAttempt
    if (t != null && p.connections.length === 0) {
      lines.push(`  last attempt ${ago(t.startedAt)}${t.tookMs != null ? `, ${t.tookMs} ms` : ''}: ${t.outcome}`)
      for (const s of t.steps) lines.push(this.c(s.ok ? 'dim' : 'yellow', `    +${String(s.at).padStart(5)} ms ${s.what}${s.addr != null ? ` ${shortPeerIds(s.addr)}` : ''}: ${s.detail}`))
    }
    return lines
  }

  incoming (m: IncomingMessage): void {
    if (this.json) {
      this.emit({ type: 'message', from: m.peer, ...(m.name != null ? { name: m.name } : {}), id: m.id, text: m.text, timestamp: m.timestamp, ...(m.request === true ? { request: true } : {}), ...(m.file != null ? { file: m.file } : {}) })
      return
    }
    // a file with no words: its file-offer line says it
    if (m.file != null && m.text === '') return
    const who = m.name != null ? this.c(['bold', 'cyan'], safeName(m.name)) : this.c('yellow', `message request from ${shortId(m.peer)}`)
    const lines = [`${this.c('dim', time(m.timestamp))} ${who}: ${safeText(m.text)}`]
    // the way to answer a request, once per person and session
    if (m.request === true && !this.requestsShown.has(m.peer)) {
      if (this.requestsShown.size >= 1000) this.requestsShown.clear()
      this.requestsShown.add(m.peer)
      lines.push(this.c('dim', `  not in your contacts: /accept ${m.peer} <name> to add them, /block ${m.peer} to refuse them`))
    }
    this.print(...lines)
  }

  roomMessage (m: RoomMessageEvent & { name?: string }): void {
    if (this.json) {
      this.emit({ type: 'message', room: m.room, from: m.from, ...(m.name != null ? { name: m.name } : {}), id: m.id, text: m.text, timestamp: m.timestamp, ...(m.synced ? { synced: true } : {}) })
      return
    }
    const who = m.name != null ? this.c(['bold', 'cyan'], safeName(m.name)) : this.c('yellow', shortId(m.from))
    this.print(`${this.c('dim', time(m.timestamp))} ${this.c('magenta', `#${safeName(m.room)}`)} ${who}: ${safeText(m.text)}`)
  }

  /** Someone offered a file; `fetching`: it comes without asking (a contact's, small enough). */
  fileOffer (t: FileTransfer, who: string | undefined, fetching: boolean): void {
    if (this.json) {
      this.emit({ type: 'file-offer', ...fileLine(t), ...(who != null ? { fromName: who } : {}) })
      return
    }
    const from = t.room ? `${label(who, t.from)} in a room` : label(who, t.from)
    this.print(`${this.c('bold', '📎')} ${from} offers ${this.c('bold', safeName(t.name))} (${size(t.size)}) ${this.c('dim', `[${t.id.slice(0, 8)}]`)}` +
      (fetching ? this.c('dim', ' — fetching') : this.c('yellow', ` — /save ${t.id.slice(0, 8)} to fetch it`)))
  }

  /** A transfer moved on: one redrawn line on a TTY, a plain line every tenth otherwise. */
  fileProgress (t: FileTransfer): void {
    if (this.json) {
      this.emit({ type: 'file-progress', ...fileLine(t) })
      return
    }
    const line = progressLine(t)
    if (process.stdout.isTTY === true && this.rl != null) {
      this.printOver(true, [this.c('dim', line)])
      return
    }
    const tenth = t.size === 0 ? 10 : Math.floor(t.bytes / t.size * 10)
    if (this.tenths.get(t.id) === tenth && (t.state === 'fetching' || t.state === 'serving')) return
    this.tenths.set(t.id, tenth)
    if (this.tenths.size > 1000) this.tenths.delete(this.tenths.keys().next().value as string)
    this.print(this.c('dim', line))
  }

  fileDone (t: FileTransfer): void {
    if (this.json) {
      this.emit({ type: 'file-done', ...fileLine(t) })
      return
    }
    this.print(this.c('green', `✓ ${safeName(t.name)} (${size(t.size)}) saved to ${safeName(t.path ?? '?')}`))
  }

  fileError (t: FileTransfer): void {
    if (this.json) {
      this.emit({ type: 'file-error', ...fileLine(t) })
      return
    }
    this.print(this.c('red', `✗ ${safeName(t.name)}: ${safeName(t.error ?? t.state)}`))
  }

  delivered (m: StoredMessage, name?: string): void {
    if (this.json) {
      this.emit({ type: 'delivered', id: m.id, to: m.peer })
      return
    }
    this.print(this.c('green', `  ✓ delivered to ${label(name, m.peer)}: `) + this.c('dim', safeName(clip(m.text))))
  }

  presence (p: PresenceChange): void {
    if (this.json) {
      this.emit({ type: 'presence', peerId: p.peerId, name: p.name, online: p.online, ...(p.lastSeen != null ? { lastSeen: p.lastSeen } : {}) })
      return
    }
    const name = safeName(p.name)
    this.print(p.online ? this.c('green', `● ${name} is online`) : this.c('dim', `○ ${name} went offline`))
  }

  unreachable (u: Unreachable, name?: string): void {
    if (this.json) {
      this.emit({ type: 'unreachable', to: u.peerId, pending: u.pending, why: u.why, reason: u.reason })
      return
    }
    const who = label(name, u.peerId)
    const why = u.why === 'not-found'
      ? 'was not found on the network (offline, or not announced yet)'
      : u.why === 'not-dialable' ? 'was found but could not be connected to' : 'could not be delivered to'
    this.print(this.c('yellow', `  ⋯ ${who} ${why}; ${u.pending} message${u.pending === 1 ? '' : 's'} will be sent when ${who} can be reached`))
  }

  /** A call rings here (or stopped ringing); other call states need no line in a terminal. */
  call (c: CallInfo, name?: string): void {
    if (c.direction !== 'in' || c.state !== 'incoming') return
    if (this.json) {
      this.emit({ type: 'call', id: c.id, from: c.peer, ...(name != null ? { name } : {}), video: c.video, state: c.state })
      return
    }
    const who = name != null ? this.c(['bold', 'cyan'], safeName(name)) : this.c('yellow', `${shortId(c.peer)} (not a contact)`)
    this.print(`${this.c('bold', '☎')} ${who} is calling you (${c.video ? 'video' : 'voice'}). ` +
      this.c('dim', 'Answering needs the web app; /decline turns it down.'))
  }

  /** A call is over and in the history. */
  callEnded (r: CallRecord, name?: string): void {
    if (this.json) {
      this.emit({ type: 'call-ended', id: r.id, peer: r.peer, ...(name != null ? { name } : {}), direction: r.direction, video: r.video, outcome: r.outcome, ...(r.reason != null ? { reason: r.reason } : {}), timestamp: r.timestamp, endedAt: r.endedAt })
      return
    }
    const line = callLine(r, label(name, r.peer))
    this.print(r.outcome === 'missed' && r.direction === 'in' ? this.c('yellow', line) : this.c('dim', line))
  }

  error (message: string, name?: string): void {
    if (this.json) {
      this.emit({ type: 'error', message, ...(name != null ? { name } : {}) })
      return
    }
    this.print(this.c('red', `✗ ${safeName(message)}`))
  }

  /** A start-up failure: one line, then the process exits. */
  fatal (message: string, name?: string): void {
    if (this.json) {
      this.emit({ type: 'error', message, ...(name != null ? { name } : {}) })
      this.flush()
    }
    process.stderr.write(`megachat: ${safeName(message)}\n`)
  }

  bye (): void {
    if (this.json) {
      this.emit({ type: 'stopped' })
      this.flush()
    } else process.stdout.write('\nBye. Waiting messages are kept and go out next time.\n')
  }

  result (r: CommandResult): void {
    if (r.type === 'none') return
    if (this.json) {
      this.emit(r)
      return
    }
    switch (r.type) {
      case 'contact':
        if (r.action === 'added') {
          this.print(`Added ${this.c('bold', safeName(r.name))}. Safety code: ${this.c('bold', r.safetyCode ?? '')}`,
            this.c('dim', '  Compare it with your friend (in person or on a call); the same code means no impostor.'))
        } else {
          this.print(`Removed ${safeName(r.name)}. Your conversation stays in the history.`)
        }
        return
      case 'requests':
        if (r.requests.length === 0) this.print(this.c('dim', 'No message requests.'))
        this.print(...r.requests.map(q => `${this.c('yellow', q.peerId)} ${q.messages} message${q.messages === 1 ? '' : 's'}, the last ${ago(q.lastAt)}`))
        if (r.requests.length > 0) this.print(this.c('dim', '  /history <peerId> reads them; /accept <peerId> <name> or /block <peerId> answers'))
        if (r.blocked.length > 0) this.print(`Blocked: ${r.blocked.join(', ')}`, this.c('dim', '  /unblock <peerId> lets one write again'))
        return
      case 'block':
        this.print(r.action === 'blocked'
          ? `Blocked ${label(r.name, r.peerId)}: their connections and messages are refused, and your conversation is deleted. /unblock ${r.peerId} undoes it.`
          : `Unblocked ${r.peerId}: they can write to you again (as a message request).`)
        return
      case 'contacts':
        if (r.contacts.length === 0) {
          this.print(this.c('dim', 'No contacts yet. /add <peerId> <name>'))
          return
        }
        this.print(...r.contacts.map(c => {
          const state = c.online ? this.c('green', '● online ') : this.c('dim', `○ ${c.lastSeen != null ? `seen ${ago(c.lastSeen)}` : 'offline'}`)
          return `${this.c('bold', safeName(c.name).padEnd(16))} ${state.padEnd(this.color ? 30 : 20)} ${this.c('dim', c.peerId)}\n${' '.repeat(17)}${this.c('dim', `safety code ${c.safetyCode}`)}`
        }))
        return
      case 'sent':
        this.print(this.c('dim', '  … sending'))
        return
      case 'history':
        this.print(...this.historyLines(r.messages, label(r.name, r.peer)))
        return
      case 'whoami':
        this.print(`Peer ID: ${this.c('bold', r.peerId)}`, ...r.addresses.map(a => this.c('dim', `  ${a}`)))
        return
      case 'safety':
        this.print(`Safety code with ${label(r.name, r.peerId)}: ${this.c('bold', r.safetyCode)}`)
        return
      case 'status':
        this.print(`${r.connections} connection${r.connections === 1 ? '' : 's'} (${r.relayed} via relay), ${r.contactsOnline} contact${r.contactsOnline === 1 ? '' : 's'} online`,
          ...(r.bootstrap.length === 0 ? [this.c('yellow', 'no bootstrap node configured')] : r.bootstrap.map(b => `bootstrap node ${bootstrapName(b.address)}: ${this.bootstrapState(b)}`)))
        return
      case 'diagnosis':
        this.print(...this.diagnosisLines(r))
        return
      case 'chat':
        this.print(this.c('dim', `Talking to ${label(r.name, r.peerId)}: plain lines are sent to them. /chat another name to switch.`))
        return
      case 'room':
        if (r.action === 'left') {
          this.print(`Left #${safeName(r.name)}.`)
        } else {
          this.print(`${r.action === 'created' ? 'Created' : 'Joined'} ${this.c('magenta', `#${safeName(r.name)}`)} (${r.online} online). Invite link — share it only with people who should read the room:`,
            `  ${this.c('bold', r.invite)}`)
        }
        return
      case 'rooms':
        if (r.rooms.length === 0) {
          this.print(this.c('dim', 'No rooms yet. /create-room <name> or /join <invite>'))
          return
        }
        this.print(...r.rooms.map(room => `${this.c('magenta', `#${safeName(room.name)}`.padEnd(18))} ${room.online} online   ${this.c('dim', room.invite)}`))
        return
      case 'said':
        return
      case 'members':
        this.print(`#${safeName(r.room)}: ${r.members.length} online`, ...r.members.map(m => `  ${m.you === true ? this.c('bold', 'you') : label(m.name, m.peerId)}  ${this.c('dim', m.peerId)}`))
        return
      case 'room-history':
        if (r.messages.length === 0) {
          this.print(this.c('dim', `No messages in #${safeName(r.room)} yet.`))
          return
        }
        this.print(...r.messages.map(m => `${this.c('dim', `${day(m.timestamp).slice(4, 10)} ${time(m.timestamp)}`)} ${m.you === true ? this.c('bold', 'you') : this.c(['bold', 'cyan'], label(m.name, m.from))}: ${safeText(m.text)}`))
        return
      case 'declined':
        this.print(`Declined the call from ${label(r.name, r.peer)}.`)
        return
      case 'calls':
        if (r.calls.length === 0) {
          this.print(this.c('dim', `No calls with ${label(r.name, r.peer)} yet.`))
          return
        }
        this.print(...r.calls.map(c => callLine(c, label(r.name, r.peer))))
        return
      case 'file-sent':
        this.print(this.c('dim', `  offered ${safeName(r.file.name)} (${size(r.file.size)}) [${r.file.id.slice(0, 8)}]; it is fetched from you while you are online`))
        return
      case 'files':
        if (r.files.length === 0) {
          this.print(this.c('dim', 'No files yet. /send <name> <path>'))
          return
        }
        this.print(...r.files.map(f => fileListLine(f)))
        return
      case 'file-save':
        this.print(this.c('dim', r.file.state === 'done' ? `  ${safeName(r.file.name)} is at ${safeName(r.file.path ?? '?')}` : `  fetching ${safeName(r.file.name)}…`))
        return
      case 'file-cancelled':
        this.print(`Cancelled ${safeName(r.file.name)}.`)
        return
      case 'help':
        this.print(...r.commands.map(c => `  ${this.c('bold', c.usage.padEnd(28))} ${c.description}`))
    }
  }

  private bootstrapState (b: BootstrapNodeStatus): string {
    if (b.connected) return this.c('green', 'connected')
    if (b.lastError == null) return 'connecting…'
    const next = b.peerId == null ? 'not used' : b.nextRetryAt != null ? `next try in ${Math.max(1, Math.round((b.nextRetryAt - Date.now()) / 1000))} s` : 'trying now'
    return this.c('yellow', `not reachable (${b.lastError}); ${next}`)
  }

  private historyLines (messages: HistoryEntry[], name: string): string[] {
    if (messages.length === 0) return [this.c('dim', `No messages with ${name} yet.`)]
    const lines: string[] = []
    let lastDay = ''
    for (const m of messages) {
      const d = day(m.timestamp)
      if (d !== lastDay) {
        lines.push(this.c('dim', `── ${d} ──`))
        lastDay = d
      }
      const who = m.direction === 'out' ? this.c('bold', 'you') : this.c(['bold', 'cyan'], name)
      const mark = m.direction === 'out' ? (m.state === 'delivered' ? this.c('green', ' ✓') : this.c('yellow', ' ⋯')) : ''
      lines.push(`${this.c('dim', time(m.timestamp))} ${who}: ${safeText(m.text)}${mark}`)
    }
    return lines
  }
}

/** "12:03 missed video call from alice", "12:05 voice call with bob, 3 min" */
function callLine (r: CallRecord, who: string): string {
  const kind = r.video ? 'video call' : 'voice call'
  const when = `${day(r.timestamp).slice(4, 10)} ${time(r.timestamp)}`
  const why = r.reason != null ? ` (${r.reason})` : ''
  const out = r.direction === 'out'
  switch (r.outcome) {
    case 'answered': {
      const secs = r.connectedAt != null ? Math.round((r.endedAt - r.connectedAt) / 1000) : 0
      return `${when} ${kind} ${out ? 'to' : 'from'} ${who}, ${secs < 60 ? `${secs} s` : `${Math.round(secs / 60)} min`}`
    }
    case 'missed': return out ? `${when} ${who} did not answer your ${kind}` : `${when} missed ${kind} from ${who}${why}`
    case 'declined': return out ? `${when} ${who} declined your ${kind}` : `${when} you declined a ${kind} from ${who}`
    case 'busy': return `${when} ${who} was busy`
    case 'failed': return `${when} ${kind} ${out ? 'to' : 'from'} ${who} failed${why}`
  }
}

/** A bootstrap address with its peer ID shortened: /ip4/203.0.113.7/tcp/4001/p2p/12D3…a1b2c3 */
function bootstrapName (address: string): string {
  return address.replace(/\/p2p\/([^/]{12,})$/, (_, id: string) => `/p2p/${shortId(id)}`)
}

/** 1.5 MiB, 300 kB … */
function size (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`
}

/** "↓ photo.jpg  45%  12.3 MiB/s  0:05 left" */
function progressLine (t: FileTransfer): string {
  const pct = t.size === 0 ? 100 : Math.floor(t.bytes / t.size * 100)
  const arrow = t.direction === 'in' ? '↓' : '↑'
  const speed = t.rate > 0 ? `  ${size(Math.round(t.rate))}/s` : ''
  const secs = t.rate > 0 ? Math.ceil((t.size - t.bytes) / t.rate) : undefined
  const left = secs != null && t.state === 'fetching' ? `  ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')} left` : ''
  const state = t.state === 'fetching' || t.state === 'serving' ? '' : `  (${t.state}${t.error != null ? `: ${t.error}` : ''})`
  return `  ${arrow} ${safeName(clip(t.name))}  ${pct}%${speed}${left}${safeName(state)}`
}

function fileListLine (f: FileLine): string {
  const pct = f.size === 0 ? 100 : Math.floor(f.bytes / f.size * 100)
  const where = f.path != null ? `  ${safeName(f.path)}` : ''
  return `  ${f.id.slice(0, 8)}  ${f.direction === 'in' ? '↓' : '↑'} ${safeName(clip(f.name)).padEnd(40)} ${size(f.size).padStart(10)}  ${f.state}${f.state === 'done' || f.state === 'serving' ? '' : ` ${pct}%`}${where}${f.error != null ? `  ${safeName(f.error)}` : ''}`
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)

function ago (ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return new Date(ms).toLocaleDateString()
}
