/**
 * The web app's entry point, for now a bare page: it runs the same createChat() as the terminal
 * client inside the tab (IndexedDB, WebSockets/WebRTC, through the bootstrap node's relay), shows the
 * peer ID and a status line, and exposes the chat as `window.megachat` (tests and the console use it).
 * Bootstrap nodes come from the URL: `?bootstrap=<multiaddr>`, repeatable.
 */
import { createChat } from '../src/index.js'
import type { Chat } from '../src/index.js'

declare global {
  interface Window {
    megachat?: Chat
  }
}

type State = 'starting' | 'no-bootstrap' | 'connecting' | 'ready' | 'error'

const peerIdEl = document.getElementById('peer-id') as HTMLElement
const statusEl = document.getElementById('status') as HTMLElement

function show (state: State, text: string): void {
  statusEl.dataset.state = state
  document.body.dataset.state = state
  statusEl.textContent = text
}

function render (chat: Chat, bootstrap: string[]): void {
  if (bootstrap.length === 0) {
    show('no-bootstrap', 'No bootstrap node configured: nobody can be reached. Open this page with ?bootstrap=<multiaddr of a bootstrap node>.')
    return
  }
  // a peer counts as direct when any of its connections is unlimited (WebSocket, WebRTC), else relayed
  const direct = new Map<string, boolean>()
  for (const c of chat.libp2p.getConnections()) {
    const peer = c.remotePeer.toString()
    direct.set(peer, direct.get(peer) === true || c.limits == null)
  }
  const peers = direct.size
  const relayed = [...direct.values()].filter(d => !d).length
  const reachable = chat.addresses().some(a => a.includes('/p2p-circuit'))
  if (peers === 0) {
    show('connecting', 'Connecting to the bootstrap node…')
  } else if (!reachable) {
    show('connecting', `Connected to ${plural(peers, 'peer')}; waiting for a relay reservation…`)
  } else {
    show('ready', `Connected to ${plural(peers, 'peer')}${relayed > 0 ? ` (${relayed} via relay)` : ''}; reachable through the relay.`)
  }
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

async function main (): Promise<void> {
  const bootstrap = new URLSearchParams(location.search).getAll('bootstrap').map(a => a.trim()).filter(a => a !== '')
  const chat = await createChat({ bootstrap, dataDir: 'megachat' })
  window.megachat = chat
  peerIdEl.textContent = chat.peerId.toString()
  const update = (): void => { render(chat, bootstrap) }
  for (const name of ['connection:open', 'connection:close', 'self:peer:update'] as const) {
    chat.libp2p.addEventListener(name, update)
  }
  update()
}

main().catch((err: Error) => {
  show('error', `MegaChat could not start: ${err.message}`)
})
