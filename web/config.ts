/**
 * Where the web app's network settings come from. Bootstrap addresses: the Settings page (kept in
 * localStorage) first, then `?bootstrap=<multiaddr>` in the URL (repeatable), then `./config.json`
 * when the server provides one (the bootstrap node's `--web` does). ICE servers: Settings, then
 * config.json, then the STUN responders of the bootstrap nodes themselves (as the terminal client),
 * never a third party.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { signal } from '@preact/signals'
import { bootstrapIceServers } from '../src/node/ice.js'

declare global {
  interface Window {
    /** the request for ./config.json that index.html starts before the bundle loads */
    megachatConfig?: Promise<Response>
  }
}

const SETTINGS_KEY = 'megachat:settings'
const CONFIG_TIMEOUT_MS = 3000

export interface Settings {
  bootstrap: string[]
  iceServers: RTCIceServer[]
}

export type Source = 'settings' | 'url' | 'server' | 'default' | 'none'

export interface NetworkConfig {
  bootstrap: string[]
  bootstrapFrom: Source
  iceServers: RTCIceServer[]
  iceFrom: Source
}

function readSettings (): Settings {
  try {
    const raw = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}')
    return {
      bootstrap: Array.isArray(raw.bootstrap) ? raw.bootstrap.filter((a: unknown) => typeof a === 'string') : [],
      iceServers: Array.isArray(raw.iceServers) ? raw.iceServers.filter((s: any) => s != null && (typeof s.urls === 'string' || Array.isArray(s.urls))) : []
    }
  } catch {
    return { bootstrap: [], iceServers: [] }
  }
}

/** This browser's saved settings: read from localStorage once, written through by saveSettings. */
export const settings = signal<Settings>(readSettings())

export function saveSettings (saved: Settings): void {
  settings.value = saved
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(saved))
}

/** `./config.json` from the server that serves the app; undefined when there is none (404) or it is unusable. */
async function serverConfig (): Promise<Partial<Settings> | undefined> {
  try {
    // index.html starts this request before the bundle loads (window.megachatConfig); fetch again only without it
    const early = window.megachatConfig
    const res = await (early ?? fetch('./config.json', { cache: 'no-store', signal: AbortSignal.timeout(CONFIG_TIMEOUT_MS) }))
    if (!res.ok) return undefined
    const body = await res.json()
    const out: Partial<Settings> = {}
    if (Array.isArray(body?.bootstrap)) out.bootstrap = body.bootstrap.filter((a: unknown) => typeof a === 'string')
    if (Array.isArray(body?.iceServers)) out.iceServers = body.iceServers
    return out
  } catch {
    return undefined
  }
}

export async function loadNetworkConfig (): Promise<NetworkConfig> {
  const saved = settings.value
  const fromUrl = new URLSearchParams(location.search).getAll('bootstrap').map(a => a.trim()).filter(a => a !== '')
  const needServer = saved.bootstrap.length === 0 && fromUrl.length === 0
  const server = (needServer || saved.iceServers.length === 0) ? await serverConfig() : undefined
  let bootstrap: string[] = []
  let bootstrapFrom: Source = 'none'
  if (saved.bootstrap.length > 0) {
    bootstrap = saved.bootstrap
    bootstrapFrom = 'settings'
  } else if (fromUrl.length > 0) {
    bootstrap = fromUrl
    bootstrapFrom = 'url'
  } else if ((server?.bootstrap?.length ?? 0) > 0) {
    bootstrap = server?.bootstrap ?? []
    bootstrapFrom = 'server'
  }
  let iceServers: RTCIceServer[]
  let iceFrom: Source
  if (saved.iceServers.length > 0) {
    iceServers = saved.iceServers
    iceFrom = 'settings'
  } else if (server?.iceServers != null) {
    iceServers = server.iceServers
    iceFrom = 'server'
  } else {
    iceServers = bootstrapIceServers(bootstrap)
    iceFrom = iceServers.length > 0 ? 'default' : 'none'
  }
  return { bootstrap, bootstrapFrom, iceServers, iceFrom }
}

/** One clear line about a bootstrap address typed by a person, or undefined when it is usable. */
export function checkBootstrapAddress (text: string): string | undefined {
  let ma
  try {
    ma = multiaddr(text)
  } catch {
    return `not a multiaddr: ${text}`
  }
  if (!ma.getComponents().some(c => c.name === 'p2p')) return `needs the node's peer ID at the end (/p2p/12D3KooW…): ${text}`
  if (!ma.getComponents().some(c => c.name === 'ws' || c.name === 'wss' || c.name === 'webrtc-direct')) {
    return `a browser reaches bootstrap nodes only over WebSockets (/ws, /wss) or WebRTC-direct: ${text}`
  }
  return undefined
}

/** ICE servers as one line each: `stun:host:port` or `turn:host:port username credential`. */
export function formatIceServers (servers: RTCIceServer[]): string {
  return servers.map(s => [[s.urls].flat().join(','), s.username, s.credential].filter(x => x != null && x !== '').join(' ')).join('\n')
}

export function parseIceServers (text: string): { servers: RTCIceServer[], error?: string } {
  const servers: RTCIceServer[] = []
  for (const line of text.split('\n').map(l => l.trim()).filter(l => l !== '')) {
    const [urls, username, credential] = line.split(/\s+/)
    const list = urls.split(',')
    const bad = list.find(u => !/^(stun|stuns|turn|turns):/.test(u))
    if (bad != null) return { servers, error: `an ICE server URL starts with stun:, stuns:, turn: or turns: (${bad})` }
    servers.push({ urls: list.length === 1 ? list[0] : list, ...(username != null ? { username } : {}), ...(credential != null ? { credential } : {}) })
  }
  return { servers }
}
