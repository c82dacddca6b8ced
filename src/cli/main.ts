/**
 * The terminal client: `npm start -- [options]` or the `megachat` bin.
 * A thin shell: parses options and lines, renders results; all logic is in createChat and runCommand.
 */
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { createChat } from '../index.js'
import { unsupportedNode } from '../node-version.js'
import { openPlatform } from '../platform.js'
import { isSendLine, runCommand } from './commands.js'
import { networkInit, parseArgs, readConfig } from './options.js'
import { Renderer } from './render.js'
import { askPassphrase, choosePassphrase, terminalPrompt } from './prompt.js'
import type { HiddenPrompt } from './prompt.js'
import type { CommandContext, CommandResult } from './commands.js'
import type { Chat, ChatInit } from '../index.js'

async function main (): Promise<void> {
  const opts = parseArgs(process.argv)
  const json = opts.json
  const out = new Renderer({ json, color: !json && process.stdout.isTTY === true && process.env.NO_COLOR == null })
  const tooOld = unsupportedNode()
  if (tooOld != null) {
    out.fatal(tooOld, 'UnsupportedNodeError')
    process.exit(1)
  }

  let chat: Chat
  let bootstrapCount = 0
  /** said once the client is up */
  const notices: string[] = []
  try {
    const dataDir = resolve(opts.data)
    const network = networkInit(opts, await readConfig(dataDir))
    bootstrapCount = network.bootstrap.length
    // the passphrase: from the environment, else asked on the terminal when needed (identity/passphrase.ts)
    let prompt: HiddenPrompt | undefined
    const terminal = (): HiddenPrompt => { prompt ??= terminalPrompt(); return prompt }
    const env = process.env.MEGACHAT_PASSPHRASE
    let platform
    try {
      platform = await openPlatform({
        dataDir,
        passphrase: env === '' ? undefined : env,
        askPassphrase: opts.passphrase || (!json && process.stdin.isTTY === true) ? async (again) => await askPassphrase(terminal(), again) : undefined,
        choosePassphrase: opts.passphrase ? async (purpose) => await choosePassphrase(terminal(), purpose) : undefined
      })
    } finally {
      prompt?.close()
    }
    if (platform.protectedNow === true) notices.push('Your identity key is now protected by a passphrase: you will need it at every start.')
    const init: ChatInit = {
      platform,
      dataDir,
      ...(opts.autoFetch != null ? { autoFetchBytes: Math.round(opts.autoFetch * 2 ** 20) } : {}),
      ...network,
      webrtc: network.webrtc && process.env.MEGACHAT_NO_WEBRTC == null
    }
    if (process.env.MEGACHAT_RETRY_MS != null) init.retryInterval = Number(process.env.MEGACHAT_RETRY_MS)
    if (process.env.MEGACHAT_FIND_TIMEOUT_MS != null) init.findTimeout = Number(process.env.MEGACHAT_FIND_TIMEOUT_MS)
    // listeners first, then start: a contact may connect (and a message arrive) during start-up
    chat = await createChat({ ...init, start: false })
    const c = chat
    c.addEventListener('message', (evt) => { out.incoming(evt.detail) })
    c.addEventListener('room:message', (evt) => { out.roomMessage(evt.detail) })
    c.addEventListener('delivered', (evt) => {
      const m = evt.detail
      out.delivered(m, c.contactFor(m.peer)?.name, m.file != null ? c.files.get(m.file)?.name : undefined)
    })
    c.addEventListener('presence', (evt) => { out.presence(evt.detail) })
    c.addEventListener('unreachable', (evt) => { out.unreachable(evt.detail, c.contactFor(evt.detail.peerId)?.name) })
    c.addEventListener('call', (evt) => { out.call(evt.detail, c.contactFor(evt.detail.peer)?.name) })
    c.addEventListener('call:ended', (evt) => { out.callEnded(evt.detail, c.contactFor(evt.detail.peer)?.name) })
    c.addEventListener('file-offer', (evt) => {
      const t = evt.detail
      const contact = c.contactFor(t.from)
      const room = t.room ? c.listRooms().find(r => r.roomId === t.conversation)?.name : undefined
      out.fileOffer(t, contact?.name, contact != null && t.size <= c.files.autoFetchBytes, room)
    })
    c.addEventListener('file-progress', (evt) => { out.fileProgress(evt.detail) })
    c.addEventListener('file-done', (evt) => { out.fileDone(evt.detail) })
    c.addEventListener('file-error', (evt) => { out.fileError(evt.detail) })
    try {
      await c.start()
    } catch (err) {
      await c.stop().catch(() => {})
      throw err
    }
  } catch (err: any) {
    out.fatal(startupError(err), err?.name)
    process.exit(1)
  }

  const ctx: CommandContext = {}

  let stopping = false
  const stop = async (code = 0): Promise<void> => {
    if (stopping) return
    stopping = true
    // a shutdown that hangs (a stuck dial, a disk that does not answer) must not keep the process alive
    setTimeout(() => { process.stderr.write('megachat: shutdown took too long; exiting\n'); process.exit(1) }, 10_000).unref()
    rl.close()
    try {
      await chat.stop()
    } catch (err: any) {
      out.error(`shutdown: ${err.message}`)
      code = 1
    }
    out.bye()
    process.exit(code)
  }
  process.on('SIGTERM', () => { void stop() })
  process.on('SIGINT', () => { void stop() })

  const rl = createInterface({ input: process.stdin, output: json ? undefined : process.stdout, terminal: !json && process.stdin.isTTY === true })
  out.attach(rl)
  out.ready(chat, bootstrapCount, notices)
  // after the ready line (what came before it is in the status it shows)
  chat.addEventListener('bootstrap', (evt) => { out.bootstrap(evt.detail, chat.bootstrapStatus()) })

  rl.on('SIGINT', () => { void stop() })
  // Commands run one at a time, in order, and are answered in the order they came. A run of messages
  // is the exception: each starts as soon as the one before it has started (a send stores the message in
  // turn, so the order holds), so a bot's burst is written to the outbox in batches, not one by one.
  let gate: Promise<void> = Promise.resolve() // when the next line may start
  let answered: Promise<void> = Promise.resolve() // when the next line's answer may be printed
  // end of input (a bot's script ran out): finish the commands already read, then stop
  rl.on('close', () => { answered = answered.then(async () => { await stop() }) })
  rl.on('line', (line) => {
    let release!: () => void
    const next = new Promise<void>(resolve => { release = resolve })
    const outcome = gate.then(async (): Promise<{ result?: CommandResult, err?: any }> => {
      if (stopping) return {}
      const running = runCommand(chat, line, ctx)
      if (isSendLine(line, ctx)) release()
      try {
        return { result: await running }
      } catch (err: any) {
        return { err }
      } finally {
        release()
      }
    })
    gate = next
    answered = answered.then(async () => {
      const { result, err } = await outcome
      if (stopping) return
      if (err != null) {
        out.error(err.message ?? String(err), err.name)
      } else if (result?.type === 'quit') {
        await stop()
        return
      } else if (result != null) {
        out.result(result)
      }
      out.prompt(currentName(chat, ctx))
    })
  })
}

function currentName (chat: Chat, ctx: CommandContext): string | undefined {
  if (ctx.room != null) {
    const room = chat.listRooms().find(r => r.roomId === ctx.room)?.name
    return room != null ? `#${room}` : undefined
  }
  if (ctx.current == null) return undefined
  return chat.contactFor(ctx.current)?.name ?? ctx.current.slice(-8)
}

function startupError (err: any): string {
  if (err.code === 'EADDRINUSE' || /EADDRINUSE/.test(String(err.message))) {
    return `a listen address is already in use (${String(err.message).match(/\S+:\d+/)?.[0] ?? 'port taken'}); pick another with --listen`
  }
  if (err.name === 'InvalidArgumentError' || err.name === 'WrongPassphraseError' || err.name === 'PassphraseRequiredError' ||
      err.name === 'CorruptDataError' || err.name === 'DataDirError' || err.name === 'DataDirInUseError' || err.name === 'InvalidInputError') {
    return err.message
  }
  if (/multiaddr/i.test(String(err.message))) return `invalid address: ${err.message}`
  return `could not start: ${err.message ?? err}`
}

main().catch((err) => {
  process.stderr.write(`megachat: ${err?.message ?? err}\n`)
  process.exit(1)
})
