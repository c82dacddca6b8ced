/**
 * Settings: bootstrap addresses and ICE servers, kept in localStorage. Saving restarts the node by
 * reloading the page (identity, contacts and history stay in IndexedDB).
 */
import { useEffect, useState } from 'preact/hooks'
import { checkBootstrapAddress, formatIceServers, parseIceServers, saveSettings, settings } from '../config.js'
import { ConnectionDetails } from './diagnosis.js'
import { CopyButton, Icon } from './ui.js'
import { formatBytes } from '../../src/bytes.js'
import { setAutoFetch } from '../files.js'
import type { NetworkConfig, Source } from '../config.js'
import type { ChatModel } from '../model.js'
import type { BootstrapNodeStatus } from '../../src/index.js'

const SOURCES: Record<Source, string> = {
  settings: 'from these settings',
  url: 'from the page address (?bootstrap=)',
  server: 'from the server (config.json)',
  default: "the bootstrap nodes' own STUN responders",
  none: 'none'
}

export function SettingsView ({ model, net }: { model: ChatModel, net: NetworkConfig }): preact.JSX.Element {
  // the form starts from what is saved, and then is the user's
  const [bootstrap, setBootstrap] = useState(() => settings.peek().bootstrap.join('\n'))
  const [ice, setIce] = useState(() => formatIceServers(settings.peek().iceServers))
  const addresses = model.addresses.value
  const nodes = model.bootstrapNodes.value
  const blocked = model.blocked.value
  const [error, setError] = useState('')

  const apply = (e: Event): void => {
    e.preventDefault()
    const addrs = bootstrap.split('\n').map(l => l.trim()).filter(l => l !== '')
    for (const a of addrs) {
      const problem = checkBootstrapAddress(a)
      if (problem != null) {
        setError(problem)
        return
      }
    }
    const parsed = parseIceServers(ice)
    if (parsed.error != null) {
      setError(parsed.error)
      return
    }
    saveSettings({ bootstrap: addrs, iceServers: parsed.servers })
    location.reload()
  }

  return (
    <section class='settings' aria-labelledby='settings-heading'>
      <header class='conv-header'>
        <button type='button' class='icon-btn back always' aria-label='Back to conversations' onClick={() => { model.goHome() }}><Icon name='back' /></button>
        <div class='conv-title'><h2 id='settings-heading'>Settings</h2><p class='conv-sub'>Network</p></div>
      </header>
      <div class='settings-body'>
        <form class='card' onSubmit={apply}>
          <h3>Bootstrap nodes</h3>
          <p class='muted small'>
            A bootstrap node helps peers find each other and relays for those behind a NAT; it never reads a message.
            One multiaddr per line, ending in <code>/p2p/&lt;peer id&gt;</code>, reached over <code>/ws</code>, <code>/wss</code> or WebRTC-direct.
            Empty: the page address (<code>?bootstrap=</code>) or the server's <code>config.json</code> decide.
          </p>
          <label class='field'>
            <span>Bootstrap addresses</span>
            <textarea id='settings-bootstrap' rows={3} class='mono' spellcheck={false} value={bootstrap}
              placeholder='/dns4/boot.example.org/tcp/443/wss/p2p/12D3KooW…'
              onInput={(e) => { setBootstrap(e.currentTarget.value); setError('') }} />
          </label>
          <p class='small'>In use now ({SOURCES[net.bootstrapFrom]}):</p>
          {net.bootstrap.length === 0
            ? <p class='error small'>No bootstrap node: nobody can reach you.</p>
            : <ul class='addr-list'>{net.bootstrap.map(a => <li key={a}><code>{a}</code><BootstrapState node={nodes.find(b => b.address === a)} /></li>)}</ul>}

          <h3>ICE servers (WebRTC)</h3>
          <p class='muted small'>
            STUN lets WebRTC (connections and calls) find a direct path through NATs; a TURN server relays call media where none exists (symmetric NATs). One per line: <code>stun:host:3478</code>, or <code>turn:host:3478 username password</code>.
            Empty: the server's <code>config.json</code>, else the STUN responders of your bootstrap nodes. No third-party server is used unless you add one.
          </p>
          <label class='field'>
            <span>ICE servers</span>
            <textarea id='settings-ice' rows={2} class='mono' spellcheck={false} value={ice} placeholder='stun:boot.example.org:3478'
              onInput={(e) => { setIce(e.currentTarget.value); setError('') }} />
          </label>
          {net.iceServers.length === 0
            ? <p class='small'>In use now: none{net.iceFrom === 'server' ? ' (the server\'s config.json lists none)' : ''}. Calls then connect only on one network or when one side has a public address; a bootstrap node gives its STUN.</p>
            : <p class='small'>In use now ({SOURCES[net.iceFrom]}): <code>{formatIceServers(net.iceServers).replace(/\n/g, ', ')}</code></p>}
          {error !== '' && <p class='error' role='alert'>{error}</p>}
          <div class='dialog-actions'>
            <button type='button' class='btn' onClick={() => { saveSettings({ bootstrap: [], iceServers: [] }); location.reload() }}>Reset to defaults</button>
            <button type='submit' class='btn primary'>Save and restart</button>
          </div>
        </form>
        <div class='card'>
          <h3>This node</h3>
          <div class='me-label'>Peer ID</div>
          <code class='peer-id full'>{model.me}</code>
          <CopyButton text={model.me} label='Copy your peer ID' class='btn small' />
          <div class='me-label'>Addresses</div>
          {addresses.length === 0
            ? <p class='muted small'>None yet: you get one through a bootstrap node's relay.</p>
            : <ul class='addr-list'>{addresses.map(a => <li key={a}><code>{a}</code></li>)}</ul>}
          <p class='muted small'>Your identity, contacts and history are kept in this browser (IndexedDB) and never leave it except as messages to your contacts.</p>
        </div>
        <div class='card' aria-labelledby='connection-heading'>
          <h3 id='connection-heading'>Connection details</h3>
          <p class='muted small'>What kind of NAT this device is behind, its relay reservations and TURN servers, and what is missing. To see why one person cannot be reached, open their details (ⓘ).</p>
          <ConnectionDetails model={model} label='Check the connection' />
        </div>
        <FilesSettings model={model} />
        <div class='card' aria-labelledby='blocked-heading'>
          <h3 id='blocked-heading'>Blocked people</h3>
          {blocked.length === 0
            ? <p class='muted small'>Nobody. Block someone from their message request.</p>
            : <ul class='addr-list'>{blocked.map(p => (
              <li key={p}><code>{p}</code>
                <button type='button' class='btn small' aria-label={`Unblock ${p}`} onClick={() => { model.unblock(p).catch(() => {}) }}>Unblock</button>
              </li>))}
            </ul>}
        </div>
      </div>
    </section>
  )
}

/** Beside a bootstrap address: connected, or why not. */
function BootstrapState ({ node }: { node?: BootstrapNodeStatus }): preact.JSX.Element | null {
  if (node == null) return null
  if (node.connected) return <span class='addr-state ok'>connected</span>
  if (node.lastError == null) return <span class='addr-state'>connecting…</span>
  return <span class='addr-state bad'>not reachable ({node.lastError}){node.peerId != null ? ', retrying' : ''}</span>
}

/** the unit of the automatic download size, as the terminal's --auto-fetch */
const MiB = 2 ** 20

/** The automatic download size (chat.files.autoFetchBytes), and how much room the browser gives this site. */
function FilesSettings ({ model }: { model: ChatModel }): preact.JSX.Element {
  const [mib, setMib] = useState(String(Math.round(model.chat.files.autoFetchBytes / MiB * 10) / 10))
  const [saved, setSaved] = useState(false)
  const [error, setError] = useState('')
  const [free, setFree] = useState<number | undefined>(undefined)
  useEffect(() => {
    navigator.storage?.estimate?.().then(e => { if (e.quota != null) setFree(Math.max(0, e.quota - (e.usage ?? 0))) }, () => {})
  }, [])
  const apply = (e: Event): void => {
    e.preventDefault()
    const n = Number(mib.trim())
    if (mib.trim() === '' || !Number.isFinite(n) || n < 0) {
      setError('Give a size in MiB: 0 or more.')
      return
    }
    setAutoFetch(model.chat, Math.round(n * MiB))
    setSaved(true)
  }
  return (
    <form class='card' aria-labelledby='files-heading' onSubmit={apply} noValidate>
      <h3 id='files-heading'>Files</h3>
      <p class='muted small'>
        Files from your contacts up to this size download as soon as they are offered; larger ones, and any file from
        someone who is not a contact, wait until you press Download. 0: always ask.
      </p>
      <label class='field inline'>
        <span>Download automatically up to</span>
        <input id='settings-auto-fetch' type='number' min={0} step='any' inputMode='decimal' value={mib} aria-describedby='auto-fetch-unit'
          onInput={(e) => { setMib(e.currentTarget.value); setSaved(false); setError('') }} />
        <span id='auto-fetch-unit'>MiB</span>
        <button type='submit' class='btn small primary'>Save</button>
        {saved && <span class='addr-state ok' role='status'>Saved</span>}
      </label>
      {error !== '' && <p class='error' role='alert'>{error}</p>}
      <p class='muted small'>
        Files are kept in this browser's private storage{free != null ? `: ${formatBytes(free)} free for this site` : ''}. A file larger than that cannot be received here.
      </p>
    </form>
  )
}
