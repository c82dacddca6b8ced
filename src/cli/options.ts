/**
 * The terminal client's options: the command line, then <data>/config.json beneath it, turned into the
 * network part of ChatInit. Apart from main.ts (which starts the client when imported) so tests can
 * check the mapping without starting a node.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { bootstrapIceServers } from '../node/ice.js'
import type { ChatInit } from '../index.js'

const VERSION = '0.1.0'

export interface Options {
  data: string
  listen: string[]
  bootstrap: string[]
  iceServer: string[]
  webrtc: boolean
  lan: boolean
  json: boolean
  passphrase: boolean
  autoFetch?: number
}

export interface ConfigFile {
  bootstrap?: string[]
  listen?: string[]
  iceServers?: RTCIceServer[]
  lan?: boolean
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

export function parseArgs (argv: string[]): Options {
  const program = new Command()
    .name('megachat')
    .description('Peer-to-peer, end-to-end encrypted chat. Your peer ID is your address: give it to friends.')
    .version(VERSION, '-v, --version')
    .option('-d, --data <dir>', 'data directory (identity, contacts, history)', process.env.MEGACHAT_HOME ?? join(homedir(), '.megachat'))
    .option('-l, --listen <multiaddr>', 'listen address (repeatable; default: TCP and WebSocket on random ports)', collect)
    .option('-b, --bootstrap <multiaddr>', 'bootstrap node address with /p2p/<id> (repeatable; also "bootstrap" in <data>/config.json)', collect)
    .option('--ice-server <url>', 'STUN/TURN server for WebRTC (repeatable; default: the bootstrap nodes\' own STUN)', collect)
    .option('--no-webrtc', 'no WebRTC (direct connections between NATed peers)')
    .option('--lan', 'find peers on the local network with mDNS')
    .option('--json', 'scriptable mode: commands on stdin, one JSON object per line on stdout')
    .option('--auto-fetch <MiB>', 'fetch contacts\' files up to this size without asking (default 64; 0: always ask)', (v) => {
      const n = Number(v)
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('a size in MiB, 0 or more')
      return n
    })
    .option('--passphrase', 'protect the identity key with a passphrase: chosen (typed twice) for a new key or one that has none, asked for later (or set MEGACHAT_PASSPHRASE)')
    .addHelpText('after', `
Commands once running: /add <peerId> [name], /msg <name> <text>, /send <name> <path>, /files, /contacts, /history <name> [n], /help

Example:
  npm start -- --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...`)
    .configureOutput({ outputError: (str, write) => { write(str.split('\n')[0] + '\n') } })
    .exitOverride((err) => { process.exit(err.exitCode) })
  program.parse(argv)
  const opts = program.opts<Partial<Options>>()
  return {
    data: opts.data ?? '',
    listen: opts.listen ?? [],
    bootstrap: opts.bootstrap ?? [],
    iceServer: opts.iceServer ?? [],
    webrtc: opts.webrtc !== false,
    lan: opts.lan === true,
    json: opts.json === true,
    passphrase: opts.passphrase === true,
    ...(opts.autoFetch != null ? { autoFetch: opts.autoFetch } : {})
  }
}

export async function readConfig (dir: string): Promise<ConfigFile> {
  const path = join(dir, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return {}
    throw new InvalidArgumentError(`cannot read ${path}: ${err.code ?? err.message}`)
  }
  let config: any
  try {
    config = JSON.parse(text)
    if (config == null || typeof config !== 'object' || Array.isArray(config)) throw new Error('not an object')
  } catch (err: any) {
    throw new InvalidArgumentError(`${path} is not valid JSON: ${err.message}`)
  }
  // a plain string where a list belongs would be read letter by letter
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every(s => typeof s === 'string')
  if (config.bootstrap != null && !strings(config.bootstrap)) throw new InvalidArgumentError(`${path}: "bootstrap" is a list of addresses, such as ["/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…"]`)
  if (config.listen != null && !strings(config.listen)) throw new InvalidArgumentError(`${path}: "listen" is a list of addresses, such as ["/ip4/0.0.0.0/tcp/0"]`)
  if (config.iceServers != null && !(Array.isArray(config.iceServers) && config.iceServers.every((s: any) => typeof s?.urls === 'string' || strings(s?.urls)))) {
    throw new InvalidArgumentError(`${path}: "iceServers" is a list such as [{"urls": "stun:203.0.113.7:3478"}]`)
  }
  if (config.lan != null && typeof config.lan !== 'boolean') throw new InvalidArgumentError(`${path}: "lan" is true or false`)
  return config as ConfigFile
}

/** The network options: the command line's, else config.json's (bootstrap nodes from both). */
export function networkInit (opts: Options, config: ConfigFile): Required<Pick<ChatInit, 'bootstrap' | 'iceServers' | 'webrtc' | 'lan'>> & Pick<ChatInit, 'listen'> {
  const bootstrap = [...(config.bootstrap ?? []), ...opts.bootstrap]
  return {
    listen: opts.listen.length > 0 ? opts.listen : config.listen,
    bootstrap,
    iceServers: opts.iceServer.length > 0 ? opts.iceServer.map(urls => ({ urls })) : config.iceServers ?? bootstrapIceServers(bootstrap),
    webrtc: opts.webrtc,
    lan: opts.lan || config.lan === true
  }
}
