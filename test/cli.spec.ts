/**
 * The terminal client end to end, in its scriptable `--json` mode: each client is a child process
 * (dist/cli/megachat.mjs, the one-file build that npm start runs) talking to a real bootstrap node that
 * runs in the test process.
 * Every stdout line must be one JSON object; a line that is not fails the test.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_TEXT_BYTES } from '../src/constants.js'
import { INVITE_PROBLEMS } from '../src/crypto/invite.js'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { loadIdentity } from '../src/identity/index.js'
import { Cleanup, JsonClient, fakeMedia, freePort, startBootstrap, startChat, tempDir, until } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Line } from './fixtures.js'
import type { AddressInfo } from 'node:net'

const WAIT_MS = 20_000

/** stderr split into its non-empty lines. */
const lines = (text: string): string[] => text.split('\n').filter(l => l.length > 0)

describe('cli --json', function () {
  this.timeout(60_000)
  const cleanup = new Cleanup()
  let bootstrap: BootstrapNode

  before(async () => {
    bootstrap = await startBootstrap()
  })

  after(async () => {
    await bootstrap?.stop()
  })

  afterEach(async () => { await cleanup.run() })

  async function dataDir (): Promise<string> {
    return cleanup.dir(await tempDir('megachat-cli-'))
  }

  /** Starts a client on loopback with the test bootstrap node, and waits for its ready line. */
  async function startClient (data: string, env: Record<string, string> = {}): Promise<{ client: JsonClient, ready: Line }> {
    const client = cleanup.add(new JsonClient([
      '--json', '--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', bootstrap.addresses()[0], '--no-webrtc'
    ], env))
    const ready = await client.next(() => true, 0, WAIT_MS, 'the first line')
    assert.equal(ready.type, 'ready', `the first line is the ready line: ${JSON.stringify(ready)}`)
    return { client, ready }
  }

  const randomPeerId = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

  it('prints {"type":"ready","peerId","addresses"} first', async () => {
    const { client, ready } = await startClient(await dataDir())
    assert.deepEqual(Object.keys(ready).sort(), ['addresses', 'peerId', 'type'])
    assert.match(ready.peerId, /^12D3KooW/)
    assert.ok(Array.isArray(ready.addresses) && ready.addresses.length > 0)
    for (const a of ready.addresses) {
      assert.ok(a.startsWith('/ip4/127.0.0.1/tcp/'), a)
      assert.ok(a.endsWith(`/p2p/${String(ready.peerId)}`), a)
    }
    const who = await client.command('/whoami', 'whoami')
    assert.equal(who.peerId, ready.peerId)
    assert.deepEqual(client.notJson, [])
  })

  it('adds a contact, sends a message that is delivered, and keeps it across a restart', async () => {
    const dirA = await dataDir()
    const { client: a, ready: readyA } = await startClient(dirA)
    const { client: b, ready: readyB } = await startClient(await dataDir())

    const added = await a.command(`/add ${String(readyB.peerId)} bob`, ['contact', 'error'])
    assert.equal(added.type, 'contact', JSON.stringify(added))
    assert.equal(added.action, 'added')
    assert.equal(added.peerId, readyB.peerId)
    assert.equal(added.name, 'bob')
    assert.equal(typeof added.safetyCode, 'string')

    const from = a.mark()
    const sent = await a.command('/msg bob hello', ['sent', 'error'])
    assert.equal(sent.type, 'sent', JSON.stringify(sent))
    assert.match(sent.id, /^[0-9a-f]{32}$/)
    assert.equal(sent.to, readyB.peerId)
    assert.equal(typeof sent.timestamp, 'number')
    const delivered = await a.next(l => l.type === 'delivered', from, WAIT_MS, 'delivered')
    assert.equal(delivered.id, sent.id)
    assert.equal(delivered.to, readyB.peerId)
    const sentAt = a.lines.indexOf(sent)
    assert.ok(a.lines.indexOf(delivered) > sentAt, 'delivered comes after sent')

    const got = await b.next(l => l.type === 'message', 0, WAIT_MS, 'the message on B')
    assert.equal(got.from, readyA.peerId)
    assert.equal(got.id, sent.id)
    assert.equal(got.text, 'hello')
    assert.equal(got.timestamp, sent.timestamp)
    assert.equal(got.name, undefined, 'A is not one of B\'s contacts')
    assert.equal(b.lines.filter(l => l.type === 'message').length, 1)

    const contacts = await a.command('/contacts', 'contacts')
    assert.equal(contacts.contacts.length, 1)
    assert.equal(contacts.contacts[0].peerId, readyB.peerId)
    assert.equal(contacts.contacts[0].name, 'bob')
    assert.equal(contacts.contacts[0].online, true)
    assert.equal(contacts.contacts[0].safetyCode, added.safetyCode)
    assert.equal(contacts.contacts[0].addedAt, undefined)

    const history = await a.command('/history bob 5', 'history')
    assert.equal(history.peer, readyB.peerId)
    assert.equal(history.name, 'bob')
    assert.deepEqual(history.messages, [{
      id: sent.id, from: readyA.peerId, to: readyB.peerId, direction: 'out', text: 'hello', timestamp: sent.timestamp, state: 'delivered'
    }])
    const historyB = await b.command(`/history ${String(readyA.peerId)} 5`, 'history')
    assert.deepEqual(historyB.messages.map((m: Line) => [m.id, m.direction, m.from, m.text]), [[sent.id, 'in', readyA.peerId, 'hello']])

    // SIGTERM: a clean stop
    a.kill('SIGTERM')
    const exit = await a.exited
    assert.equal(exit.code, 0, exit.stderr)
    assert.deepEqual(a.lines[a.lines.length - 1], { type: 'stopped' })
    assert.deepEqual(a.notJson, [])

    // the same data directory: the same peer ID, the same contacts and history
    const { client: again, ready: readyAgain } = await startClient(dirA)
    assert.equal(readyAgain.peerId, readyA.peerId)
    const kept = await again.command('/history bob', 'history')
    assert.deepEqual(kept.messages.map((m: Line) => [m.id, m.text, m.state]), [[sent.id, 'hello', 'delivered']])
    assert.deepEqual(again.notJson, [])
    assert.deepEqual(b.notJson, [])
  })

  it('answers bad input with one error line each and keeps running', async () => {
    const { client } = await startClient(await dataDir())
    const stranger = await randomPeerId()
    const bad = [
      '/add nonsense',
      '/add',
      '/msg nobody hi',
      '/msg',
      '/frobnicate',
      '/history nobody',
      'plain text without a conversation',
      `/msg ${stranger} ${'x'.repeat(70_000)}`,
      `/msg ${stranger} ${'é'.repeat(MAX_TEXT_BYTES / 2 + 1)}`
    ]
    for (const line of bad) {
      const from = client.mark()
      client.send(line)
      // commands are answered in order: once /whoami is answered, the bad line's answer is in
      await client.command('/whoami', 'whoami')
      const answers = client.lines.slice(from).filter(l => l.type !== 'presence' && l.type !== 'unreachable' && l.type !== 'bootstrap')
      assert.equal(answers.length, 2, `${line.slice(0, 30)}: ${JSON.stringify(answers).slice(0, 300)}`)
      assert.equal(answers[0].type, 'error', line.slice(0, 30))
      assert.deepEqual(Object.keys(answers[0]).sort(), ['message', 'name', 'type'])
      assert.match(answers[0].name, /^[A-Za-z]+Error$/, 'a machine-readable error name')
      assert.equal(typeof answers[0].message, 'string')
      assert.ok(answers[0].message.length > 0 && answers[0].message.length < 200, 'a short message')
      assert.ok(!answers[0].message.includes('\n'), 'one line')
      assert.ok(!answers[0].message.includes('    at '), 'no stack trace')
      assert.equal(answers[1].type, 'whoami')
    }
    // nothing was stored for the oversized messages
    const history = await client.command(`/history ${stranger}`, 'history')
    assert.deepEqual(history.messages, [])
    assert.equal(client.stderr, '')
    assert.deepEqual(client.notJson, [])
  })

  it('creates a room, joins it by invite and carries room messages as message lines with "room"', async () => {
    const { client: a, ready: readyA } = await startClient(await dataDir())
    const { client: b, ready: readyB } = await startClient(await dataDir())
    const created = await a.command('/create-room crew', ['room', 'error'])
    assert.equal(created.type, 'room', JSON.stringify(created))
    assert.equal(created.action, 'created')
    assert.equal(created.name, 'crew')
    assert.match(created.invite, /^megachat:\/\/room\//)
    const joined = await b.command(`/join ${String(created.invite)}`, ['room', 'error'])
    assert.equal(joined.type, 'room', JSON.stringify(joined))
    assert.equal(joined.action, 'joined')
    assert.equal(joined.name, 'crew')
    assert.equal(joined.invite, created.invite)
    // said at once: b gets it live if the mesh has formed, or from history as soon as they meet
    const from = b.mark()
    const said = await a.command('/say crew hello crew', ['said', 'error'])
    assert.equal(said.type, 'said', JSON.stringify(said))
    const got = await b.next(l => l.type === 'message' && l.room === 'crew', from, WAIT_MS, 'the room message on B')
    assert.equal(got.from, readyA.peerId)
    assert.equal(got.text, 'hello crew')
    assert.equal(got.id, said.id)
    const rooms = await b.command('/rooms', 'rooms')
    assert.deepEqual(rooms.rooms.map((r: any) => r.name), ['crew'])
    const history = await b.command('/room-history crew', 'room-history')
    assert.deepEqual(history.messages.map((m: any) => m.text), ['hello crew'])
    // who is online in the room: both (a's message came, so they met); b is marked as b
    let members: any
    await until(async () => {
      members = await b.command('/members crew', 'members')
      return members.members.length === 2
    }, WAIT_MS, 'both members online in /members')
    assert.equal(members.room, 'crew')
    assert.deepEqual(members.members.map((m: any) => m.peerId).sort(), [readyA.peerId, readyB.peerId].sort())
    assert.deepEqual(members.members.filter((m: any) => m.you === true).map((m: any) => m.peerId), [readyB.peerId])
    assert.equal((await b.command('/members', ['error'])).name, 'InvalidInputError')
    assert.equal((await b.command('/members nowhere', ['error'])).name, 'UnknownRoomError')
    const bad = await b.command('/say nowhere hi', ['error'])
    assert.equal(bad.name, 'UnknownRoomError')
    // invites that cannot be used, in plain words
    for (const [text, problem] of [['https://example.com/room/1', INVITE_PROBLEMS.notInvite], [created.invite.slice(0, -5), INVITE_PROBLEMS.cutShort]]) {
      const refused = await b.command(`/join ${String(text)}`, ['error'])
      assert.deepEqual([refused.name, refused.message], ['InvalidInviteError', problem])
    }
  })

  it('warns when the bootstrap node is not reachable, in a line and in /status, retries, and says when it is reached', async function () {
    this.timeout(180_000)
    // the bootstrap node's identity first, and a port where nothing listens yet
    const bootDir = await dataDir()
    const bootId = (await loadIdentity(bootDir)).peerId.toString()
    const port = await freePort()
    const address = `/ip4/127.0.0.1/tcp/${port}/p2p/${bootId}`
    const args = ['--listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', address, '--no-webrtc']
    const client = cleanup.add(new JsonClient(['--json', '--data', await dataDir(), ...args]))
    assert.equal((await client.next(() => true, 0, WAIT_MS, 'the first line')).type, 'ready')
    const warning = await client.next(l => l.type === 'bootstrap', 0, WAIT_MS, 'the bootstrap line')
    assert.deepEqual(Object.keys(warning).sort(), ['address', 'connected', 'lastError', 'nextRetryAt', 'peerId', 'type'])
    assert.equal(warning.address, address)
    assert.equal(warning.peerId, bootId)
    assert.equal(warning.connected, false)
    assert.equal(warning.lastError, 'connection refused')
    assert.equal(typeof warning.nextRetryAt, 'number')
    const status = await client.command('/status', 'status')
    assert.equal(status.connections, 0)
    assert.deepEqual(status.bootstrap.map((b: Line) => [b.address, b.connected, b.lastError]), [[address, false, 'connection refused']])

    // for people: one warning line (however many retries follow), and the same in /status
    const person = cleanup.add(new JsonClient(['--data', await dataDir(), ...args]))
    const shortAddress = `/ip4/127.0.0.1/tcp/${port}/p2p/${bootId.slice(0, 4)}…${bootId.slice(-6)}`
    await until(() => person.stdout.includes('warning:'), WAIT_MS, 'the warning line').catch(err => { throw new Error(`${err.message}; stdout: ${person.stdout}; stderr: ${person.stderr}`) })
    const warned = person.notJson.filter(l => l.includes('warning:'))
    assert.deepEqual(warned.map(l => l.replace(/^(> )+/, '')),
      [`warning: bootstrap node ${shortAddress} not reachable (connection refused); retrying. Contacts cannot be found until it is reachable.`])
    person.send('/status')
    await until(() => person.notJson.some(l => l.includes(`bootstrap node ${shortAddress}: not reachable (connection refused); next try in `)), WAIT_MS, 'the bootstrap node in /status')
    // retried meanwhile, and still one line
    await client.next(l => l.type === 'bootstrap' && l !== warning, 0, WAIT_MS, 'a retry')
    assert.equal(person.notJson.filter(l => l.includes('warning:')).length, 1)

    // the node comes up there with that identity: reached at the next retry
    const from = client.mark()
    cleanup.add(await createBootstrapNode({ dataDir: bootDir, listen: [`/ip4/127.0.0.1/tcp/${port}`], stunPort: false }))
    // (the person's client started later: its next try is no later than this one's, give or take the jitter)
    const nextTry = client.lines.filter(l => l.type === 'bootstrap').at(-1)?.nextRetryAt ?? Date.now()
    const retryWait = Math.max(0, nextTry - Date.now()) + WAIT_MS
    const reached = await client.next(l => l.type === 'bootstrap' && l.connected === true, from, retryWait, 'the bootstrap node reached')
    assert.deepEqual(reached, { type: 'bootstrap', address, peerId: bootId, connected: true })
    const after = await client.command('/status', 'status')
    assert.deepEqual(after.bootstrap, [{ address, peerId: bootId, connected: true }])
    assert.ok(after.connections >= 1)
    await until(() => person.notJson.some(l => l.includes(`bootstrap node ${shortAddress} is reachable now`)), retryWait, 'the reachable line')
    person.send('/status')
    await until(() => person.notJson.some(l => l.includes(`bootstrap node ${shortAddress}: connected`)), WAIT_MS, 'connected in /status')
    assert.deepEqual(client.notJson, [])
    assert.equal(client.stderr, '')
  })

  it('exits 1 with one line on stderr when the listen port is taken', async () => {
    const server = createServer()
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    cleanup.add({ stop: async () => { await new Promise(resolve => { server.close(resolve) }) } })
    const port = (server.address() as AddressInfo).port
    const client = cleanup.add(new JsonClient(['--json', '--data', await dataDir(), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-webrtc']))
    const exit = await client.exited
    assert.equal(exit.code, 1)
    assert.equal(lines(exit.stderr).length, 1, exit.stderr)
    assert.ok(exit.stderr.includes(String(port)), exit.stderr)
    // the JSON mode also says it on stdout, as JSON
    assert.deepEqual(client.notJson, [])
    assert.deepEqual(client.lines.map(l => l.type), ['error'])
  })

  it('answers every command read before stdin ends, then stops', async () => {
    const client = cleanup.add(new JsonClient(['--json', '--data', await dataDir(), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc']))
    for (const line of ['/whoami', '/create-room last-words', '/rooms', '/frobnicate']) client.send(line)
    client.endInput()
    const exit = await client.exited
    assert.equal(exit.code, 0, exit.stderr)
    assert.deepEqual(client.lines.map(l => l.type), ['ready', 'whoami', 'room', 'rooms', 'error', 'stopped'])
  })

  it('prints help and version and exits 0', async () => {
    const help = cleanup.add(new JsonClient(['--help']))
    const helpExit = await help.exited
    assert.equal(helpExit.code, 0, helpExit.stderr)
    assert.match(helpExit.stdout, /--json/)
    assert.match(helpExit.stdout, /--bootstrap/)

    const version = cleanup.add(new JsonClient(['--version']))
    const versionExit = await version.exited
    assert.equal(versionExit.code, 0, versionExit.stderr)
    assert.equal(versionExit.stdout.trim(), '0.1.0')
  })

  it('exits 1 with one line naming the field when config.json has an address where a list belongs', async () => {
    const dir = await dataDir()
    await writeFile(join(dir, 'config.json'), JSON.stringify({ bootstrap: bootstrap.addresses()[0] }))
    const client = cleanup.add(new JsonClient(['--json', '--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc']))
    const exit = await client.exited
    assert.equal(exit.code, 1)
    assert.deepEqual(lines(exit.stderr), [`megachat: ${join(dir, 'config.json')}: "bootstrap" is a list of addresses, such as ["/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…"]`])
  })

  it('exits 1 with one line on a bad option', async () => {
    const client = cleanup.add(new JsonClient(['--json', '--frobnicate']))
    const exit = await client.exited
    assert.equal(exit.code, 1)
    assert.equal(lines(exit.stderr).length, 1, exit.stderr)
  })

  it('refuses a protected key without its passphrase, or with a wrong one, in one line', async () => {
    const dir = await dataDir()
    const { client: first, ready } = await startClient(dir, { MEGACHAT_PASSPHRASE: 'open sesame' })
    first.kill('SIGTERM')
    assert.equal((await first.exited).code, 0)

    for (const env of [{}, { MEGACHAT_PASSPHRASE: 'wrong' }]) {
      const client = cleanup.add(new JsonClient(['--json', '--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc'], env))
      const exit = await client.exited
      assert.equal(exit.code, 1, JSON.stringify(env))
      assert.equal(lines(exit.stderr).length, 1, exit.stderr)
      assert.match(exit.stderr, /passphrase/i)
      assert.deepEqual(client.lines.map(l => l.type), ['error'], 'one JSON error line and no ready line')
      assert.deepEqual(client.notJson, [])
    }

    const { ready: opened } = await startClient(dir, { MEGACHAT_PASSPHRASE: 'open sesame' })
    assert.equal(opened.peerId, ready.peerId)
  })

  it('a second client on the same data directory says the first holds it, in one line, and leaves it alone', async () => {
    const dir = await dataDir()
    const { client: first, ready } = await startClient(dir)
    const second = cleanup.add(new JsonClient(['--json', '--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc']))
    const exit = await second.exited
    assert.equal(exit.code, 1)
    assert.deepEqual(lines(exit.stderr), [`megachat: MegaChat is already running with this data directory (${dir}); another process holds it. Stop it first, or use --data <other dir>.`])
    assert.deepEqual(second.lines.map(l => [l.type, l.name]), [['error', 'DataDirInUseError']])
    // the first one runs on
    assert.equal((await first.command('/whoami', 'whoami')).peerId, ready.peerId)
  })

  it('MEGACHAT_PASSPHRASE protects a key that had none and says so; --passphrase without a terminal asks for it in one line', async () => {
    const dir = await dataDir()
    const { client: plain, ready } = await startClient(dir)
    plain.kill('SIGTERM')
    assert.equal((await plain.exited).code, 0)

    const { client: now, ready: again } = await startClient(dir, { MEGACHAT_PASSPHRASE: 'from now on' })
    assert.equal(again.peerId, ready.peerId)
    const notice = await now.next(l => l.type === 'notice', 0, WAIT_MS, 'the notice')
    assert.match(notice.message, /now protected by a passphrase/)
    assert.equal(now.lines.indexOf(notice), 1, 'right after the ready line')
    now.kill('SIGTERM')
    assert.equal((await now.exited).code, 0)
    // from now on it needs the passphrase, and says nothing more about it
    const { client: opened } = await startClient(dir, { MEGACHAT_PASSPHRASE: 'from now on' })
    await opened.command('/whoami', 'whoami')
    assert.deepEqual(opened.lines.filter(l => l.type === 'notice'), [])

    const fresh = await dataDir()
    const asking = cleanup.add(new JsonClient(['--json', '--passphrase', '--data', fresh, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-webrtc']))
    const exit = await asking.exited
    assert.equal(exit.code, 1)
    assert.deepEqual(lines(exit.stderr), ['megachat: a passphrase is needed: set MEGACHAT_PASSPHRASE (no terminal to ask on)'])
    assert.equal(existsSync(join(fresh, 'identity.key')), false, 'no key was made without its passphrase')
  })

  it('shows an incoming call and declines it, shows a missed call, and says that answering needs the web app', async () => {
    const { client, ready } = await startClient(await dataDir())
    const caller = cleanup.add(await startChat({ bootstrapNode: bootstrap, callMedia: fakeMedia(), ringTimeout: 1500 }))
    const callerId = caller.peerId.toString()
    assert.equal((await client.command(`/add ${callerId} alice`, ['contact', 'error'])).type, 'contact')
    // adding alice makes the client reach her; until then the caller, started a moment ago, may not find
    // the client at all (the DHT knows neither yet), which is another test
    await until(() => caller.libp2p.getConnections().some(c => c.remotePeer.toString() === String(ready.peerId)), WAIT_MS, 'the client reaches the caller')

    let from = client.mark()
    const first = await caller.call(String(ready.peerId), { video: true })
    const ringing = await client.next(l => l.type === 'call', from, WAIT_MS, 'the incoming call')
    assert.deepEqual(ringing, { type: 'call', id: first.id, from: callerId, name: 'alice', video: true, state: 'incoming' })
    const answer = await client.command('/answer', ['error'])
    assert.equal(answer.name, 'CallError')
    assert.match(answer.message, /web app/)
    from = client.mark()
    const declined = await client.command('/decline', ['declined', 'error'])
    assert.deepEqual(declined, { type: 'declined', id: first.id, peer: callerId, name: 'alice' })
    const ended = await client.next(l => l.type === 'call-ended', from, WAIT_MS, 'the declined call in the history')
    assert.equal(ended.outcome, 'declined')
    await until(() => caller.calls().length === 0, WAIT_MS, 'the caller hears of the decline')

    // not answered: the caller gives up after its ring time, and the client says it was missed
    from = client.mark()
    const second = await caller.call(String(ready.peerId), { video: false })
    await client.next(l => l.type === 'call' && l.id === second.id, from, WAIT_MS, 'the second call')
    const missed = await client.next(l => l.type === 'call-ended' && l.id === second.id, from, WAIT_MS, 'the missed call')
    assert.equal(missed.outcome, 'missed')
    assert.equal(missed.direction, 'in')
    assert.equal(missed.video, false)
    assert.equal((await client.command('/decline', ['declined', 'error'])).message, 'no call is ringing')

    const calls = await client.command('/calls alice', ['calls', 'error'])
    assert.deepEqual(calls.calls.map((c: Line) => [c.id, c.outcome]), [[first.id, 'declined'], [second.id, 'missed']])
    assert.deepEqual(client.notJson, [])
  })
})
