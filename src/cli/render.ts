/**
 * Output for the terminal client. In `--json` mode every line on stdout is one JSON object and nothing
 * else is ever written there; in the interactive mode, lines are printed above the prompt so that
 * incoming messages never break what the user is typing, and every piece of text that came from the
 * network (names, messages, room names, errors) goes through terminal-safe.ts first: its control
 * characters and escape sequences are shown, never obeyed.
 */
import { styleText } from 'node:util'
import { fileLine } from './commands.js'
import { bootstrapName, callLine, capitalise, clip, label, progressLine, shortId, time } from './format.js'
import { formatBytes } from '../bytes.js'
import { bannerLines, resultLines } from './lines.js'
import type { CommandResult } from './commands.js'
import type { Paint, Style } from './format.js'
import type { BootstrapNodeStatus, CallInfo, CallRecord, Chat, FileTransfer, IncomingMessage, PresenceChange, RoomMessageEvent, StoredMessage, Unreachable } from '../index.js'
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline'
import type { Interface } from 'node:readline'
import { safeName, safeText } from './terminal-safe.js'

export interface RendererInit {
  json: boolean
  color: boolean
}

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
  /**
   * What happened while the client started (a contact came online, a message arrived): held until the
   * banner or the ready line has been printed, then printed after it, in order. Undefined once ready.
   */
  private early?: Array<() => void> = []

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

  private readonly paint: Paint = (style, text) => this.c(style, text)

  /**
   * JSON lines go out together once per turn of the event loop: stdout to a pipe is written synchronously,
   * and a write per line made a burst of messages cost a system call each.
   */
  private emit (obj: object): void {
    if (this.early != null) {
      this.early.push(() => { this.emit(obj) })
      return
    }
    this.unwritten.push(JSON.stringify(obj))
    if (this.unwritten.length === 1) setImmediate(() => { this.flush() })
  }

  /**
   * Writes the JSON lines not written yet (before the process exits, too), each encoded straight into
   * one buffer: joining a burst's lines into one string and encoding that took ten times as long (a
   * megabyte-sized string made and copied per turn).
   */
  flush (): void {
    if (this.unwritten.length === 0) return
    let size = 0
    for (const line of this.unwritten) size += 3 * line.length + 1
    const out = Buffer.allocUnsafe(size)
    let at = 0
    for (const line of this.unwritten) {
      at += out.write(line, at)
      out[at++] = 0x0a
    }
    this.unwritten = []
    process.stdout.write(out.subarray(0, at))
  }

  /**
   * Prints lines above the prompt, then redraws the prompt with what the user had typed. With `replace`
   * (a TTY's progress line), the progress line printed just before is overwritten.
   */
  private print (...lines: string[]): void {
    this.printOver(false, lines)
  }

  private printOver (replace: boolean, lines: string[]): void {
    if (this.early != null) {
      this.early.push(() => { this.printOver(replace, lines) })
      return
    }
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
    const early = this.early ?? []
    this.early = undefined
    if (this.json) {
      this.emit({ type: 'ready', peerId, addresses })
      for (const message of notices) this.emit({ type: 'notice', message })
      this.bootstrapAtStart(chat.bootstrapStatus())
      for (const say of early) say()
      return
    }
    process.stdout.write([...bannerLines(peerId, addresses, bootstrapCount, notices, this.paint), ''].join('\n'))
    this.bootstrapAtStart(chat.bootstrapStatus())
    for (const say of early) say()
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
      this.emit({ type: 'message', room: m.room, from: m.from, ...(m.name != null ? { name: m.name } : {}), id: m.id, text: m.text, timestamp: m.timestamp, ...(m.synced ? { synced: true } : {}), ...(m.file != null ? { file: m.file } : {}) })
      return
    }
    // a file with no words: its file-offer line says it
    if (m.file != null && m.text === '') return
    const who = m.name != null ? this.c(['bold', 'cyan'], safeName(m.name)) : this.c('yellow', shortId(m.from))
    this.print(`${this.c('dim', time(m.timestamp))} ${this.c('magenta', `#${safeName(m.room)}`)} ${who}: ${safeText(m.text)}`)
  }

  /** Someone offered a file; `fetching`: it comes without asking (a contact's, small enough). */
  fileOffer (t: FileTransfer, who: string | undefined, fetching: boolean, room?: string): void {
    if (this.json) {
      this.emit({ type: 'file-offer', ...fileLine(t), ...(who != null ? { fromName: who } : {}) })
      return
    }
    const from = t.room ? `${this.c('magenta', room != null ? `#${safeName(room)}` : 'a room')} ${label(who, t.from)}` : label(who, t.from)
    this.print(`${this.c('bold', '📎')} ${from} offers ${this.c('bold', safeName(t.name))} (${formatBytes(t.size)}) ${this.c('dim', `[${t.id.slice(0, 8)}]`)}` +
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
    this.print(this.c('green', `✓ ${safeName(t.name)} (${formatBytes(t.size)}) saved to ${safeName(t.path ?? '?')}`))
  }

  fileError (t: FileTransfer): void {
    if (this.json) {
      this.emit({ type: 'file-error', ...fileLine(t) })
      return
    }
    this.print(this.c('red', `✗ ${safeName(t.name)}: ${safeName(t.error ?? t.state)}`))
  }

  /** A message arrived; `file`: the name of the file it offered. */
  delivered (m: StoredMessage, name?: string, file?: string): void {
    if (this.json) {
      this.emit({ type: 'delivered', id: m.id, to: m.peer })
      return
    }
    const what = [safeName(clip(m.text)), file != null ? `📎 ${safeName(file)}` : ''].filter(s => s !== '').join(' ')
    this.print(this.c('green', `  ✓ delivered to ${label(name, m.peer)}: `) + this.c('dim', what))
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
      this.early = undefined // nothing started: what it held is of no interest
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
    const lines = resultLines(r, this.paint, this.color)
    if (lines.length > 0) this.print(...lines)
  }
}
