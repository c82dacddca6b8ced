/**
 * Section 4 of the bench: room fan-out at 30 members, all in this one process.
 *
 * MegaChat side: the real bootstrap node and 30 chat nodes (memory store, no WebRTC). Every member i
 * first dials members i+1, i+2 and i+5 (mod 30); then member 0 creates a room and the others join by
 * invite. Members also find each other themselves (joinRoom dials the invite's creator; each member
 * looks the others up in the DHT and dials them at joining and 3, 10 and 30 s later), so a 30-member
 * room ends up with (nearly) every member linked to every other. The bench waits until those early
 * rounds are over, then copies the member-to-member links that exist to the floor.
 *
 * Floor: 30 raw libp2p nodes (TCP, Noise, yamux, identify, gossipsub with MegaChat's settings from
 * src/node/services.ts) on exactly those links, formed the same way (fixed links, everyone subscribes
 * at once, then the other links), on two topics:
 *  - raw gossipsub: plaintext as long as one sealed room message;
 *  - diagnostic: the room's crypto on raw gossipsub (publish seals and signs, a topic validator opens
 *    and verifies), which splits MegaChat's cost into the crypto and the rest (store, rooms plumbing,
 *    the heavier node).
 *
 * Every row sends the same messages from the same (random) members; the rows take turns message by
 * message. A message is timed from just before say()/publish() to each receiver's event
 * (`room:message` / gossipsub `message`); the next one goes once all 29 receivers have it or
 * DELIVERY_TIMEOUT_MS passed.
 *
 * Reading the numbers: gossipsub publishes a node's own message to every subscribed peer it is
 * connected to (floodPublish), so all 29 get it first hand, and in one process their work runs one
 * after the other on one event loop: the last receiver waits for the CPU work of all the others. The
 * per-message CPU row shows that cost. Whole-process stalls (see STALL_MS) land on whichever
 * messages are in flight and set most of the p99; the 'calm messages only' row leaves those out.
 */
import { monitorEventLoopDelay, performance as perf } from 'node:perf_hooks'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { createRoomSecret, deriveRoomKeys, openRoomMessageDetailed, sealRoomMessage } from '../src/crypto/room.js'
import { createChat } from '../src/index.js'
import { internals } from '../src/internals.js'
import { EARLY_DISCOVERY_MS } from '../src/rooms/index.js'
import { startPlainGossipNode } from '../test/fixtures.js'
import { mean, ms, pad, positiveInt, ratio, summarize, verdict } from './stats.js'
import type { Summary } from './stats.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { RoomKeys } from '../src/crypto/room.js'
import type { Chat } from '../src/index.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { TypedEventTarget } from 'main-event'

const MEMBERS = 30
/** every member i dials members i + each of these (mod MEMBERS) before joining */
const NEIGHBOUR_STEPS = [1, 2, 5]
const MESSAGES = positiveInt(process.env.BENCH_ROOM_MESSAGES, 300)
/** messages per row before the measured ones (JIT, caches), not counted */
const WARMUP = 10
const DELIVERY_TIMEOUT_MS = 5_000
/** how long start-up, dialling and mesh forming may take (each) */
const SETUP_TIMEOUT_MS = 30_000
/**
 * After joining, each member announces itself in the DHT and looks for the others at once and about 3, 10
 * and 30 s later (EARLY_DISCOVERY_MS, each ±25 %), then every 2 minutes. Here all 30 joined at
 * the same moment and share one event loop, so their rounds coincide and stall it for seconds (DHT
 * queries, peer store updates, dials), where on 30 machines each would cost its own node a little.
 * The measurement starts after the last early round: the graph is settled and those stalls are over.
 */
const LAST_EARLY_ROUND_MS = Math.max(...EARLY_DISCOVERY_MS) * 1.25
/** then: the event loop counts as quiet when busy less than this share of a QUIET_WINDOW_MS window */
const QUIET_UTILIZATION = 0.5
const QUIET_WINDOW_MS = 500
const QUIET_TIMEOUT_MS = 10_000
/**
 * The rows take turns message by message, in every order in turn (so that each row follows each
 * other row as often). In one process the event loop stalls now and then for a few
 * hundred ms, for all nodes at once: libp2p pings every connection every 10 s and nodes started
 * together ping together (some 2000 pings here, each a new stream with peer store updates at both
 * ends), and the shared heap is garbage collected. Taking turns per message spreads the stalls over
 * all rows instead of letting one stall decide one row's p99.
 *
 * A message counts as stalled when the event loop was late by more than this while it was in flight.
 */
const STALL_MS = 100
/** gossipsub's Dlo: below this a mesh grafts more peers at each heartbeat */
const MESH_MIN = 4
/**
 * Inbound dials one node takes from the bench per second: libp2p refuses a sixth inbound connection
 * per second from one IP address (connection manager `inboundConnectionThreshold`, default 5), and here
 * every node is on 127.0.0.1.
 */
const INBOUND_PER_SECOND = 4
const ROOM = 'bench'
const FLOOR_TOPIC = '/megachat-bench/fan-out/plain/1'
const CRYPTO_TOPIC = '/megachat-bench/fan-out/sealed/1'
/** every message text has exactly this many characters (so every sealed message has the same size) */
const TEXT_LENGTH = 48
const P99_GOAL = 1.3
const LABEL = 44

export interface RoomBenchIo {
  /** prints one line of the report */
  line(text?: string): void
  /** tells the watchdog what is going on now */
  step(what: string): void
}

type FloorNode = Libp2p<{ identify: Identify, pubsub: GossipSub }>

/** The text of message `seq`: its number first (receivers find it by that), padded to TEXT_LENGTH. */
function messageText (seq: number, from: number): string {
  const text = `bench #${seq} from member ${from} `
  return text + '.'.repeat(Math.max(0, TEXT_LENGTH - text.length))
}

function seqOf (text: string | undefined): number | undefined {
  const match = /^bench #(\d+) /.exec(text ?? '')
  return match == null ? undefined : Number(match[1])
}

async function pause (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

function permutations<T> (items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [item, ...rest]))
}

/**
 * Resolves once `condition()` holds, checking it again on every event of `names` from `targets`;
 * rejects after `ms` with `what()`.
 */
async function whenTrue (condition: () => boolean, targets: Array<TypedEventTarget<any>>, names: string[], ms: number, what: () => string): Promise<void> {
  if (condition()) return
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!condition()) return
      done()
      resolve()
    }
    const done = (): void => {
      clearTimeout(timer)
      for (const t of targets) for (const n of names) t.removeEventListener(n, check)
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`timed out after ${ms / 1000} s waiting for ${what()}`))
    }, ms)
    for (const t of targets) for (const n of names) t.addEventListener(n, check)
  })
}

interface Quiet {
  quiet: boolean
  /** share of the last window the event loop was busy */
  utilization: number
}

/** Resolves at the first QUIET_WINDOW_MS window in which the event loop was busy less than QUIET_UTILIZATION, or after `ms`. */
async function quiet (ms = QUIET_TIMEOUT_MS): Promise<Quiet> {
  const t0 = performance.now()
  let last = perf.eventLoopUtilization()
  let utilization = Number.NaN
  while (performance.now() - t0 < ms) {
    await pause(QUIET_WINDOW_MS)
    const now = perf.eventLoopUtilization()
    utilization = perf.eventLoopUtilization(now, last).utilization
    last = now
    if (utilization < QUIET_UTILIZATION) return { quiet: true, utilization }
  }
  return { quiet: false, utilization }
}

/** events after which a gossipsub subscription or mesh may have changed (heartbeats: once a second per node) */
const PUBSUB_EVENTS = ['subscription-change', 'gossipsub:graft', 'gossipsub:prune', 'gossipsub:heartbeat']

/** The topic mesh: on the implementation class, not on the GossipSub interface that libp2p's service map exposes. */
function meshPeers (pubsub: GossipSub, topic: string): string[] {
  return (pubsub as unknown as { getMeshPeers(topic: string): string[] }).getMeshPeers(topic)
}

function meshSizes (pubsubs: GossipSub[], topic: string): string {
  const sizes = pubsubs.map(p => meshPeers(p, topic).length)
  return `${Math.min(...sizes)}-${Math.max(...sizes)} (mean ${mean(sizes).toFixed(1)})`
}

// ---- deliveries

/** Notes when the event loop was late by more than STALL_MS (a 10 ms ticker that checks its own lateness). */
class StallWatch {
  readonly stalls: Array<[number, number]> = []
  private last = 0
  private timer?: ReturnType<typeof setInterval>

  start (): void {
    this.last = performance.now()
    this.timer = setInterval(() => {
      const now = performance.now()
      if (now - this.last > STALL_MS) this.stalls.push([this.last, now])
      this.last = now
    }, 10)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  during (t0: number, t1: number): boolean {
    return this.stalls.some(([a, b]) => a < t1 && b > t0)
  }
}

interface Sent {
  t0: number
  /** when all had it, or the timeout */
  t1: number
  /** per receiver latency, in arrival order */
  latencies: number[]
  /** process CPU (user + system) from just before publishing until all had it or the timeout */
  cpuMs: number
  /** until say()/publish() resolved */
  publishedMs: number
}

interface Pending {
  t0: number
  from: number
  got: Set<number>
  latencies: number[]
  finish?: () => void
}

/** Every message of one row, with the latency of every (message, receiver) pair. */
class Deliveries {
  sent: Sent[] = []
  /** arrivals after the message's delivery timeout */
  late = 0
  duplicates = 0
  /** MegaChat only: arrivals through history sync rather than gossip */
  synced = 0
  private readonly open = new Map<number, Pending>()
  private readonly closed = new Set<number>()

  constructor (readonly label: string, private readonly receivers: number, private readonly watch: StallWatch) {}

  receive (seq: number | undefined, receiver: number, at: number): void {
    if (seq == null) return
    const p = this.open.get(seq)
    if (p == null) {
      if (this.closed.has(seq)) this.late++
      return
    }
    if (receiver === p.from || p.got.has(receiver)) {
      this.duplicates++
      return
    }
    p.got.add(receiver)
    p.latencies.push(at - p.t0)
    if (p.got.size === this.receivers) p.finish?.()
  }

  /** Sends one message with `publish` and waits until every receiver has it or the timeout passed. */
  async send (seq: number, from: number, publish: () => Promise<unknown>): Promise<void> {
    const p: Pending = { t0: 0, from, got: new Set(), latencies: [] }
    const all = new Promise<void>(resolve => { p.finish = resolve })
    this.open.set(seq, p)
    let timer: ReturnType<typeof setTimeout> | undefined
    let publishedMs = Number.NaN
    const cpu0 = process.cpuUsage()
    try {
      p.t0 = performance.now()
      await publish()
      publishedMs = performance.now() - p.t0
      await Promise.race([all, new Promise<void>(resolve => { timer = setTimeout(resolve, DELIVERY_TIMEOUT_MS) })])
    } finally {
      clearTimeout(timer)
      this.open.delete(seq)
      this.closed.add(seq)
    }
    const cpu = process.cpuUsage(cpu0)
    this.sent.push({ t0: p.t0, t1: performance.now(), latencies: p.latencies, cpuMs: (cpu.user + cpu.system) / 1000, publishedMs })
  }

  reset (): void {
    this.sent = []
    this.late = this.duplicates = this.synced = 0
  }

  get expected (): number { return this.sent.length * this.receivers }
  get delivered (): number { return this.sent.reduce((n, s) => n + s.latencies.length, 0) }
  get ratio (): number { return this.expected === 0 ? Number.NaN : this.delivered / this.expected }
  latencies (which = this.sent): number[] { return which.flatMap(s => s.latencies) }
  /** the messages during which the event loop did not stall */
  get calm (): Sent[] { return this.sent.filter(s => !this.watch.during(s.t0, s.t1)) }
  /** per message that reached every receiver: when the first / the last of them had it */
  get first (): number[] { return this.sent.filter(s => s.latencies.length === this.receivers).map(s => Math.min(...s.latencies)) }
  get last (): number[] { return this.sent.filter(s => s.latencies.length === this.receivers).map(s => Math.max(...s.latencies)) }
}

// ---- topology

/** undirected member links as "i-j" with i < j */
type Links = Set<string>

function link (a: number, b: number): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`
}

function ends (l: string): [number, number] {
  const [a, b] = l.split('-').map(Number)
  return [a, b]
}

function fixedLinks (): Links {
  const links: Links = new Set()
  for (let i = 0; i < MEMBERS; i++) for (const s of NEIGHBOUR_STEPS) links.add(link(i, (i + s) % MEMBERS))
  return links
}

/** The member links open now (by the members' own connection lists), and how many connections are spare duplicates. */
function openLinks (nodes: Libp2p[]): { links: Links, duplicates: number } {
  const index = new Map(nodes.map((n, i) => [n.peerId.toString(), i]))
  const links: Links = new Set()
  let duplicates = 0
  nodes.forEach((n, i) => {
    const seen = new Set<number>()
    for (const c of n.getConnections()) {
      const j = index.get(c.remotePeer.toString())
      if (j == null || j === i) continue
      if (seen.has(j)) duplicates++
      seen.add(j)
      links.add(link(i, j))
    }
  })
  // each spare connection was counted at both of its ends
  return { links, duplicates: duplicates / 2 }
}

function degrees (links: Links): number[] {
  const d = new Array<number>(MEMBERS).fill(0)
  for (const l of links) for (const end of ends(l)) d[end]++
  return d
}

/** For each member, the members it is linked to. */
function linkedTo (links: Links): number[][] {
  const out = Array.from({ length: MEMBERS }, () => [] as number[])
  for (const l of links) {
    const [a, b] = ends(l)
    out[a].push(b)
    out[b].push(a)
  }
  return out
}

function tcpAddress (node: Libp2p): string {
  const addrs = node.getMultiaddrs().map(String)
  const addr = addrs.find(a => a.includes('/tcp/') && !a.includes('/p2p-circuit') && !a.includes('/ws'))
  if (addr == null) throw new Error(`no TCP address among ${addrs.join(', ')}`)
  return addr
}

/**
 * Opens every link that is not open yet. Each link is dialled from the end that makes every node dial
 * about as often as it is dialled, and each node is dialled at most INBOUND_PER_SECOND times a second
 * (see there); a refused dial goes back in the queue.
 */
async function dialLinks (nodes: Libp2p[], links: Links): Promise<void> {
  const addrs = nodes.map(tcpAddress)
  const queues = Array.from({ length: MEMBERS }, () => [] as number[])
  for (const l of links) {
    const [a, b] = ends(l)
    if (b - a <= MEMBERS / 2) queues[b].push(a)
    else queues[a].push(b)
  }
  const signal = AbortSignal.timeout(SETUP_TIMEOUT_MS)
  let lastFailure = ''
  while (queues.some(q => q.length > 0)) {
    if (signal.aborted) throw new Error(`could not open ${queues.flat().length} links within ${SETUP_TIMEOUT_MS / 1000} s (last failure: ${lastFailure})`)
    const windowEnd = performance.now() + 1_000
    await Promise.all(queues.map(async (queue, to) => {
      for (const from of queue.splice(0, INBOUND_PER_SECOND)) {
        if (nodes[from].getConnections(nodes[to].peerId).length > 0) continue
        try {
          await nodes[from].dial(multiaddr(addrs[to]), { signal })
        } catch (err: any) {
          lastFailure = `${from} -> ${to}: ${err.message}`
          queue.push(from)
        }
      }
    }))
    // pacing for the receivers' rate limit, only when more dials are waiting
    const rest = windowEnd - performance.now()
    if (rest > 0 && queues.some(q => q.length > 0)) await pause(rest)
  }
}

/**
 * Waits until every node sees the peers it is linked to subscribed to `topic`, and has a mesh of at
 * least MESH_MIN (or of all its subscribers, when fewer).
 */
async function meshed (pubsubs: GossipSub[], peerIds: PeerId[], topic: string, links: Links): Promise<void> {
  const want = linkedTo(links).map(js => js.map(j => peerIds[j].toString()))
  const subscribed = (i: number): boolean => {
    const subs = new Set(pubsubs[i].getSubscribers(topic).map(String))
    return want[i].every(p => subs.has(p))
  }
  const meshOk = (i: number): boolean => meshPeers(pubsubs[i], topic).length >= Math.min(MESH_MIN, pubsubs[i].getSubscribers(topic).length)
  await whenTrue(() => pubsubs.every((_, i) => subscribed(i) && meshOk(i)), pubsubs, PUBSUB_EVENTS, SETUP_TIMEOUT_MS, () => {
    const missing = pubsubs.map((_, i) => i).filter(i => !subscribed(i))
    const small = pubsubs.map((_, i) => i).filter(i => !meshOk(i))
    return `the meshes on ${topic} (members not seeing all their links subscribed: [${missing.join(' ')}], meshes below ${MESH_MIN}: [${small.join(' ')}])`
  })
}

// ---- the floor

async function createFloorNode (): Promise<FloorNode> {
  // exactly MegaChat's gossipsub settings (src/node/services.ts), on a bare node with no topic filter
  return await startPlainGossipNode()
}

/** Bytes of one sealed room message with a TEXT_LENGTH text, and the time to seal and to open one, alone. */
async function sealedCost (): Promise<{ bytes: number, sealMs: number, openMs: number }> {
  const keys = deriveRoomKeys(createRoomSecret())
  const key = await generateKeyPair('Ed25519')
  const runs = 200
  const sealed: Uint8Array[] = []
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) sealed.push((await sealRoomMessage(keys, key, { text: messageText(i, 0) })).bytes)
  const t1 = performance.now()
  for (const bytes of sealed) {
    if (!(await openRoomMessageDetailed(keys, bytes)).ok) throw new Error('a sealed bench message did not open')
  }
  const t2 = performance.now()
  return { bytes: sealed[0].byteLength, sealMs: (t1 - t0) / runs, openMs: (t2 - t1) / runs }
}

/** Plaintext of `bytes` bytes that starts with the message text (msgIdFn hashes it: unique per message). */
function plainPayload (seq: number, from: number, bytes: number): Uint8Array {
  const payload = new Uint8Array(Math.max(bytes, TEXT_LENGTH))
  payload.set(new TextEncoder().encode(messageText(seq, from)))
  return payload
}

/** The room's crypto on a floor node: messages on CRYPTO_TOPIC are opened and verified before they are accepted or forwarded. */
function addCryptoValidator (pubsub: GossipSub, keys: RoomKeys, opened: WeakMap<Message, string>): void {
  pubsub.topicValidators.set(CRYPTO_TOPIC, async (_peer, msg) => {
    const result = await openRoomMessageDetailed(keys, msg.data)
    if (!result.ok) return TopicValidatorResult.Reject
    opened.set(msg, result.message.text)
    return TopicValidatorResult.Accept
  })
}

// ---- the section

export async function benchRooms (io: RoomBenchIo): Promise<void> {
  const { line } = io
  const count = MESSAGES
  line(`4. Room fan-out, ${MEMBERS} members, all in this one process (bootstrap node, ${MEMBERS} chat nodes, ${MEMBERS} raw gossipsub nodes on the same links)`)
  line(`   ${count} messages per row after ${WARMUP} warm-up, each from a random member (the same ones in every row), the next once all ${MEMBERS - 1} others have it or ${DELIVERY_TIMEOUT_MS / 1000} s passed; rows take turns every message`)

  let boot: BootstrapNode | undefined
  const chats: Chat[] = []
  const floorNodes: FloorNode[] = []
  try {
    io.step('rooms: timing seal and open')
    const cost = await sealedCost()

    // -- MegaChat side
    io.step('rooms: starting the bootstrap node')
    boot = await createBootstrapNode({ listen: ['/ip4/127.0.0.1/tcp/0'], stunPort: 0, stunHost: '127.0.0.1' })
    const bootstrap = boot.addresses()
    const bootId = boot.peerId
    io.step(`rooms: starting ${MEMBERS} chat nodes`)
    const started = await Promise.allSettled(Array.from({ length: MEMBERS }, async () => {
      const chat = await createChat({ listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: false, bootstrap })
      chats.push(chat)
      return chat
    }))
    for (const s of started) if (s.status === 'rejected') throw s.reason
    const members = started.map(s => (s as PromiseFulfilledResult<Chat>).value)
    const chatNodes = members.map(c => c.libp2p)
    // chat nodes in Node.js run the real gossipsub (a stand-in only in a tab)
    const chatPubsubs = chatNodes.map(n => n.services.pubsub as GossipSub)

    // the fixed links first: on joining, every member dials the creator at once (which refuses most
    // of them, see INBOUND_PER_SECOND) and starts looking for the others
    io.step('rooms: dialling the fixed links (chat)')
    const fixed = fixedLinks()
    await dialLinks(chatNodes, fixed)
    const bootLinked = (): number => chatNodes.filter(n => n.getConnections(bootId).length > 0).length
    const bootAtJoin = bootLinked()

    io.step('rooms: creating and joining the room')
    const tJoin = performance.now()
    const { invite } = await members[0].createRoom(ROOM)
    await Promise.all(members.slice(1).map(async c => { await c.joinRoom(invite) }))
    const topic = internals(members[0]).rooms.find(ROOM).keys.topic
    io.step('rooms: waiting for the room meshes on the fixed links (chat)')
    await meshed(chatPubsubs, chatNodes.map(n => n.peerId), topic, fixed)
    const meshMs = performance.now() - tJoin
    io.step('rooms: waiting out the members\' early DHT rounds (chat)')
    const roundsOver = tJoin + LAST_EARLY_ROUND_MS - performance.now()
    if (roundsOver > 0) await pause(roundsOver)
    const chatQuiet = await quiet()
    const settleMs = performance.now() - tJoin
    const seen = members.map(c => c.members(ROOM).length - 1)

    // -- floor: the links the chat members have now
    const { links, duplicates } = openLinks(chatNodes)
    io.step(`rooms: starting ${MEMBERS} raw gossipsub nodes`)
    const tFloor = performance.now()
    const floorStarted = await Promise.allSettled(Array.from({ length: MEMBERS }, async () => {
      const node = await createFloorNode()
      floorNodes.push(node)
      return node
    }))
    for (const s of floorStarted) if (s.status === 'rejected') throw s.reason
    const floor = floorStarted.map(s => (s as PromiseFulfilledResult<FloorNode>).value)
    const floorPubsubs = floor.map(n => n.services.pubsub)
    const floorIds = floor.map(n => n.peerId)
    const cryptoKeys = deriveRoomKeys(createRoomSecret())
    const floorAuthors: PrivateKey[] = await Promise.all(floor.map(async () => await generateKeyPair('Ed25519')))
    const opened = new WeakMap<Message, string>()
    // formed the way the room was: gossipsub fills a mesh up to D when it joins a topic, and later only
    // when it falls below Dlo, so mesh sizes depend on who was linked and subscribed when
    io.step('rooms: dialling the fixed links (floor)')
    await dialLinks(floor, fixed)
    for (const p of floorPubsubs) {
      addCryptoValidator(p, cryptoKeys, opened)
      p.subscribe(FLOOR_TOPIC)
      p.subscribe(CRYPTO_TOPIC)
    }
    io.step('rooms: waiting for the meshes on the fixed links (floor)')
    await meshed(floorPubsubs, floorIds, FLOOR_TOPIC, fixed)
    await meshed(floorPubsubs, floorIds, CRYPTO_TOPIC, fixed)
    io.step(`rooms: dialling the other ${links.size - fixed.size} links (floor)`)
    await dialLinks(floor, links)
    io.step('rooms: waiting for the meshes on all the links (floor)')
    await meshed(floorPubsubs, floorIds, FLOOR_TOPIC, links)
    await meshed(floorPubsubs, floorIds, CRYPTO_TOPIC, links)
    const floorReadyMs = performance.now() - tFloor
    io.step('rooms: waiting for a quiet event loop')
    const floorQuiet = await quiet()

    const extra = [...links].filter(l => !fixed.has(l)).length
    const d = degrees(links)
    const quietText = (q: Quiet): string => `event loop ${q.quiet ? 'quiet' : 'NOT quiet'} (${(q.utilization * 100).toFixed(0)}% busy)`
    line(`   member links: ${fixed.size} dialled by the bench (i -> i+${NEIGHBOUR_STEPS.join(', i+')}) + ${extra} the members made (invite creator, DHT) = ${links.size} of ${MEMBERS * (MEMBERS - 1) / 2} possible, per member ${Math.min(...d)}-${Math.max(...d)}; the floor gets the same ${links.size}`)
    line(`   chat: meshes on the fixed links ${ms(meshMs)} after joining; after the early DHT rounds (${ms(settleMs)} after joining, ${quietText(chatQuiet)}) each member saw ${Math.min(...seen)}-${Math.max(...seen)} of the ${MEMBERS - 1} others; floor ready ${ms(floorReadyMs)} later, ${quietText(floorQuiet)}`)
    line(`   gossipsub mesh sizes: chat ${meshSizes(chatPubsubs, topic)}, floor ${meshSizes(floorPubsubs, FLOOR_TOPIC)}; members linked to the bootstrap node: ${bootAtJoin} of ${MEMBERS} when joining, ${bootLinked()} now`)

    // -- receivers
    const watch = new StallWatch()
    const plain = new Deliveries('floor', MEMBERS - 1, watch)
    const sealed = new Deliveries('floor + crypto', MEMBERS - 1, watch)
    const chat = new Deliveries('chat', MEMBERS - 1, watch)
    const decoder = new TextDecoder()
    members.forEach((c, i) => {
      c.addEventListener('room:message', (evt) => {
        const at = performance.now()
        if (evt.detail.synced) chat.synced++
        chat.receive(seqOf(evt.detail.text), i, at)
      })
    })
    floorPubsubs.forEach((p, i) => {
      p.addEventListener('message', (evt) => {
        const at = performance.now()
        if (evt.detail.topic === FLOOR_TOPIC) plain.receive(seqOf(decoder.decode(evt.detail.data.subarray(0, TEXT_LENGTH))), i, at)
        else if (evt.detail.topic === CRYPTO_TOPIC) sealed.receive(seqOf(opened.get(evt.detail)), i, at)
      })
    })

    // -- the messages: the same authors in the same order in every row
    const authors = Array.from({ length: count + WARMUP }, () => Math.floor(Math.random() * MEMBERS))
    const rows: Array<{ d: Deliveries, send: (seq: number) => Promise<void> }> = [
      {
        d: plain,
        send: async (seq) => {
          const from = authors[seq]
          await plain.send(seq, from, async () => await floorPubsubs[from].publish(FLOOR_TOPIC, plainPayload(seq, from, cost.bytes)))
        }
      },
      {
        d: sealed,
        send: async (seq) => {
          const from = authors[seq]
          await sealed.send(seq, from, async () => {
            const { bytes } = await sealRoomMessage(cryptoKeys, floorAuthors[from], { text: messageText(seq, from) })
            return await floorPubsubs[from].publish(CRYPTO_TOPIC, bytes)
          })
        }
      },
      {
        d: chat,
        send: async (seq) => {
          const from = authors[seq]
          await chat.send(seq, from, async () => await members[from].say(ROOM, messageText(seq, from)))
        }
      }
    ]
    io.step('rooms: warming up')
    for (const row of rows) for (let seq = count; seq < count + WARMUP; seq++) await row.send(seq)
    for (const row of rows) row.d.reset()
    const orders = permutations(rows)
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    watch.start()
    const tRun = performance.now()
    for (let seq = 0; seq < count; seq++) {
      io.step(`rooms: message ${seq + 1} of ${count}`)
      for (const row of orders[seq % orders.length]) await row.send(seq)
    }
    const runMs = performance.now() - tRun
    loop.disable()
    watch.stop()
    const after = openLinks(chatNodes)
    const added = [...after.links].filter(l => !links.has(l)).length
    const dropped = [...links].filter(l => !after.links.has(l)).length

    // -- report
    const pct = (x: number): string => Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a'
    const latency = (s: Summary): string => `p50 ${pad(ms(s.p50), 9)} p99 ${pad(ms(s.p99), 9)}`
    const f = summarize(plain.latencies())
    const s = summarize(sealed.latencies())
    const c = summarize(chat.latencies())
    const allDelivered = chat.expected > 0 && chat.delivered === chat.expected
    line(`${pad(`floor: raw gossipsub (${cost.bytes} B plaintext)`, LABEL)} delivery ${pad(pct(plain.ratio), 7)} ${latency(f)}`)
    line(`${pad(`room fan-out, ${MEMBERS} members (one process)`, LABEL)} delivery ${pad(pct(chat.ratio), 7)} ${latency(c)} floor raw gossipsub ${latency(f)} ratio p99 ${pad(ratio(c.p99, f.p99), 6)} goal <=${P99_GOAL}x ${verdict(c.p99, f.p99, P99_GOAL)}; delivery goal 100% ${allDelivered ? 'PASS' : 'MISS'}`)
    line(`${pad('  diag: floor + room crypto in the validator', LABEL)} delivery ${pad(pct(sealed.ratio), 7)} ${latency(s)} ratio to floor p50 ${ratio(s.p50, f.p50)} p99 ${ratio(s.p99, f.p99)}; chat to this p50 ${ratio(c.p50, s.p50)} p99 ${ratio(c.p99, s.p99)}`)
    line(`${pad('  diag: ratio chat to floor at p50', LABEL)} ${ratio(c.p50, f.p50)}`)
    const triple = (label: string, pick: (dd: Deliveries) => number[], note = ''): void => {
      const [pf, ps, pc] = [plain, sealed, chat].map(dd => summarize(pick(dd)))
      line(`${pad(label, LABEL)} p50 / p99: floor ${ms(pf.p50)} / ${ms(pf.p99)}, floor + crypto ${ms(ps.p50)} / ${ms(ps.p99)}, chat ${ms(pc.p50)} / ${ms(pc.p99)}${note}`)
    }
    const calm = [plain, sealed, chat].map(dd => dd.calm.length)
    const cf = summarize(plain.latencies(plain.calm))
    const cc = summarize(chat.latencies(chat.calm))
    triple(`  diag: calm messages only (${calm.join('/')})`, dd => dd.latencies(dd.calm), `; chat to floor p50 ${ratio(cc.p50, cf.p50)} p99 ${ratio(cc.p99, cf.p99)} (left out: those in flight while the event loop stalled >${STALL_MS} ms, ${watch.stalls.length} stalls)`)
    triple('  diag: until the first member had it', dd => dd.first)
    triple('  diag: until the last member had it', dd => dd.last)
    triple('  diag: until say()/publish() resolved', dd => dd.sent.map(x => x.publishedMs))
    const cpu = [plain, sealed, chat].map(dd => summarize(dd.calm.map(x => x.cpuMs)).p50)
    line(`${pad('  diag: process CPU per message (p50, calm)', LABEL)} floor ${ms(cpu[0])}, floor + crypto ${ms(cpu[1])}, chat ${ms(cpu[2])}: chat - floor = ${ms((cpu[2] - cpu[0]) / (MEMBERS - 1))} per receiver (all ${MEMBERS - 1} get it first hand and run in series here)`)
    line(`${pad('  diag: room crypto alone', LABEL)} seal+sign ${ms(cost.sealMs)}, open+verify ${ms(cost.openMs)} (x${MEMBERS - 1} receivers: ${ms(cost.sealMs + (MEMBERS - 1) * cost.openMs)} per message)`)
    const notes: string[] = []
    if (duplicates > 0) notes.push(`the chat members held ${duplicates} spare connections besides their ${links.size} links (both ends dialled each other at once); the floor has one per link`)
    if (chat.synced > 0) notes.push(`${chat.synced} chat deliveries came by history sync, not gossip`)
    if (chat.late + sealed.late + plain.late > 0) notes.push(`arrived after ${DELIVERY_TIMEOUT_MS / 1000} s (counted missing): chat ${chat.late}, floor + crypto ${sealed.late}, floor ${plain.late}`)
    if (chat.duplicates + sealed.duplicates + plain.duplicates > 0) notes.push(`duplicate events: chat ${chat.duplicates}, floor + crypto ${sealed.duplicates}, floor ${plain.duplicates}`)
    if (added + dropped > 0) notes.push(`while measuring, the chat members opened ${added} and closed ${dropped} member links (the floor kept its ${links.size})`)
    notes.push(`event loop delay while measuring: p50 ${ms(loop.percentile(50) / 1e6)}, p99 ${ms(loop.percentile(99) / 1e6)}, max ${ms(loop.max / 1e6)}; ${count * rows.length} messages in ${ms(runMs)}; mesh sizes at the end: chat ${meshSizes(chatPubsubs, topic)}, floor ${meshSizes(floorPubsubs, FLOOR_TOPIC)}`)
    for (const note of notes) line(`  note: ${note}`)
  } finally {
    io.step('rooms: stopping the nodes')
    await Promise.allSettled([
      ...chats.map(async c => { await c.stop() }),
      ...floorNodes.map(async n => { await n.stop() })
    ])
    await boot?.stop()
  }
}
