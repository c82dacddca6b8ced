/**
 * The terminal client's human mode prints text from the network with its control characters and escape
 * sequences shown, never obeyed (src/cli/terminal-safe.ts): the sanitiser itself, and a DM made to clear
 * the screen, set the window title and draw a fake coloured line, end to end through a client process.
 */
import assert from 'node:assert/strict'
import { CONTINUATION, safeName, safeText } from '../src/cli/terminal-safe.js'
import { formatBytes } from '../src/bytes.js'
import { Renderer } from '../src/cli/render.js'
import { Cleanup, JsonClient, startBootstrap, startChat, tempDir, until } from './fixtures.js'
import type { Chat } from '../src/index.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'

const WAIT_MS = 20_000
/** Every character a terminal may obey, or that turns text around: none may reach stdout raw. */
const OBEYED = /[\0-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/

describe('terminal-safe text', () => {
  it('shows C0, DEL and C1 controls as \\xHH, so an escape sequence is plain text', () => {
    assert.equal(safeText('\x1b[2J\x1b]0;owned\x07\x1b[31mbob:\x1b[0m hi'), '\\x1b[2J\\x1b]0;owned\\x07\\x1b[31mbob:\\x1b[0m hi')
    assert.equal(safeText('\0\x08\x7f\x85\x9b31m\r'), '\\x00\\x08\\x7f\\x85\\x9b31m\\x0d')
  })

  it('shows bidi controls and line separators as \\uHHHH, and lone surrogates as U+FFFD', () => {
    assert.equal(safeText('invoice\u202efdp.exe'), 'invoice\\u202efdp.exe')
    assert.equal(safeName('\u2066a\u2069\u200f\u061c\u2028\u2029'), '\\u2066a\\u2069\\u200f\\u061c\\u2028\\u2029')
    assert.equal(safeText('a\ud800b\udc00c'), 'a\ufffdb\ufffdc')
  })

  it('leaves ordinary text alone: accents, scripts, emoji with joiners, a pair of surrogates', () => {
    for (const text of ['héllo wörld', 'مرحبا بالعالم', 'שלום', '你好', '👨‍👩‍👧 👋🏽', 'tab\tkept']) assert.equal(safeText(text), text)
  })

  it('indents a message body\'s later lines; a name shows line breaks and tabs', () => {
    assert.equal(safeText('one\n12:03 bob: fake'), `one${CONTINUATION}12:03 bob: fake`)
    assert.ok(!safeText('a\nb').split('\n')[1].startsWith('b'))
    assert.equal(safeName('bob\n12:03 eve\t'), 'bob\\x0a12:03 eve\\x09')
  })

  it('lets nothing a terminal obeys through, for any code unit', () => {
    const all = String.fromCharCode(...Array.from({ length: 0x10000 }, (_, i) => i))
    assert.doesNotMatch(safeText(all), OBEYED)
    assert.doesNotMatch(safeName(all), OBEYED)
    assert.ok(!safeName(all).includes('\n') && !safeName(all).includes('\t'))
  })
})

describe('sizes (formatBytes, in the terminal, the web app and the bootstrap node)', () => {
  it('uses binary units with IEC names: one decimal below 10, whole numbers above', () => {
    const MiB = 2 ** 20
    assert.deepEqual([0, 1, 940, 1023, 1024, 1536, 16 * 1024, 1_048_000, MiB, 1.5 * MiB, 64 * MiB, 10 * MiB - 1, 3.2 * 2 ** 30, 2 ** 41].map(formatBytes),
      ['0 bytes', '1 byte', '940 bytes', '1023 bytes', '1 KiB', '1.5 KiB', '16 KiB', '1023 KiB', '1 MiB', '1.5 MiB', '64 MiB', '10 MiB', '3.2 GiB', '2 TiB'])
  })
})

describe('terminal output at start', () => {
  /** What the renderer writes to stdout while `run` runs (JSON lines are flushed at its end). */
  function stdoutOf (run: (out: Renderer) => void, json: boolean): string {
    const write = process.stdout.write
    let written = ''
    process.stdout.write = ((chunk: string | Uint8Array) => { written += String(chunk); return true }) as typeof write
    try {
      const out = new Renderer({ json, color: false })
      run(out)
      out.flush()
    } finally {
      process.stdout.write = write
    }
    return written
  }
  // on a restart, contacts reconnect while the client is still starting: what they cause waits for the banner
  const chat = { peerId: { toString: () => '12D3KooWme' }, addresses: () => [], bootstrapStatus: () => [] } as unknown as Chat
  const early = (out: Renderer): void => {
    out.presence({ peerId: '12D3KooWbob', name: 'bob', online: true })
    out.incoming({ peer: '12D3KooWbob', name: 'bob', id: 'a'.repeat(32), text: 'are you back?', timestamp: 0 } as any)
    out.ready(chat, 1)
  }

  it('prints the banner before a presence or a message that came while it started', () => {
    const lines = stdoutOf(early, false).split('\n')
    assert.match(lines[0], /^MegaChat — /)
    const banner = lines.findIndex(l => l.startsWith('Your peer ID'))
    const online = lines.indexOf('● bob is online')
    assert.ok(banner > 0 && online > banner, lines.join('\n'))
    assert.ok(lines.findIndex(l => l.endsWith('bob: are you back?')) > online, lines.join('\n'))
  })

  it('writes the ready line first in --json mode, then what came while it started', () => {
    const lines = stdoutOf(early, true).trim().split('\n').map(l => JSON.parse(l))
    assert.deepEqual(lines.map(l => l.type), ['ready', 'presence', 'message'])
  })
})

describe('terminal client (human mode)', function () {
  this.timeout(60_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  const READY = /Your peer ID \(give it to friends\): (\S+)/

  /** The terminal client in human mode on `dir`, ready. */
  async function startClient (boot: BootstrapNode, dir: string): Promise<{ client: JsonClient, peerId: string }> {
    // stdout is a pipe: the client adds no colour of its own, so any ESC byte there came from the network
    const client = cleanup.add(new JsonClient(['--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', boot.addresses()[0], '--no-webrtc']))
    await until(() => READY.test(client.stdout), WAIT_MS, 'the ready text')
    return { client, peerId: READY.exec(client.stdout)?.[1] ?? '' }
  }

  /** A bootstrap node and the terminal client in human mode beside it, ready. */
  async function startHuman (): Promise<{ boot: BootstrapNode, client: JsonClient, peerId: string }> {
    const boot = cleanup.add(await startBootstrap())
    const dir = cleanup.dir(await tempDir('megachat-cli-'))
    return { boot, ...await startClient(boot, dir) }
  }

  it('prints a DM full of escape sequences with them shown, live and in the history', async () => {
    const { boot, client, peerId } = await startHuman()
    const friend = cleanup.add(await startChat({ bootstrapNode: boot }))
    client.send(`/add ${friend.peerId.toString()} friend`)
    await until(() => client.stdout.includes('Added friend'), WAIT_MS, 'the contact added')
    await friend.addContact(peerId, 'victim')

    const evil = '\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[31mbob:\x1b[0m pay eve\nbob: really\u202etxt.exe\r\x9b2J'
    const shown = '\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b[31mbob:\\x1b[0m pay eve\n    bob: really\\u202etxt.exe\\x0d\\x9b2J'
    await friend.send('victim', evil)
    await until(() => client.stdout.includes(shown), WAIT_MS, 'the message, shown')
    client.send('/history friend')
    await until(() => client.stdout.split(shown).length === 3, WAIT_MS, 'the message in the history, shown')
    assert.doesNotMatch(client.stdout, OBEYED)
    assert.equal(client.stderr, '')
  })

  it('says that a room message went out', async () => {
    const { client } = await startHuman()
    client.send('/create-room crew')
    await until(() => client.stdout.includes('#crew'), WAIT_MS, 'the room made')
    client.send('/say crew hello crew')
    await until(() => client.stdout.includes('✓ sent to #crew'), WAIT_MS, 'the line saying it went out')
    assert.equal(client.stderr, '')
  })

  it('/chat talks to a contact or a room, says how to stop, and /chat alone stops', async () => {
    const { boot, client, peerId } = await startHuman()
    const friend = cleanup.add(await startChat({ bootstrapNode: boot }))
    await friend.addContact(peerId, 'you')
    client.send(`/add ${friend.peerId.toString()} friend`)
    client.send('/create-room crew')
    await until(() => client.stdout.includes('Created #crew'), WAIT_MS, 'the room made')
    client.send('/help')
    await until(() => /\/chat <name\|peerId\|#room> .*\/chat alone stops/.test(client.stdout), WAIT_MS, '/chat in the help')
    // the descriptions line up, after the longest usage too
    const help = client.stdout.split('\n').filter(l => /^ {2}\/\S/.test(l))
    assert.equal(new Set(help.map(l => /^ {2}\/.*?\S {2,}(?=\S)/.exec(l)?.[0].length)).size, 1, help.join('\n'))

    client.send('/chat friend')
    await until(() => client.stdout.includes('Talking to friend: plain lines are sent to them. /chat another name to switch, /chat alone to stop.'), WAIT_MS, 'the way out, said')
    const got = new Promise<string>(resolve => { friend.addEventListener('message', (evt) => { resolve(evt.detail.text) }, { once: true }) })
    client.send('hello friend')
    assert.equal(await got, 'hello friend')

    client.send('/chat #crew')
    await until(() => client.stdout.includes('Talking in #crew: plain lines are said in the room.'), WAIT_MS, 'the room focused')
    client.send('hello crew')
    await until(() => client.stdout.includes('✓ sent to #crew'), WAIT_MS, 'the plain line said in the room')
    client.send('/room-history crew')
    await until(() => /hello crew/.test(client.stdout.split('✓ sent to #crew')[1] ?? ''), WAIT_MS, 'the line in the room\'s history')

    client.send('/chat')
    await until(() => client.stdout.includes('Stopped talking in #crew: plain lines are not sent'), WAIT_MS, 'the mode left')
    client.send('not for anyone')
    await until(() => client.stdout.includes('commands start with /'), WAIT_MS, 'a plain line refused')
    client.send('/chat nobody')
    await until(() => client.stdout.includes('no contact or room named nobody'), WAIT_MS, 'an unknown name refused')
    assert.equal((await friend.history('you')).filter(m => m.direction === 'in').length, 1)
    assert.equal(client.stderr, '')
  })

  it('/diagnose says how a contact is reached, and after they went offline, why not, step by step', async () => {
    const { boot, client } = await startHuman()
    const friend = await startChat({ bootstrapNode: boot })
    const id = friend.peerId.toString()
    client.send(`/add ${id} friend`)
    await until(() => client.stdout.includes('Added friend'), WAIT_MS, 'the contact added')
    client.send('/diagnose friend')
    await until(() => client.stdout.includes('connected to friend directly'), WAIT_MS, 'the way to the friend')
    assert.match(client.stdout, /NAT: /)
    assert.match(client.stdout, /bootstrap node .*: connected/)
    assert.match(client.stdout, /TURN for calls: none \(no bootstrap node of yours runs --turn\)/)
    await friend.stop()
    client.send('/diagnose friend')
    await until(() => client.stdout.includes('friend was found but could not be reached'), WAIT_MS, 'why the friend cannot be reached')
    assert.match(client.stdout, /last attempt .*: unreachable/)
    assert.match(client.stdout, /\+ *\d+ ms dial \/ip4\/127\.0\.0\.1\/tcp\/\d+: refused: nothing listens there/)
    assert.equal(client.stderr, '')
  })

  it('shows a stranger\'s message as a message request, and answers it with /requests, /block and /accept', async () => {
    const { boot, client, peerId } = await startHuman()
    const stranger = cleanup.add(await startChat({ bootstrapNode: boot }))
    const id = stranger.peerId.toString()
    await stranger.addContact(peerId, 'you')
    await stranger.send('you', 'hi, we met at the conference')
    await stranger.send('you', 'it is Sam')
    await until(() => client.stdout.includes('it is Sam'), WAIT_MS, 'the second message')
    const lines = client.stdout.split('\n')
    assert.ok(lines.some(l => /message request from 12D3\S*: hi, we met at the conference/.test(l)), client.stdout)
    // how to answer it is said once, with the full peer ID to copy
    assert.equal(lines.filter(l => l.includes(`/accept ${id} <name> to add them, /block ${id} to refuse them`)).length, 1)

    client.send('/requests')
    await until(() => client.stdout.includes(`${id} 2 messages`), WAIT_MS, 'the request listed')
    client.send(`/block ${id}`)
    await until(() => client.stdout.includes('their connections and messages are refused'), WAIT_MS, 'the block confirmed')
    client.send('/requests')
    await until(() => client.stdout.includes(`Blocked: ${id}`), WAIT_MS, 'the blocked peer listed')
    client.send(`/unblock ${id}`)
    await until(() => client.stdout.includes(`Unblocked ${id}`), WAIT_MS, 'the unblock confirmed')
    client.send(`/accept ${id} sam`)
    await until(() => client.stdout.includes('Added sam'), WAIT_MS, 'the request accepted')
    await stranger.send('you', 'thanks')
    await until(() => /sam: thanks/.test(client.stdout), WAIT_MS, 'a message from the new contact, under their name')
    assert.equal(client.stderr, '')
  })
})
