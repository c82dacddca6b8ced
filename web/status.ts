/**
 * The connection status line: how many peers, how many only through a relay, whether we are reachable,
 * and what to do when no bootstrap node answers.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { shortId } from './messages.js'
import type { BootstrapNodeStatus, Chat } from '../src/index.js'

export type StatusState = 'starting' | 'no-bootstrap' | 'connecting' | 'unreachable' | 'ready' | 'error'

export interface Status {
  state: StatusState
  text: string
  /** what to do about it, for a banner (state 'unreachable') */
  detail?: string
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** One line about the connections: how many peers, how many only through a relay, and whether we are reachable. */
export function connectionStatus (chat: Chat, bootstrap: string[]): Status {
  if (bootstrap.length === 0) {
    return { state: 'no-bootstrap', text: 'No bootstrap node configured — open Settings to add one. Nobody can reach you until then.' }
  }
  // a peer counts as relayed when none of its connections is direct (WebSocket, WebRTC)
  const { peers: connected, relayed, reachable } = chat.connections()
  const peers = connected.length
  const unreachable = bootstrapProblem(chat.bootstrapStatus(), peers)
  if (unreachable != null) return unreachable
  if (peers === 0) return { state: 'connecting', text: 'Connecting to the bootstrap node…' }
  const count = `Connected to ${plural(peers, 'peer')}${relayed > 0 ? ` (${relayed} via relay)` : ''}`
  if (!reachable) return { state: 'connecting', text: `${count}; waiting for a relay reservation…` }
  return { state: 'ready', text: count }
}

/**
 * When no bootstrap node is connected and each has failed a dial: which, why, and that it is retried
 * (without one, nobody can be found, and contacts would only look offline).
 */
function bootstrapProblem (nodes: BootstrapNodeStatus[], peers: number): Status | undefined {
  if (nodes.length === 0 || nodes.some(n => n.connected || n.lastError == null)) return undefined
  const reasons = [...new Set(nodes.map(n => n.lastError))].join('; ')
  const retrying = nodes.some(n => n.peerId != null)
  const others = peers > 0 ? ` ${plural(peers, 'other peer')} connected.` : ''
  const which = nodes.length === 1 ? `The bootstrap node ${hostPort(nodes[0].address)} is not` : `None of the ${nodes.length} bootstrap nodes is`
  return {
    state: 'unreachable',
    // the sidebar is narrow: a peer ID in a reason ('wrong peer id: the node there is 12D3…') shortened there
    text: `${nodes.length === 1 ? 'Bootstrap node' : 'No bootstrap node'} not reachable (${reasons.replace(/\b(12D3KooW|Qm)\w{30,}/g, shortId)})${retrying ? ' — retrying' : ''}.${others}`,
    detail: `${which} reachable (${reasons}): contacts cannot be found until ${nodes.length === 1 ? 'it' : 'one'} is. ${retrying ? 'MegaChat keeps trying; if' : 'If'} the address is wrong, correct it in Settings.`
  }
}

/** "203.0.113.7:4001" for a bootstrap multiaddr (the address itself if it has no host and port). */
function hostPort (address: string): string {
  try {
    const parts = multiaddr(address).getComponents()
    const host = parts[0]?.value
    const port = parts.find(p => p.name === 'tcp' || p.name === 'udp')?.value
    if (host == null || port == null) return address
    return parts[0].name === 'ip6' ? `[${host}]:${port}` : `${host}:${port}`
  } catch {
    return address
  }
}
