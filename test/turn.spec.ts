/**
 * TURN from the bootstrap node (`--turn`): coturn started and supervised by the node, credentials over
 * /megachat/turn-credentials/1.0.0 to connected peers (rate-limited), checked by the real coturn with a
 * TURN Allocate, picked up by chat clients for their calls, and a relay-only RTCPeerConnection pair
 * (node-datachannel) connected through coturn. Needs coturn (`apt-get install coturn`); without it the
 * suite is skipped with one line. coturn listens on 127.0.0.1 and may relay to loopback here only
 * (`allowPrivatePeers`, a test option).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { COTURN_MISSING, TURN_CREDENTIALS_PROTOCOL, createBootstrapNode } from '../bootstrap-node/index.js'
import { findCoturn, startCoturn } from '../bootstrap-node/coturn.js'
import type { CoturnExit } from '../bootstrap-node/coturn.js'
import { stun } from '../bootstrap-node/stun.js'
import { TURN_REQUESTS_PER_MINUTE, turnRestCredentials } from '../bootstrap-node/turn.js'
import { TurnCredentials, decodeTurnCredentials, encodeTurnCredentials, fetchTurnCredentials } from '../src/turn/index.js'
import { Cleanup, WEBRTC, fakeMedia, freePort, startChat, tempDir, until, waitFor } from './fixtures.js'
import type { BootstrapNode, BootstrapOptions } from '../bootstrap-node/index.js'
import type { CallInfo, MediaFactory, MediaSetup } from '../src/index.js'
import type { TurnGrant } from '../src/turn/index.js'
import type { Connection, Libp2p } from '@libp2p/interface'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bootstrap-node', 'main.js')
const WAIT_MS = 20_000
/** the relay-only node-datachannel pair, run as a child process (turn-pair.ts) */
const TURN_PAIR = join(dirname(fileURLToPath(import.meta.url)), 'turn-pair.js')

/** The outcome of a TURN Allocate: 'allocated' with the relayed address, or the error code. */
type AllocateResult = { ok: true, relayed: string } | { ok: false, code: number }

/**
 * A TURN Allocate over UDP with long-term credentials (RFC 5766): the first request is refused with 401
 * and the realm and nonce, the second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY.
 */
async function allocate (url: string, username: string, credential: string): Promise<AllocateResult> {
  const m = /^turn:([^:]+):(\d+)/.exec(url)
  assert.ok(m != null, url)
  const [host, port] = [m[1], Number(m[2])]
  const socket = createSocket('udp4')
  const exchange = async (req: ReturnType<typeof stun.createMessage>): Promise<{ res: ReturnType<typeof stun.decode>, raw: Buffer }> => {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { socket.removeListener('message', onMessage); reject(new Error('no TURN answer within 5 s')) }, 5000)
      const onMessage = (raw: Buffer): void => {
        const res = stun.decode(raw)
        if (!res.transactionId.equals(req.transactionId)) return
        clearTimeout(timer)
        socket.removeListener('message', onMessage)
        resolve({ res, raw })
      }
      socket.on('message', onMessage)
      socket.send(req.toBuffer(), port, host)
    })
  }
  const request = (): ReturnType<typeof stun.createMessage> => {
    const req = stun.createMessage(stun.constants.STUN_ALLOCATE_REQUEST)
    ;(req as any).addAttribute(stun.constants.STUN_ATTR_REQUESTED_TRANSPORT, 17 << 24) // UDP
    return req
  }
  try {
    const first = await exchange(request())
    const realm = String(first.res.getAttribute(stun.constants.STUN_ATTR_REALM)?.value)
    const nonce = String(first.res.getAttribute(stun.constants.STUN_ATTR_NONCE)?.value)
    assert.equal(errorCode(first.raw), 401, 'an unauthenticated Allocate is refused with 401')
    const req = request() as any
    req.addUsername(username)
    req.addRealm(realm)
    req.addNonce(nonce)
    req.addMessageIntegrity(createHash('md5').update(`${username}:${realm}:${credential}`).digest())
    const { res, raw } = await exchange(req)
    if (res.type === stun.constants.STUN_ALLOCATE_RESPONSE) {
      const relayed = res.getAttribute(stun.constants.STUN_ATTR_XOR_RELAYED_ADDRESS)?.value
      return { ok: true, relayed: `${relayed?.address}:${relayed?.port}` }
    }
    return { ok: false, code: errorCode(raw) ?? 0 }
  } finally {
    socket.close()
  }
}

/** The ERROR-CODE of a STUN message, read from its bytes (the npm `stun` package decodes 401 as 404). */
function errorCode (msg: Buffer): number | undefined {
  for (let at = 20; at + 4 <= msg.length; at += 4 + Math.ceil(msg.readUInt16BE(at + 2) / 4) * 4) {
    if (msg.readUInt16BE(at) === stun.constants.STUN_ATTR_ERROR_CODE) return (msg[at + 6] & 7) * 100 + msg[at + 7]
  }
  return undefined
}

describe('TURN credentials frames', () => {
  const good = { urls: ['turn:203.0.113.7:3479?transport=udp', 'turn:turn.example.org:3479?transport=tcp'], username: '1700000000:12D3KooW', credential: 'q83vEjRWeJCrze8SNFZ4kKs=', ttl: 21600 }

  it('decodes what the bootstrap node encodes', () => {
    assert.deepEqual(decodeTurnCredentials(encodeTurnCredentials(good)), { ...good, retryAfter: 0 })
  })

  it('refuses malformed frames with ProtocolViolationError', () => {
    const bad = [
      encodeTurnCredentials({ ...good, urls: Array.from({ length: 5 }, () => good.urls[0]) }), // too many URLs
      encodeTurnCredentials({ ...good, urls: ['http://203.0.113.7/'] }), // not a TURN URL
      encodeTurnCredentials({ ...good, urls: ['turn:user:pass@203.0.113.7:3479'] }), // credentials in the URL
      encodeTurnCredentials({ ...good, urls: [`turn:${'a'.repeat(300)}:3479`] }),
      encodeTurnCredentials({ ...good, username: 'u'.repeat(200) }),
      Uint8Array.from([0x10, 0x01]), // field 2 (username) as a varint
      Uint8Array.from([0x12, 0x02, 0xc3, 0x28]), // username not UTF-8
      Uint8Array.from([0x0a, 0x05, 0x74]) // a URL running past the frame
    ]
    for (const bytes of bad) assert.throws(() => decodeTurnCredentials(bytes), { name: 'ProtocolViolationError' })
    assert.equal(TurnCredentials.decode(encodeTurnCredentials({ retryAfter: 30 })).retryAfter, 30)
  })
})

describe('TURN from the bootstrap node', function () {
  this.timeout(60_000)
  let cleanup: Cleanup

  before(async function () {
    if (await findCoturn() == null) {
      console.info(`      (skipped: ${COTURN_MISSING})`)
      this.skip()
    }
  })

  beforeEach(() => { cleanup = new Cleanup() })
  afterEach(async () => { await cleanup.run() })

  async function startTurnBootstrap (options: BootstrapOptions = {}): Promise<BootstrapNode> {
    return cleanup.add(await createBootstrapNode({
      listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
      stunPort: 0,
      stunHost: '127.0.0.1',
      turn: { host: '127.0.0.1', port: await freePort(), minPort: 49152, maxPort: 49300, allowPrivatePeers: true },
      ...options
    }))
  }

  /** A plain libp2p peer (TCP, identify) connected to the bootstrap node. */
  async function connectedPeer (boot: BootstrapNode): Promise<{ node: Libp2p, connection: Connection }> {
    const node = cleanup.add(await createLibp2p({
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    }))
    const connection = await node.dial(multiaddr(boot.addresses()[0]))
    return { node, connection }
  }

  it('gives a connected peer credentials that coturn accepts, and coturn refuses a wrong secret or an expired one', async () => {
    const boot = await startTurnBootstrap()
    assert.equal(boot.turn?.coturn?.ready, true)
    const port = boot.turn.urls[0].match(/:(\d+)\?/)?.[1]
    assert.deepEqual(boot.turn.urls, [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`])
    const { node, connection } = await connectedPeer(boot)

    const before = Math.floor(Date.now() / 1000)
    const grant = await fetchTurnCredentials(connection)
    assert.deepEqual(grant.urls, boot.turn.urls)
    const [expiry, user] = grant.username.split(':')
    assert.equal(user, node.peerId.toString(), 'the username names the peer')
    const ttl = Number(expiry) - before
    assert.ok(ttl >= 6 * 3600 && ttl <= 6 * 3600 + 301, `lasts 6 h (rounded up to 5 min), not ${ttl} s`)
    assert.match(grant.credential, /^[A-Za-z0-9+/]{27}=$/, 'base64 of a SHA-1 HMAC')

    const ok = await allocate(grant.urls[0], grant.username, grant.credential)
    assert.ok(ok.ok, `allocated: ${JSON.stringify(ok)}`)
    assert.match(ok.relayed, /^127\.0\.0\.1:(49[12]\d\d|4930\d)$/)

    const wrong = turnRestCredentials('not the secret', node.peerId.toString(), Number(expiry))
    assert.deepEqual(await allocate(grant.urls[0], wrong.username, wrong.credential), { ok: false, code: 401 })
    const secret = boot.turn.coturn?.secret ?? ''
    const expired = turnRestCredentials(secret, node.peerId.toString(), before - 60)
    assert.deepEqual(await allocate(grant.urls[0], expired.username, expired.credential), { ok: false, code: 401 })
    assert.deepEqual(boot.turn.stats(), { issued: 1, refused: 0, failed: 0 })
  })

  it('refuses a peer over the rate limit, and serves others meanwhile; only on direct connections', async () => {
    const boot = await startTurnBootstrap()
    const greedy = await connectedPeer(boot)
    for (let i = 0; i < TURN_REQUESTS_PER_MINUTE; i++) await fetchTurnCredentials(greedy.connection)
    await assert.rejects(fetchTurnCredentials(greedy.connection), (err: any) => err.name === 'TurnRefusedError' && err.retryAfter > 0 && err.retryAfter <= 60)
    const other = await connectedPeer(boot)
    const grant: TurnGrant = await fetchTurnCredentials(other.connection)
    assert.ok(grant.username.endsWith(other.node.peerId.toString()))
    assert.deepEqual(boot.turn?.stats(), { issued: TURN_REQUESTS_PER_MINUTE + 1, refused: 1, failed: 0 })
    // a relayed (limited) connection to the node is not served: the handler is not run on one
    const registrar = (boot.libp2p as any).components.registrar
    assert.equal(registrar.getHandler(TURN_CREDENTIALS_PROTOCOL).options.runOnLimitedConnection, false)
  })

  it('chat clients pick the TURN server up by themselves and give it to their calls beside the STUN server', async () => {
    const boot = await startTurnBootstrap()
    const stunServer = { urls: boot.stunUrl ?? '' }
    const given: MediaSetup[] = []
    const recording = (inner: MediaFactory): MediaFactory => async (call, events, options) => {
      given.push(options)
      return await inner(call, events, options)
    }
    const alice = cleanup.add(await startChat({ bootstrapNode: boot, iceServers: [stunServer], callMedia: recording(fakeMedia()) }))
    const bob = cleanup.add(await startChat({ bootstrapNode: boot, iceServers: [stunServer], callMedia: recording(fakeMedia()) }))
    const hasTurn = (chat: typeof alice) => () => chat.iceServers().some(s => String(s.urls).startsWith('turn:'))
    await until(hasTurn(alice), WAIT_MS, 'alice to hold TURN credentials')
    await until(hasTurn(bob), WAIT_MS, 'bob to hold TURN credentials')
    const [first, turnServer] = alice.iceServers()
    assert.deepEqual(first, stunServer, 'the STUN server first (node-datachannel takes only the first STUN server)')
    assert.deepEqual(turnServer.urls, boot.turn?.urls)
    assert.ok(turnServer.username?.endsWith(`:${alice.peerId.toString()}`))

    await alice.addContact(bob.peerId.toString(), 'bob')
    await bob.addContact(alice.peerId.toString(), 'alice')
    const ringing = waitFor<CallInfo>(bob, 'call', c => c.state === 'incoming', WAIT_MS)
    const call = await alice.call('bob', { video: false })
    await ringing
    const connected = waitFor<CallInfo>(alice, 'call', c => c.state === 'connected', WAIT_MS)
    await bob.accept(call.id)
    await connected
    assert.equal(given.length, 2)
    for (const setup of given) {
      assert.deepEqual(setup.iceServers?.[0], stunServer)
      assert.ok(setup.iceServers?.some(s => String(s.urls) === String(boot.turn?.urls)), 'the call was given the TURN server')
    }
  })

  it('connects a relay-only RTCPeerConnection pair through coturn, with no other path between them', async function () {
    // node-datachannel needs the test network namespace, and the namespace is ours to firewall
    if (process.env.MEGACHAT_IN_NETNS !== '1' || !WEBRTC) {
      console.info('      (skipped: needs the test network namespace, as npm test makes it: WebRTC there, and a firewall of our own)')
      this.skip()
    }
    const boot = await startTurnBootstrap()
    const turnPort = Number(boot.turn?.urls[0].match(/:(\d+)\?/)?.[1])
    // only UDP to and from coturn passes, as between two symmetric NATs: any other path would be direct
    const rules = [
      ['-p', 'udp', '--dport', String(turnPort), '-j', 'ACCEPT'], ['-p', 'udp', '--sport', String(turnPort), '-j', 'ACCEPT'],
      ['-p', 'udp', '--dport', '49152:49300', '-j', 'ACCEPT'], ['-p', 'udp', '--sport', '49152:49300', '-j', 'ACCEPT'],
      ['-p', 'udp', '-j', 'DROP']
    ]
    for (const rule of rules) execFileSync('iptables', ['-A', 'OUTPUT', ...rule])
    cleanup.add({ stop: () => { for (const rule of rules) execFileSync('iptables', ['-D', 'OUTPUT', ...rule]) } })

    const grants = await Promise.all([connectedPeer(boot), connectedPeer(boot)].map(async p => await fetchTurnCredentials((await p).connection)))
    // the pair in a process of its own: libdatachannel's close() can hang a thread for good (turn-pair.ts)
    const pair = spawn(process.execPath, [TURN_PAIR, JSON.stringify(grants), String(WAIT_MS)], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanup.add({ stop: () => { pair.kill('SIGKILL') } })
    let out = ''
    let err = ''
    pair.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    pair.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the TURN pair did not answer within ${WAIT_MS + 5000} ms; stderr: ${err.slice(-500)}`)) }, WAIT_MS + 5000)
      pair.stdout.on('data', () => {
        if (!out.includes('\n')) return
        clearTimeout(timer)
        resolve(out.split('\n')[0])
      })
      pair.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (!out.includes('\n')) reject(new Error(`the TURN pair exited (${signal ?? code}) without a result; stderr: ${err.slice(-500)}`))
      })
    })
    const result = JSON.parse(line) as { ok: boolean, setupMs?: number, error?: string, candidates: string[] }
    assert.ok(result.ok, `${result.error ?? 'failed'}; candidates: ${result.candidates.join(' | ')}`)
    assert.ok(result.candidates.length > 0 && result.candidates.every(c => / typ relay /.test(c)), `only relay candidates: ${result.candidates.join(' | ')}`)
    console.info(`      (data channel open through coturn in ${result.setupMs ?? '?'} ms)`)
  })

  it('starts coturn again when it dies, with the same secret, and stops it with the node', async () => {
    const boot = await startTurnBootstrap()
    const coturn = boot.turn?.coturn
    assert.ok(coturn != null)
    const { connection } = await connectedPeer(boot)
    const grant = await fetchTurnCredentials(connection)
    const firstPid = coturn.pid
    assert.ok(firstPid != null)

    const stopped = waitFor(coturn, 'exit', () => true, WAIT_MS)
    const back = waitFor<{ pid: number }>(coturn, 'ready', () => true, WAIT_MS)
    process.kill(firstPid, 'SIGKILL')
    const exit = await stopped
    assert.equal(exit.signal, 'SIGKILL')
    assert.match(exit.reason, /killed by SIGKILL/)
    const { pid } = await back
    assert.notEqual(pid, firstPid)
    assert.equal(coturn.restarts, 1)
    const again = await allocate(grant.urls[0], grant.username, grant.credential)
    assert.ok(again.ok, 'credentials from before the restart still work')

    await boot.stop()
    assert.equal(coturn.pid, undefined)
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'coturn is gone')
  })

  it('gives up on a coturn that never answers, kills it, starts it again and lives on', async () => {
    // a "coturn" that runs and never listens: the readiness probe runs out while sending
    const dir = cleanup.dir(await tempDir('megachat-fake-coturn-'))
    const binary = join(dir, 'turnserver')
    writeFileSync(binary, '#!/bin/sh\nexec sleep 60\n', { mode: 0o755 })
    const coturn = await startCoturn({ binary, port: await freePort(), host: '127.0.0.1', realm: 'test', minPort: 49152, maxPort: 49407, readyTimeout: 300 })
    cleanup.add(coturn)
    const second = waitFor<CoturnExit>(coturn, 'exit', () => coturn.restarts >= 1, WAIT_MS)
    assert.match(coturn.lastExit?.reason ?? '', /did not answer on port \d+ within 0.3 s/)
    // the probe's timers stopped with it: another start, probed and given up on, and the process is still here
    const exit = await second
    assert.match(exit.reason, /did not answer/)
    assert.equal(coturn.ready, false)
  })

  it('refuses allowed peers that are not an IP address or a range of one family', async () => {
    for (const bad of ['203.0.113.0/24', '203.0.113.0-', '10.0.0.1-::1', 'example.org']) {
      await assert.rejects(startTurnBootstrap({ turn: { port: 3479, allowedPeers: [bad] } }), (err: any) => err.name === 'InvalidInputError' && err.message.includes(bad))
    }
  })

  it('runs without TURN when coturn is missing, and says so in one line', async () => {
    const boot = await startTurnBootstrap({ turn: { binary: '/nonexistent/turnserver' } })
    assert.equal(boot.turn?.unavailable, COTURN_MISSING)
    assert.deepEqual(boot.turn?.urls, [])
    assert.ok(!boot.libp2p.getProtocols().includes(TURN_CREDENTIALS_PROTOCOL))

    const data = cleanup.dir(await tempDir())
    const child = spawn(process.execPath, [MAIN, '--json', '--turn', '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-port', '0', '--data', data, '--status-interval', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: '/nonexistent' } })
    cleanup.add({ stop: () => { child.kill('SIGKILL') } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    await until(() => stdout.includes('\n'), WAIT_MS, 'the ready line')
    const ready = JSON.parse(stdout.split('\n')[0])
    assert.deepEqual(ready.turn, { unavailable: COTURN_MISSING })
    assert.equal(stderr, `megachat-bootstrap: ${COTURN_MISSING}; running without TURN\n`)
  })

  it('the CLI runs coturn with --turn and ends it on SIGTERM; the secret is in no output', async () => {
    const data = cleanup.dir(await tempDir())
    const port = await freePort()
    const child = spawn(process.execPath, [MAIN, '--json', '--turn', '--turn-host', '127.0.0.1', '--turn-port', String(port), '--turn-relay-ports', '49301-49310',
      '--turn-allow-peer', '203.0.113.0-203.0.113.255',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-port', '0', '--data', data, '--status-interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] })
    cleanup.add({ stop: () => { child.kill('SIGKILL') } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    const exited = new Promise<number | null>(resolve => { child.once('close', resolve) })
    await until(() => stdout.split('\n').some(l => l.includes('"type":"status"')), WAIT_MS, 'a status line')
    const lines = stdout.split('\n').filter(l => l !== '').map(l => JSON.parse(l))
    assert.deepEqual(lines[0].turn, { urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`], relayPorts: [49301, 49310] })
    assert.deepEqual(lines.find(l => l.type === 'status').turn, { issued: 0, refused: 0, failed: 0, running: true })
    // the config file (with the secret) is in a private directory while coturn runs
    const pid = Number(execFileSync('pgrep', ['-P', String(child.pid), 'turnserver']).toString().trim())
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    const config = cmdline[cmdline.indexOf('-c') + 1]
    assert.equal(statSync(config).mode & 0o777, 0o600)
    assert.equal(statSync(dirname(config)).mode & 0o777, 0o700)
    const text = readFileSync(config, 'utf8')
    const secret = /static-auth-secret=(\S+)/.exec(text)?.[1] ?? ''
    // the lab's "internet" (documentation space) is allowed; every other denied range stays denied
    assert.ok(text.includes('\nallowed-peer-ip=203.0.113.0-203.0.113.255\n'))
    for (const denied of ['10.0.0.0-10.255.255.255', '127.0.0.0-127.255.255.255', '192.168.0.0-192.168.255.255']) assert.ok(text.includes(`\ndenied-peer-ip=${denied}\n`), denied)
    assert.ok(secret.length >= 40)
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.ok(!existsSync(config), 'the config file is removed')
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'coturn is gone')
    assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'the secret is not printed')
  })
})
