/**
 * The bootstrap node on loopback: addresses, relay reservations, STUN, identity, DHT, the CLI.
 * Runs inside the test network namespace (test/netns.sh); the WebRTC-direct case needs the veth pair.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { createBootstrapNode, DHT_PROTOCOL } from '../bootstrap-node/index.js'
import { stun } from '../bootstrap-node/stun.js'
import { routingTable } from './fixtures.js'
import type { BootstrapNode, BootstrapOptions } from '../bootstrap-node/index.js'
import type { StunMessage } from '../bootstrap-node/stun.js'
import type { Libp2p, PeerId, ServiceMap } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'
import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:dgram'

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bootstrap-node', 'main.js')
const LOOPBACK_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']
const WAIT_MS = 15_000

/** Resolves with the first event of `type` on `target` for which `accept` holds; rejects after `ms`. */
async function waitForEvent<T = unknown> (target: EventTarget, type: string, accept: (evt: CustomEvent<T>) => boolean = () => true, ms = WAIT_MS): Promise<CustomEvent<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, listener)
      reject(new Error(`timed out after ${ms} ms waiting for ${type}`))
    }, ms)
    const listener = (evt: Event): void => {
      if (!accept(evt as CustomEvent<T>)) return
      clearTimeout(timer)
      target.removeEventListener(type, listener)
      resolve(evt as CustomEvent<T>)
    }
    target.addEventListener(type, listener)
  })
}

/** The next datagram on `socket`, or a timeout. */
async function nextDatagram (socket: Socket, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.removeListener('message', onMessage)
      reject(new Error(`no datagram within ${ms} ms`))
    }, ms)
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer)
      resolve(msg)
    }
    socket.once('message', onMessage)
  })
}

async function boundUdpSocket (): Promise<Socket> {
  const socket = createSocket('udp4')
  await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
  return socket
}

interface RunResult { code: number | null, stdout: string, stderr: string }

/** Collects a child's output; `lines` yields each stdout line as it comes. */
function watchChild (child: ChildProcess): { lines: (accept: (line: string) => boolean, ms?: number) => Promise<string>, done: Promise<RunResult> } {
  let stdout = ''
  let stderr = ''
  const waiters: Array<{ accept: (line: string) => boolean, resolve: (line: string) => void }> = []
  let pending = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    pending += chunk
    let nl: number
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      for (const w of [...waiters]) {
        if (w.accept(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line) }
      }
    }
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const done = new Promise<RunResult>(resolve => {
    child.once('exit', (code) => {
      // let the pipes drain before reporting
      setImmediate(() => { resolve({ code, stdout, stderr }) })
    })
  })
  const lines = async (accept: (line: string) => boolean, ms = WAIT_MS): Promise<string> => {
    return Promise.race([
      new Promise<string>(resolve => { waiters.push({ accept, resolve }) }),
      done.then(r => { throw new Error(`exited (${r.code}) before the expected line; stderr: ${r.stderr}`) }),
      new Promise<string>((_resolve, reject) => { setTimeout(() => { reject(new Error(`no expected line within ${ms} ms; stdout so far: ${stdout}`)) }, ms).unref() })
    ])
  }
  return { lines, done }
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    p.finally(() => { clearTimeout(timer) }),
    new Promise<T>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out: ${what}`)) }, ms) })
  ])
}

describe('bootstrap node', function () {
  this.timeout(60_000)
  const cleanups: Array<() => Promise<unknown> | unknown> = []
  const tmpDirs: string[] = []

  async function startBootstrap (options: BootstrapOptions = {}): Promise<BootstrapNode> {
    const node = await createBootstrapNode({ listen: LOOPBACK_LISTEN, stunPort: 0, ...options })
    cleanups.push(async () => node.stop())
    return node
  }

  /** A plain client: TCP and circuit relay, listening on /p2p-circuit unless told otherwise. */
  async function startClient<T extends ServiceMap> (options: Libp2pOptions<T>): Promise<Libp2p<T>> {
    const node = await createLibp2p<T>({
      addresses: { listen: ['/p2p-circuit'] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...options
    })
    cleanups.push(async () => node.stop())
    return node
  }

  async function tmp (): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'megachat-bootstrap-test-'))
    tmpDirs.push(dir)
    return dir
  }

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
    for (const d of tmpDirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  it('reports addresses that end in its peer id, and a STUN URL with the bound port', async () => {
    const node = await startBootstrap()
    const addrs = node.addresses()
    assert.equal(addrs.length, 2)
    for (const a of addrs) {
      assert.ok(a.startsWith('/ip4/127.0.0.1/tcp/'), a)
      assert.ok(a.endsWith(`/p2p/${node.peerId.toString()}`), a)
      assert.equal(multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value, node.peerId.toString())
    }
    assert.ok(addrs.some(a => a.includes('/ws/')), 'a WebSocket address')
    assert.match(node.stunUrl ?? '', /^stun:127\.0\.0\.1:\d+$/)
    assert.notEqual(node.stunUrl, 'stun:127.0.0.1:0')
    assert.deepEqual(node.status(), { peers: 0, reservations: 0 })
    assert.equal(node.relayLimits.maxReservations, 512)
    assert.equal(node.relayLimits.durationLimit, 10 * 60 * 1000)
    assert.equal(node.relayLimits.dataLimit, 16n * 1024n * 1024n)
  })

  it('gives its announce addresses instead of the listen addresses, and takes the STUN host from them', async () => {
    const node = await startBootstrap({ announce: ['/ip4/10.77.0.1/tcp/4001', '/ip4/10.77.0.1/tcp/4002/ws'] })
    assert.deepEqual(node.addresses(), [
      `/ip4/10.77.0.1/tcp/4001/p2p/${node.peerId.toString()}`,
      `/ip4/10.77.0.1/tcp/4002/ws/p2p/${node.peerId.toString()}`
    ])
    assert.match(node.stunUrl ?? '', /^stun:10\.77\.0\.1:\d+$/)
  })

  it('runs without STUN when told so', async () => {
    const node = await startBootstrap({ stunPort: false })
    assert.equal(node.stunUrl, undefined)
    assert.equal(node.stunStats(), undefined)
  })

  it('gives a relay reservation to a client listening on /p2p-circuit, and drops it when the client leaves', async () => {
    const relay = await startBootstrap()
    const client = await startClient({ services: { identify: identify() } })
    const reserved = waitForEvent(client, 'self:peer:update', () => client.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')))
    await client.dial(multiaddr(relay.addresses()[0]))
    await reserved
    const circuitAddr = client.getMultiaddrs().map(String).find(a => a.includes('/p2p-circuit'))
    assert.ok(circuitAddr?.startsWith(relay.addresses()[0] + '/p2p-circuit/p2p/'), circuitAddr)
    assert.deepEqual(relay.status(), { peers: 1, reservations: 1 })
    const reservation = relay.libp2p.services.relay.reservations.get(client.peerId)
    assert.equal(reservation?.limit?.duration, 10 * 60 * 1000)
    assert.equal(reservation?.limit?.data, 16n * 1024n * 1024n)

    const gone = waitForEvent(relay.libp2p, 'peer:disconnect')
    await client.stop()
    await gone
    assert.deepEqual(relay.status(), { peers: 0, reservations: 0 })
  })

  it('relays a connection between two clients through the reservation', async () => {
    const relay = await startBootstrap()
    const listener = await startClient({ services: { identify: identify(), ping: ping() } })
    const reserved = waitForEvent(listener, 'self:peer:update', () => listener.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')))
    await listener.dial(multiaddr(relay.addresses()[0]))
    await reserved
    const circuitAddr = listener.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit'))
    assert.ok(circuitAddr != null)

    const dialer = await startClient({ addresses: { listen: [] }, services: { identify: identify(), ping: ping() } })
    const conn = await dialer.dial(circuitAddr)
    assert.equal(conn.remotePeer.toString(), listener.peerId.toString())
    assert.ok(conn.limits != null, 'a relayed connection is limited')
    assert.equal(relay.status().peers, 2)
  })

  it('answers a STUN Binding request with the same transaction id and the sender\'s address', async () => {
    const node = await startBootstrap()
    const port = Number(node.stunUrl?.split(':')[2])
    const socket = await boundUdpSocket()
    cleanups.push(() => { socket.close() })
    const request = stun.createMessage(stun.constants.STUN_BINDING_REQUEST)
    const reply = nextDatagram(socket)
    socket.send(request.toBuffer(), port, '127.0.0.1')
    const response: StunMessage = stun.decode(await reply)
    assert.equal(response.type, stun.constants.STUN_BINDING_RESPONSE)
    assert.ok(response.transactionId.equals(request.transactionId), 'same transaction id')
    const mapped = response.getXorAddress()
    assert.deepEqual({ address: mapped?.address, port: mapped?.port }, { address: '127.0.0.1', port: socket.address().port })
    assert.deepEqual(node.stunStats(), { received: 1, answered: 1, dropped: 0 })
  })

  it('drops and counts garbage on the STUN port, and keeps answering', async () => {
    const node = await startBootstrap()
    const port = Number(node.stunUrl?.split(':')[2])
    const socket = await boundUdpSocket()
    cleanups.push(() => { socket.close() })
    const valid = stun.createMessage(stun.constants.STUN_BINDING_REQUEST).toBuffer()
    const badLength = Buffer.from(valid)
    badLength.writeUInt16BE(8, 2) // claims attributes that are not there
    const badCookie = Buffer.from(valid)
    badCookie.writeUInt32BE(0xdeadbeef, 4)
    const response = stun.createMessage(stun.constants.STUN_BINDING_RESPONSE).toBuffer()
    const indication = stun.createMessage(stun.constants.STUN_BINDING_INDICATION).toBuffer()
    const allocate = stun.createMessage(stun.constants.STUN_ALLOCATE_REQUEST).toBuffer()
    const badAttribute = Buffer.concat([valid, Buffer.from([0x00, 0x20, 0x00, 0x04, 1, 2])]) // truncated XOR-MAPPED-ADDRESS
    badAttribute.writeUInt16BE(8, 2)
    const garbage = [
      Buffer.from('hello, not STUN'),
      Buffer.alloc(0),
      Buffer.alloc(1, 0),
      Buffer.alloc(19, 0),
      Buffer.alloc(20, 0),
      Buffer.alloc(2000, 1),
      badLength,
      badCookie,
      response,
      indication,
      allocate,
      badAttribute,
      Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))
    ]
    for (const g of garbage) socket.send(g, port, '127.0.0.1')
    // loopback keeps the order: when this one is answered, all the garbage has been handled
    const request = stun.createMessage(stun.constants.STUN_BINDING_REQUEST)
    const reply = nextDatagram(socket)
    socket.send(request.toBuffer(), port, '127.0.0.1')
    const answer: StunMessage = stun.decode(await reply)
    assert.ok(answer.transactionId.equals(request.transactionId), 'answered the request after the garbage, not anything else')
    assert.deepEqual(node.stunStats(), { received: garbage.length + 1, answered: 1, dropped: garbage.length })
  })

  it('keeps its peer id across restarts with the same data directory', async () => {
    const dir = await tmp()
    const first = await startBootstrap({ dataDir: dir })
    const id = first.peerId.toString()
    await first.stop()
    const second = await startBootstrap({ dataDir: dir })
    assert.equal(second.peerId.toString(), id)
    await second.stop()
    const other = await startBootstrap({ dataDir: await tmp() })
    assert.notEqual(other.peerId.toString(), id)
    const inMemory = await startBootstrap()
    assert.notEqual(inMemory.peerId.toString(), id)
  })

  it('fails with a ListenError when a port is taken, and leaves nothing open', async () => {
    const udp = await boundUdpSocket()
    cleanups.push(() => { udp.close() })
    await assert.rejects(startBootstrap({ stunPort: udp.address().port, stunHost: '127.0.0.1' }), { name: 'ListenError', message: /address already in use/ })

    const server = createServer()
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    cleanups.push(async () => new Promise(resolve => { server.close(resolve) }))
    const port = (server.address() as { port: number }).port
    // the STUN port is bound first: it must be released again when libp2p cannot listen
    const stunSocket = await boundUdpSocket()
    const stunPort = stunSocket.address().port
    await new Promise<void>(resolve => { stunSocket.close(resolve) })
    await assert.rejects(startBootstrap({ listen: [`/ip4/127.0.0.1/tcp/${port}`], stunPort, stunHost: '127.0.0.1' }),
      (err: Error) => err.name === 'ListenError' && err.message === `cannot listen on /ip4/127.0.0.1/tcp/${port}: address already in use`)
    const node = await startBootstrap({ stunPort, stunHost: '127.0.0.1' })
    assert.equal(node.stunUrl, `stun:127.0.0.1:${stunPort}`)

    // WebRTC-direct's UDP port (libjuice binds it on all interfaces)
    await assert.rejects(startBootstrap({ listen: ['/ip4/127.0.0.1/tcp/0', `/ip4/127.0.0.1/udp/${udp.address().port}/webrtc-direct`] }),
      (err: Error) => err.name === 'ListenError' && err.message.endsWith('address already in use'))
  })

  it('rejects bad options with InvalidInputError', async () => {
    await assert.rejects(startBootstrap({ listen: ['not a multiaddr'] }), { name: 'InvalidInputError' })
    await assert.rejects(startBootstrap({ stunPort: 70000 }), { name: 'InvalidInputError' })
    await assert.rejects(startBootstrap({ relay: { durationLimit: -1 } }), { name: 'InvalidInputError' })
  })

  it('serves the MegaChat DHT and keeps loopback addresses in its answers', async () => {
    const dhtOptions = { protocol: DHT_PROTOCOL, peerInfoMapper: passthroughMapper }
    const boot = await startBootstrap()
    const bootAddr = multiaddr(boot.addresses()[0])
    // a server-mode peer: the bootstrap node adds it to its routing table
    const listed = await startClient({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      services: { identify: identify(), ping: ping(), dht: kadDHT({ ...dhtOptions, clientMode: false }) }
    })
    const added = waitForEvent<PeerId>(routingTable(boot.libp2p.services.dht), 'peer:add',
      evt => evt.detail.toString() === listed.peerId.toString())
    await listed.dial(bootAddr)
    await added

    const seeker = await startClient({
      addresses: { listen: [] },
      services: { identify: identify(), ping: ping(), dht: kadDHT({ ...dhtOptions, clientMode: true }) }
    })
    const bootInTable = waitForEvent<PeerId>(routingTable(seeker.services.dht), 'peer:add',
      evt => evt.detail.toString() === boot.peerId.toString())
    await seeker.dial(bootAddr)
    await bootInTable
    const found = await seeker.peerRouting.findPeer(listed.peerId, { signal: AbortSignal.timeout(WAIT_MS) })
    assert.equal(found.id.toString(), listed.peerId.toString())
    assert.ok(found.multiaddrs.some(ma => ma.toString().startsWith('/ip4/127.0.0.1/tcp/')), found.multiaddrs.map(String).join(' '))
  })

  it('listens for WebRTC-direct when asked', async function () {
    if (process.env.MEGACHAT_NO_WEBRTC != null) this.skip()
    const node = await startBootstrap({ listen: ['/ip4/10.77.0.1/tcp/0', '/ip4/10.77.0.1/udp/0/webrtc-direct'] })
    const addr = node.addresses().find(a => a.includes('/webrtc-direct/'))
    assert.ok(addr?.includes('/certhash/'), addr)
    const client = await startClient({
      addresses: { listen: [] },
      transports: [webRTCDirect({ rtcConfiguration: { iceServers: [] } })],
      services: { identify: identify(), ping: ping() }
    })
    const conn = await client.dial(multiaddr(addr))
    assert.equal(conn.remotePeer.toString(), node.peerId.toString())
    const rtt = await client.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(WAIT_MS) })
    assert.ok(rtt >= 0)
  })

  describe('main.js', () => {
    it('prints a ready line in --json mode, then status lines, and exits 0 on SIGTERM', async () => {
      const data = await tmp()
      const child = spawn(process.execPath, [MAIN, '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--stun-port', '0', '--data', data, '--status-interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanups.push(() => { if (child.exitCode == null) child.kill('SIGKILL') })
      const { lines, done } = watchChild(child)
      const ready = JSON.parse(await lines(l => l.includes('"ready"')))
      assert.equal(ready.type, 'ready')
      assert.match(ready.peerId, /^12D3KooW/)
      assert.equal(ready.addresses.length, 1)
      assert.ok(ready.addresses[0].startsWith('/ip4/127.0.0.1/tcp/'))
      assert.ok(ready.addresses[0].endsWith(`/p2p/${ready.peerId}`))
      assert.match(ready.stun, /^stun:127\.0\.0\.1:\d+$/)
      const { records, ...status } = JSON.parse(await lines(l => l.includes('"status"')))
      assert.deepEqual(status, { type: 'status', peers: 0, reservations: 0 })
      assert.deepEqual(Object.keys(records).sort(), ['peers', 'providers', 'refused', 'values'])
      assert.deepEqual(records.refused, { providers: 0, values: 0, peers: 0 })
      child.kill('SIGTERM')
      const result = await withTimeout(done, WAIT_MS, 'exit after SIGTERM')
      assert.equal(result.code, 0, result.stderr)
      assert.equal(result.stderr, '')
      for (const line of result.stdout.trim().split('\n')) JSON.parse(line)

      // the same data directory gives the same peer id
      const again = spawn(process.execPath, [MAIN, '--json', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-stun', '--data', data, '--status-interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanups.push(() => { if (again.exitCode == null) again.kill('SIGKILL') })
      const second = watchChild(again)
      const ready2 = JSON.parse(await second.lines(l => l.includes('"ready"')))
      assert.equal(ready2.peerId, ready.peerId)
      assert.equal(ready2.stun, null)
      again.kill('SIGINT')
      assert.equal((await withTimeout(second.done, WAIT_MS, 'exit after SIGINT')).code, 0)
    })

    it('prints one line on stderr and exits 1 when the port is in use', async () => {
      const server = createServer()
      await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
      cleanups.push(async () => new Promise(resolve => { server.close(resolve) }))
      const port = (server.address() as { port: number }).port
      const child = spawn(process.execPath, [MAIN, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--stun-port', '0', '--data', await tmp()], { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanups.push(() => { if (child.exitCode == null) child.kill('SIGKILL') })
      const result = await withTimeout(watchChild(child).done, WAIT_MS, 'exit')
      assert.equal(result.code, 1)
      assert.equal(result.stdout, '')
      assert.equal(result.stderr, `megachat-bootstrap: cannot listen on /ip4/127.0.0.1/tcp/${port}: address already in use\n`)
    })

    it('prints one line on stderr and exits 1 for a bad option or an unusable data directory', async () => {
      const data = await tmp()
      const file = join(data, 'a-file')
      await writeFile(file, 'not a directory')
      for (const args of [
        ['--stun-port', 'abc'],
        ['--lisen', '/ip4/127.0.0.1/tcp/0'],
        ['--listen', 'nonsense'],
        ['--data', join(file, 'sub')],
        ['--data', file]
      ]) {
        const child = spawn(process.execPath, [MAIN, '--stun-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0', '--data', data, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
        cleanups.push(() => { if (child.exitCode == null) child.kill('SIGKILL') })
        const result = await withTimeout(watchChild(child).done, WAIT_MS, `exit for ${args.join(' ')}`)
        assert.equal(result.code, 1, args.join(' '))
        assert.equal(result.stdout, '', args.join(' '))
        assert.match(result.stderr, /^megachat-bootstrap: [^\n]+\n$/, args.join(' '))
      }
    })
  })
})
