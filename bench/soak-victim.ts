/**
 * The client that `npm run soak` (bench/soak.ts) attacks, in a process of its own so that a crash shows as
 * an exit and its memory is its own. A real client (createChat, LevelDB store in a temporary directory,
 * the bootstrap node given in MEGACHAT_SOAK_BOOTSTRAP). It reads one JSON command a line on stdin and
 * answers with one JSON line on stdout:
 *   {"cmd":"contact","peer":"12D3…"}  adds a contact                      -> {"type":"ok"}
 *   {"cmd":"room"}                      creates a room                     -> {"type":"room","invite":"…"}
 *   {"cmd":"stats","reset":true}        counters and memory (peak since the last reset; "gc" collects first)
 *   {"cmd":"invites","count":N,"seed":S} N fuzzed invite texts through decodeInvite -> {"type":"invites",…}
 *   {"cmd":"quit"}                      stops the client and exits 0
 * It also prints {"type":"message","text":…} for each DM from a contact, and {"type":"crash",…} before
 * dying of an uncaught error.
 */
import fc from 'fast-check'
import { decodeInvite, INVITE_PROBLEMS } from '../src/crypto/invite.js'
import { createChat } from '../src/index.js'
import { internals } from '../src/internals.js'
import { fuzzedInvite } from '../test/fuzz-frames.js'
import { removeTempDir, tempDir } from './temp.js'
import type { Chat } from '../src/index.js'

const SAMPLE_MS = 50

function say (line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + '\n')
}

for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: any) => {
    say({ type: 'crash', event, error: `${err?.name}: ${err?.message}`, stack: err?.stack })
    process.exit(70)
  })
}

let peak = process.memoryUsage().rss
setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, SAMPLE_MS).unref()

let messages = 0
let roomMessages = 0

function stats (chat: Chat): Record<string, unknown> {
  const rss = process.memoryUsage().rss
  peak = Math.max(peak, rss)
  const { dm, calls, roomSync } = chat.libp2p.services
  return {
    type: 'stats',
    dm: { ...dm.stats },
    calls: { ...calls.stats, floods: internals(chat).calls.floods },
    sync: { ...roomSync.stats },
    rooms: { ...internals(chat).rooms.stats, accepted: roomMessages },
    messages,
    rss,
    peak,
    heap: process.memoryUsage().heapUsed,
    heapTotal: process.memoryUsage().heapTotal,
    external: process.memoryUsage().external,
    connections: chat.libp2p.getConnections().length
  }
}

/** Fuzzed invite texts through the decoder: valid, refused in plain words, or anything else (a crash). */
function invites (count: number, seed: number): Record<string, unknown> {
  const problems = new Set<string>(Object.values(INVITE_PROBLEMS))
  let accepted = 0
  let refused = 0
  const crashes: string[] = []
  for (const text of fc.sample(fuzzedInvite, { numRuns: count, seed })) {
    try {
      decodeInvite(text)
      accepted++
    } catch (err: any) {
      if (err.name === 'InvalidInviteError' && problems.has(err.message)) refused++
      else crashes.push(`${err.name}: ${err.message}`)
    }
  }
  return { type: 'invites', accepted, refused, crashes: crashes.length, firstCrash: crashes[0] }
}

const dir = await tempDir('soak-victim')
const chat = await createChat({
  dataDir: dir,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: JSON.parse(process.env.MEGACHAT_SOAK_BOOTSTRAP ?? '[]'),
  webrtc: false,
  scryptN: 2 ** 10
})
chat.addEventListener('message', (evt) => {
  messages++
  if (evt.detail.name != null) say({ type: 'message', text: evt.detail.text })
})
chat.addEventListener('room:message', () => { roomMessages++ })
say({ type: 'ready', peerId: chat.peerId.toString(), addrs: chat.addresses() })

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
  input += chunk
  let nl: number
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl)
    input = input.slice(nl + 1)
    run(JSON.parse(line)).catch((err: any) => { say({ type: 'error', error: `${err?.name}: ${err?.message}` }) })
  }
})

async function run (command: any): Promise<void> {
  switch (command.cmd) {
    case 'contact':
      await chat.addContact(command.peer, 'friend')
      say({ type: 'ok' })
      break
    case 'room':
      say({ type: 'room', invite: (await chat.createRoom('soak')).invite })
      break
    case 'stats':
      if (command.gc === true) globalThis.gc?.()
      say(stats(chat))
      if (command.reset === true) peak = process.memoryUsage().rss
      break
    case 'invites':
      say(invites(command.count, command.seed))
      break
    case 'quit':
      await chat.stop()
      await removeTempDir(dir)
      process.exit(0)
  }
}
