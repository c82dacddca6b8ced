/**
 * `npm run web`: serves the built web app (dist/web) until Ctrl-C.
 *
 *   node dist/bootstrap-node/serve-web.js [--port 8080] [--host 127.0.0.1] [--bootstrap ADDR]... [--stun URL]...
 *
 * With --bootstrap, `/config.json` gives the app those bootstrap nodes and, as its ICE servers, the
 * --stun URLs or else the STUN responder of the first bootstrap node (UDP 3478, as the terminal client),
 * so the page needs no settings; without either, `/config.json` is an empty config and the app uses
 * what the user configures. Prints the URL to open on this computer, and that other devices need HTTPS
 * (browsers run the app only from https:// or localhost). Any failure is one line on stderr and exit code 1.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, InvalidArgumentError } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { bootstrapIceServers } from '../src/node/ice.js'
import { serveWebApp, webAppAdvice } from './web.js'
import type { WebConfig } from './web.js'

const NAME = 'megachat-web'
/** dist/bootstrap-node/serve-web.js -> dist/web */
const WEB_DIR = fileURLToPath(new URL('../web', import.meta.url))

interface CliOptions {
  port: number
  host: string
  bootstrap: string[]
  stun: string[]
}

function fail (message: string): never {
  process.stderr.write(`${NAME}: ${message.split('\n')[0]}\n`)
  process.exit(1)
}

function parsePort (value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535 (0 = any free port)')
  return n
}

function parseBootstrap (value: string, previous: string[]): string[] {
  let ma
  try {
    ma = multiaddr(value)
  } catch {
    throw new InvalidArgumentError(`not a multiaddr: ${value}`)
  }
  if (ma.getComponents().at(-1)?.name !== 'p2p') throw new InvalidArgumentError(`the address must end with /p2p/<peer id>: ${value}`)
  return [...previous, value]
}

function parseStun (value: string, previous: string[]): string[] {
  if (!/^stuns?:[^\s/]+$/.test(value)) throw new InvalidArgumentError(`expected a STUN URL such as stun:203.0.113.7:3478, not ${value}`)
  return [...previous, value]
}

/** What the app gets from /config.json, in one line. */
function configLine (config: WebConfig, stunGiven: boolean): string {
  const stun = config.iceServers?.map(s => [s.urls].flat().join(',')).join(', ') ?? ''
  if (config.bootstrap.length === 0) {
    return 'no --bootstrap given: /config.json sets nothing; give the app a bootstrap node in its Settings (or start with --bootstrap <multiaddr>)' +
      (stun !== '' ? `; STUN: ${stun}` : '')
  }
  const nodes = `${config.bootstrap.length} bootstrap address${config.bootstrap.length === 1 ? '' : 'es'}`
  if (stun === '') return `config.json: ${nodes}, no STUN server (calls connect only where a direct path exists; give --stun <url>)`
  return `config.json: ${nodes}, STUN ${stun}${stunGiven ? '' : ' (the bootstrap node\'s; --stun to change)'}`
}

async function main (): Promise<void> {
  process.stdout.on('error', () => {})
  const program = new Command()
    .name(NAME)
    .description('Serves the MegaChat web app built into dist/web (npm run web:build).')
    .helpOption('-h, --help', 'show this help')
    .option('--port <n>', 'TCP port (0 = any free port)', parsePort, 8080)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for other machines)', '127.0.0.1')
    .option('--bootstrap <multiaddr>', 'bootstrap node for the app\'s /config.json, repeatable (a /ws or /webrtc-direct address with /p2p/<id>)', parseBootstrap, [])
    .option('--stun <url>', 'STUN server for the app\'s /config.json, repeatable (e.g. the bootstrap node\'s)', parseStun, [])
    .configureOutput({
      outputError: (str, write) => { write(`${NAME}: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}\n`) }
    })
    .allowExcessArguments(false)
  program.parse()
  const opts = program.opts<CliOptions>()

  if (!existsSync(join(WEB_DIR, 'index.html'))) fail(`the web app is not built (no ${join(WEB_DIR, 'index.html')}): run npm run web:build first`)
  // the STUN of the bootstrap nodes themselves unless told otherwise, never a third party's
  const iceServers = opts.stun.length > 0 ? opts.stun.map(urls => ({ urls })) : bootstrapIceServers(opts.bootstrap)
  const config: WebConfig = { bootstrap: opts.bootstrap, ...(iceServers.length > 0 ? { iceServers } : {}) }

  let server
  try {
    server = await serveWebApp({ dir: WEB_DIR, host: opts.host, port: opts.port, config })
  } catch (err: any) {
    // the usual case: `npm run bootstrap -- --web` serves the app on 8080 already
    const why = err?.code === 'EADDRINUSE' ? 'port in use (a bootstrap node with --web serves the app there already?); pick another with --port <n>' : err?.code === 'EACCES' ? 'permission denied' : err?.code === 'EADDRNOTAVAIL' ? 'no such local address' : err?.message
    fail(`cannot listen on ${opts.host}:${opts.port}: ${why}`)
  }
  const advice = webAppAdvice(opts.host, server.port)
  if (advice.local != null) process.stdout.write(`MegaChat web app: open ${advice.local} on this computer\n`)
  process.stdout.write(`${advice.others}\n`)
  process.stdout.write(configLine(config, opts.stun.length > 0) + '\n')

  let stopping = false
  const stop = (): void => {
    if (stopping) process.exit(130)
    stopping = true
    server.close().then(() => { process.exit(0) }, () => { process.exit(0) })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((err: any) => { fail(err?.message ?? String(err)) })
