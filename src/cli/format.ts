/** How the terminal client writes values: times, sizes, names, a call, a transfer. */
import { styleText } from 'node:util'
import { formatBytes } from '../bytes.js'
import { shortPeerId } from '../short-id.js'
import { safeName } from './terminal-safe.js'
import type { FileLine } from './commands.js'
import type { CallRecord, FileTransfer } from '../index.js'

export type Style = Parameters<typeof styleText>[0]
/** Styles text, or leaves it plain (no colour, or not a terminal). */
export type Paint = (style: Style, text: string) => string

const pad2 = (n: number): string => n.toString().padStart(2, '0')
export const time = (ms: number): string => { const d = new Date(ms); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}` }
export const day = (ms: number): string => new Date(ms).toDateString()
export const shortId = (peer: string): string => safeName(shortPeerId(peer))
/** A contact's (or room member's) name made safe, or a short form of the peer ID for someone without one. */
export const label = (name: string | undefined, peer: string): string => name != null ? safeName(name) : shortId(peer)
export const clip = (text: string, n = 40): string => text.length > n ? `${text.slice(0, n - 1)}…` : text

/** "12:03 missed video call from alice", "12:05 voice call with bob, 3 min" */
export function callLine (r: CallRecord, who: string): string {
  const kind = r.video ? 'video call' : 'voice call'
  const when = `${day(r.timestamp).slice(4, 10)} ${time(r.timestamp)}`
  const why = r.reason != null ? ` (${r.reason})` : ''
  const out = r.direction === 'out'
  switch (r.outcome) {
    case 'answered': {
      const secs = r.connectedAt != null ? Math.round((r.endedAt - r.connectedAt) / 1000) : 0
      return `${when} ${kind} ${out ? 'to' : 'from'} ${who}, ${secs < 60 ? `${secs} s` : `${Math.round(secs / 60)} min`}`
    }
    case 'missed': return out ? `${when} ${who} did not answer your ${kind}` : `${when} missed ${kind} from ${who}${why}`
    case 'declined': return out ? `${when} ${who} declined your ${kind}` : `${when} you declined a ${kind} from ${who}`
    case 'busy': return `${when} ${who} was busy`
    case 'failed': return `${when} ${kind} ${out ? 'to' : 'from'} ${who} failed${why}`
  }
}

/** A bootstrap address with its peer ID shortened: /ip4/203.0.113.7/tcp/4001/p2p/12D3…a1b2c3 */
export function bootstrapName (address: string): string {
  return address.replace(/\/p2p\/([^/]{12,})$/, (_, id: string) => `/p2p/${shortId(id)}`)
}

/** "↓ photo.jpg  45%  12.3 MiB/s  0:05 left" */
export function progressLine (t: FileTransfer): string {
  const pct = t.size === 0 ? 100 : Math.floor(t.bytes / t.size * 100)
  const arrow = t.direction === 'in' ? '↓' : '↑'
  const speed = t.rate > 0 ? `  ${formatBytes(Math.round(t.rate))}/s` : ''
  const secs = t.rate > 0 ? Math.ceil((t.size - t.bytes) / t.rate) : undefined
  const left = secs != null && t.state === 'fetching' ? `  ${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')} left` : ''
  const state = t.state === 'fetching' || t.state === 'serving' ? '' : `  (${t.state}${t.error != null ? `: ${t.error}` : ''})`
  return `  ${arrow} ${safeName(clip(t.name))}  ${pct}%${speed}${left}${safeName(state)}`
}

export function fileListLine (f: FileLine): string {
  const pct = f.size === 0 ? 100 : Math.floor(f.bytes / f.size * 100)
  const where = f.path != null ? `  ${safeName(f.path)}` : ''
  return `  ${f.id.slice(0, 8)}  ${f.direction === 'in' ? '↓' : '↑'} ${safeName(clip(f.name)).padEnd(40)} ${formatBytes(f.size).padStart(10)}  ${f.state}${f.state === 'done' || f.state === 'serving' ? '' : ` ${pct}%`}${where}${f.error != null ? `  ${safeName(f.error)}` : ''}`
}

export const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1)

export function ago (ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return new Date(ms).toLocaleDateString()
}
