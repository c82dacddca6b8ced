/**
 * Passphrase questions on the terminal: answers are not echoed, a new passphrase is typed twice and
 * may not be empty, a wrong one may be typed again. The streams are parameters, so tests drive it
 * without a terminal.
 */
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { PassphraseRequiredError } from '../errors.js'
import { newPassphraseProblem } from '../identity/passphrase.js'
import type { Interface } from 'node:readline'

export interface PromptStreams {
  input: NodeJS.ReadableStream
  /** where questions and explanations go (stderr: stdout may be JSON) */
  output: NodeJS.WritableStream
  /** input is a terminal: its echo is muted and Ctrl-C ends the questions */
  terminal: boolean
}

/** Questions whose answers are not shown, read through one readline until `close()`. */
export class HiddenPrompt {
  private readonly rl: Interface
  private readonly lines: AsyncIterator<string>
  private readonly output: NodeJS.WritableStream

  constructor (streams: PromptStreams) {
    this.output = streams.output
    // what readline echoes (the typed characters) goes nowhere; questions are written to output directly
    const muted = new Writable({ write (_chunk, _encoding, callback) { callback() } })
    this.rl = createInterface({ input: streams.input, output: muted, terminal: streams.terminal })
    // Ctrl-C: no more answers, which ends the questions with one line
    this.rl.on('SIGINT', () => { this.rl.close() })
    this.lines = this.rl[Symbol.asyncIterator]()
  }

  /** Prints one line. */
  say (line: string): void {
    this.output.write(line + '\n')
  }

  /** Asks `question` and resolves with the answer; fails when the input ends first. */
  async ask (question: string): Promise<string> {
    this.output.write(question)
    const next = await this.lines.next()
    this.output.write('\n')
    if (next.done === true) throw new PassphraseRequiredError('no passphrase was given')
    return next.value
  }

  close (): void {
    this.rl.close()
  }
}

/** On the terminal the process runs in; fails in one line when there is none. */
export function terminalPrompt (): HiddenPrompt {
  if (process.stdin.isTTY !== true) throw new PassphraseRequiredError('a passphrase is needed: set MEGACHAT_PASSPHRASE (no terminal to ask on)')
  return new HiddenPrompt({ input: process.stdin, output: process.stderr, terminal: true })
}

const sentence = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1) + '.'

/** The passphrase of a protected key; `again` after a wrong one. */
export async function askPassphrase (prompt: HiddenPrompt, again: boolean): Promise<string> {
  if (again) prompt.say('Wrong passphrase; try again.')
  return await prompt.ask('Passphrase for your identity key: ')
}

/** A new passphrase for the key, typed twice, not empty: asked until both agree. */
export async function choosePassphrase (prompt: HiddenPrompt, purpose: 'new' | 'protect'): Promise<string> {
  prompt.say(purpose === 'new'
    ? 'Your new identity key will be protected by a passphrase.'
    : 'Your identity key has no passphrase yet; choose one to protect it from now on.')
  prompt.say('Without the passphrase the key cannot be opened, and nobody can recover it: keep it safe.')
  for (;;) {
    const first = await prompt.ask('Choose a passphrase: ')
    const problem = newPassphraseProblem(first)
    if (problem != null) {
      prompt.say(sentence(problem))
      continue
    }
    const second = await prompt.ask('Type it again: ')
    if (second === first) return first
    prompt.say('The two passphrases differ; nothing was saved. Try again.')
  }
}
