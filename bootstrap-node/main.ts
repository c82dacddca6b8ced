/**
 * `megachat-bootstrap`: runs a bootstrap node until SIGINT/SIGTERM.
 *
 *   node dist/bootstrap-node/main.js [--listen ADDR]... [--announce ADDR]... [--data DIR]
 *        [--stun-port N | --no-stun] [--webrtc-direct] [--web [--web-port N] [--web-host ADDR]]
 *        [--turn [--turn-port N] [--turn-host ADDR] [--turn-external-ip IP] [--turn-relay-ports MIN-MAX] [--turn-realm NAME]
 *                [--turn-allow-peer IP|FIRST-LAST]...]
 *        [--status-interval SECONDS] [--json]
 *
 * Text mode prints the peer id, the addresses to give clients (`--bootstrap`), the STUN URL, the
 * TURN URLs (with --turn), the web app's URL (with --web) and the relay limits, then a short status
 * line every interval. `--json` prints one JSON object per line: `{"type":"ready",...}` once, then
 * `{"type":"status",...}`, and `{"type":"turn",...}` when coturn stops or runs again. Any failure to
 * start is one line on stderr and exit code 1. With --turn and no coturn installed, one line on stderr
 * says so and the node runs without TURN; each time coturn stops unasked, one line says why.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, InvalidArgumentError, Option } from 'commander'
import {
  createBootstrapNode, DEFAULT_LISTEN, DEFAULT_STUN_PORT, DEFAULT_TURN_HOST, DEFAULT_TURN_MAX_PORT, DEFAULT_TURN_MIN_PORT,
  DEFAULT_TURN_PORT, DEFAULT_TURN_REALM, DEFAULT_WEB_HOST, DEFAULT_WEB_PORT
} from './index.js'
import { webAppAdvice } from './web.js'
import { formatBytes } from '../src/bytes.js'
import { unsupportedNode } from '../src/node-version.js'
import type { BootstrapNode, RelayLimits } from './index.js'

const NAME = 'megachat-bootstrap'
const STOP_TIMEOUT_MS = 10_000

interface CliOptions {
  listen: string[]
  announce: string[]
  data: string
  stunPort: number
  stun: boolean
  webrtcDirect?: boolean
  web?: boolean
  webPort: number
  webHost: string
  turn?: boolean
  turnPort: number
  turnHost: string
  turnExternalIp?: string
  turnRelayPorts: [number, number]
  turnRealm: string
  turnAllowPrivatePeers?: boolean
  turnAllowPeer: string[]
  statusInterval: number
  json?: boolean
}

function fail (message: string): never {
  process.stderr.write(`${NAME}: ${message.split('\n')[0]}\n`)
  process.exit(1)
}

/** The version in the package.json above this file (source or dist layout). */
function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      if (typeof pkg.version === 'string') return pkg.version
    } catch {}
    dir = dirname(dir)
  }
  return '0.0.0'
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

function parsePort (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535 (0 = any free port)')
  return n
}

function parsePortRange (value: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(value)
  const [min, max] = [Number(m?.[1]), Number(m?.[2])]
  if (m == null || min < 1024 || max > 65535 || min > max) throw new InvalidArgumentError('expected a port range such as 49152-49407 (within 1024-65535)')
  return [min, max]
}

function parseSeconds (value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 2 ** 31 / 1000) throw new InvalidArgumentError('expected a number of seconds (0 = off)')
  return n
}


function formatDuration (ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  return `${ms / 1000} s`
}

function describeLimits (limits: Readonly<RelayLimits>): string {
  return `up to ${limits.maxReservations} reservations (each ${formatDuration(limits.reservationTtl)}, refreshed by clients); ` +
    `each relayed connection up to ${formatDuration(limits.durationLimit)} and ${formatBytes(Number(limits.dataLimit))}`
}

function out (line: string): void {
  process.stdout.write(line + '\n')
}

function printReady (node: BootstrapNode, json: boolean, dataDir: string, webHost: string): void {
  const limits = node.relayLimits
  const web = node.webUrl != null ? webAppAdvice(webHost, Number(new URL(node.webUrl).port), node.webUrl) : undefined
  if (json) {
    out(JSON.stringify({
      type: 'ready',
      peerId: node.peerId.toString(),
      addresses: node.addresses(),
      stun: node.stunUrl ?? null,
      ...(node.turn != null ? { turn: node.turn.unavailable != null ? { unavailable: node.turn.unavailable } : { urls: node.turn.urls, relayPorts: node.turn.relayPorts } } : {}),
      ...(node.webUrl != null ? { web: node.webUrl } : {}),
      ...(web?.local != null ? { webLocal: web.local } : {}),
      relay: {
        maxReservations: limits.maxReservations,
        durationLimitMs: limits.durationLimit,
        dataLimitBytes: Number(limits.dataLimit),
        reservationTtlMs: limits.reservationTtl
      }
    }))
    return
  }
  out(`MegaChat bootstrap node ${packageVersion()}`)
  out(`peer id:   ${node.peerId.toString()}`)
  out(`identity:  ${dataDir}`)
  out('addresses (give one to clients: npm start -- --bootstrap <address>, or megachat --bootstrap <address>):')
  for (const a of node.addresses()) out(`  ${a}`)
  out(`STUN:      ${node.stunUrl ?? 'off'}`)
  if (node.turn != null) out(`TURN:      ${describeTurn(node)}`)
  if (web != null) {
    out(`web app:   ${web.local != null ? `${web.local}  (on this computer; it is set up to use this node)` : 'not on this computer'}`)
    out(`           ${web.others}, and announce its WebSocket port as a /wss address`)
  }
  out(`relay:     ${describeLimits(limits)}`)
  const records = node.recordLimits
  out(`records:   kept for others, up to ${records.maxProvidersPerPeer} DHT provider records per peer and ${records.maxProviders} in all, ` +
    `${records.maxPeers} peer records, ${records.maxValues} DHT values (in ${join(dataDir, 'datastore')})`)
}

function describeTurn (node: BootstrapNode): string {
  const turn = node.turn
  if (turn == null) return 'off'
  if (turn.unavailable != null) return `off (${turn.unavailable})`
  return `${turn.urls.join(' ')}, relayed media on udp ${turn.relayPorts.join('-')}; credentials for connected peers` +
    (turn.coturn?.ready === true || turn.coturn?.lastExit == null ? '' : ` (coturn stopped: ${turn.coturn.lastExit.reason}; starting it again)`)
}

/** One line whenever coturn stops unasked (on stderr) or answers again after that. */
function watchTurn (node: BootstrapNode, json: boolean): void {
  const coturn = node.turn?.coturn
  if (coturn == null) return
  coturn.addEventListener('exit', (evt) => {
    const { reason, restartIn } = evt.detail
    if (json) out(JSON.stringify({ type: 'turn', state: 'stopped', reason, restartInMs: restartIn }))
    else process.stderr.write(`${NAME}: coturn stopped (${reason}); starting it again in ${formatDuration(restartIn)}\n`)
  })
  coturn.addEventListener('ready', (evt) => {
    if (coturn.restarts === 0) return
    if (json) out(JSON.stringify({ type: 'turn', state: 'running', pid: evt.detail.pid, restarts: coturn.restarts }))
    else out(`${new Date().toISOString().slice(0, 19)}Z  coturn running again (restart ${coturn.restarts})`)
  })
}

function printStatus (node: BootstrapNode, json: boolean): void {
  const { peers, reservations } = node.status()
  const records = node.records()
  const turn = node.turn?.stats()
  if (json) {
    out(JSON.stringify({ type: 'status', peers, reservations, records, ...(turn != null ? { turn: { ...turn, running: node.turn?.coturn?.ready === true } } : {}) }))
    return
  }
  const stun = node.stunStats()
  const stunPart = (stun != null ? `, STUN ${stun.answered} answered/${stun.dropped} dropped` : '') +
    (turn != null ? `, TURN ${node.turn?.coturn?.ready === true ? 'up' : 'down'}, ${turn.issued} credentials/${turn.refused} refused` : '')
  const limits = node.recordLimits
  out(`${new Date().toISOString().slice(0, 19)}Z  ${peers} peer${peers === 1 ? '' : 's'}, ` +
    `${reservations}/${node.relayLimits.maxReservations} relay reservations ` +
    `(relayed connections ≤ ${formatDuration(node.relayLimits.durationLimit)}, ${formatBytes(Number(node.relayLimits.dataLimit))})${stunPart}, ` +
    `records ${records.providers}/${limits.maxProviders} providers, ${records.peers}/${limits.maxPeers} peers, ${records.values}/${limits.maxValues} DHT values ` +
    `(refused: ${records.refused.providers} providers, ${records.refused.peers} peers, ${records.refused.values} values)`)
}

async function main (): Promise<void> {
  // a closed stdout (e.g. piped into `head`) must not kill the node with a stack trace
  process.stdout.on('error', () => {})
  const program = new Command()
    .name(NAME)
    .description('MegaChat bootstrap node: DHT server, circuit relay, STUN responder and WebSocket entry point.\nIt never stores or reads messages.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .addOption(new Option('--listen <addr>', 'multiaddr to listen on, repeatable')
      .argParser(collect).default([], DEFAULT_LISTEN.join(' ')))
    .addOption(new Option('--announce <addr>', 'multiaddr to give others instead of the listen addresses, repeatable (e.g. /dns4/chat.example.org/tcp/4001)')
      .argParser(collect).default([], 'the listen addresses'))
    .addOption(new Option('--data <dir>', 'directory of the node\'s identity key and the records it keeps for others')
      .env('MEGACHAT_BOOTSTRAP_HOME')
      .default(join(homedir(), '.megachat-bootstrap'), '~/.megachat-bootstrap'))
    .option('--stun-port <n>', 'UDP port of the STUN responder (0 = any free port)', parsePort, DEFAULT_STUN_PORT)
    .option('--no-stun', 'do not run the STUN responder')
    .option('--webrtc-direct', 'also listen for WebRTC-direct on udp/4001 (the address changes at each restart)')
    .option('--web', 'also serve the web app built into dist/web (npm run web:build), set up to use this node')
    .option('--web-port <n>', 'TCP port of the web app with --web (0 = any free port)', parsePort, DEFAULT_WEB_PORT)
    .option('--web-host <addr>', 'address the web app listens on with --web', DEFAULT_WEB_HOST)
    .option('--turn', 'also run coturn as TURN server (apt-get install coturn) and give connected peers credentials for it')
    .option('--turn-port <n>', 'UDP and TCP port of coturn with --turn', parsePort, DEFAULT_TURN_PORT)
    .option('--turn-host <addr>', 'address coturn listens and relays on with --turn', DEFAULT_TURN_HOST)
    .option('--turn-external-ip <ip>', 'the public IPv4 address, when this machine is behind a 1:1 NAT (cloud VMs); also the host in the TURN URLs')
    .addOption(new Option('--turn-relay-ports <min-max>', 'UDP ports of relayed media with --turn (one per allocation)')
      .argParser(parsePortRange).default([DEFAULT_TURN_MIN_PORT, DEFAULT_TURN_MAX_PORT], `${DEFAULT_TURN_MIN_PORT}-${DEFAULT_TURN_MAX_PORT}`))
    .option('--turn-realm <name>', 'TURN realm with --turn', DEFAULT_TURN_REALM)
    .addOption(new Option('--turn-allow-peer <ip|first-last>', 'with --turn, let coturn relay to this address or range although it is private or special (e.g. a lab\'s 203.0.113.0-203.0.113.255); repeatable')
      .argParser(collect).default([]))
    .addOption(new Option('--turn-allow-private-peers', 'let coturn relay to loopback and private addresses: for tests and labs only').hideHelp())
    .option('--status-interval <seconds>', 'print a status line every N seconds (0 = never)', parseSeconds, 60)
    .option('--json', 'print one JSON object per line (ready, then status)')
    .showSuggestionAfterError(true)
    .configureOutput({
      // commander's errors are "error: ...\n(Did you mean ...?)": make them one line with our name
      outputError: (str, write) => { write(`${NAME}: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}\n`) }
    })
    .allowExcessArguments(false)
  program.parse()
  const opts = program.opts<CliOptions>()
  const tooOld = unsupportedNode()
  if (tooOld != null) fail(tooOld)
  if (opts.data.trim() === '') fail('--data needs a directory')

  let node: BootstrapNode
  try {
    node = await createBootstrapNode({
      dataDir: opts.data,
      passphrase: process.env.MEGACHAT_PASSPHRASE,
      listen: opts.listen.length > 0 ? opts.listen : undefined,
      announce: opts.announce,
      stunPort: opts.stun ? opts.stunPort : false,
      webrtcDirect: opts.webrtcDirect === true,
      web: opts.web === true ? { port: opts.webPort, host: opts.webHost } : undefined,
      turn: opts.turn === true
        ? {
            port: opts.turnPort,
            host: opts.turnHost,
            externalIp: opts.turnExternalIp,
            minPort: opts.turnRelayPorts[0],
            maxPort: opts.turnRelayPorts[1],
            realm: opts.turnRealm,
            allowPrivatePeers: opts.turnAllowPrivatePeers === true,
            allowedPeers: opts.turnAllowPeer
          }
        : undefined
    })
  } catch (err: any) {
    fail(err?.message ?? String(err))
  }

  let timer: ReturnType<typeof setInterval> | undefined
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      // a second Ctrl-C: do not wait any longer
      process.exit(130)
    }
    stopping = true
    clearInterval(timer)
    const timeout = setTimeout(() => { fail(`did not stop within ${STOP_TIMEOUT_MS / 1000} s after ${signal}`) }, STOP_TIMEOUT_MS)
    node.stop().then(() => {
      clearTimeout(timeout)
      if (opts.json !== true) out('stopped')
      process.exit(0)
    }, (err: any) => { fail(`error while stopping: ${err?.message ?? err}`) })
  }
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGTERM', () => { stop('SIGTERM') })

  if (node.turn?.unavailable != null) process.stderr.write(`${NAME}: ${node.turn.unavailable}; running without TURN\n`)
  printReady(node, opts.json === true, opts.data, opts.webHost)
  watchTurn(node, opts.json === true)
  if (opts.statusInterval > 0) {
    timer = setInterval(() => { printStatus(node, opts.json === true) }, opts.statusInterval * 1000)
  }
}

// an unexpected error from deep inside a dependency: one line, and keep serving
process.on('unhandledRejection', (err: any) => {
  process.stderr.write(`${NAME}: unexpected error: ${String(err?.message ?? err).split('\n')[0]}\n`)
})
process.on('uncaughtException', (err: any) => {
  fail(`unexpected error: ${err?.message ?? err}`)
})

main().catch((err: any) => { fail(err?.message ?? String(err)) })
