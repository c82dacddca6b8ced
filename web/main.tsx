/**
 * The web app's entry point. The tab runs the same createChat() as the terminal client (IndexedDB,
 * WebSockets/WebRTC, through the bootstrap node's relay) and renders it with Preact. The chat is
 * exposed as `window.megachat` and its interface model as `window.megachatModel` (tests and the console use them;
 * tests and benchmarks also reach its features, src/internals.ts, as `window.megachatInternals`). Network
 * settings: see config.ts.
 */
import { render } from 'preact'
import { createChat } from '../src/index.js'
import { internals } from '../src/internals.js'
import { openPlatform } from '../src/platform.js'
import { App } from './components/app.js'
import { Splash } from './components/splash.js'
import { started, whenIdle } from './components/ui.js'
import { loadNetworkConfig } from './config.js'
import { NotSecure, secureEnough } from './components/insecure.js'
import { CallSessions } from './call-sessions.js'
import { ChatModel } from './model.js'
import type { Chat, ConnectionSummary } from '../src/index.js'
import type { ChatFeatures } from '../src/features.js'
import type { LateServiceModules } from '../src/node/types.js'
import type { MediaFactory } from '../src/calls/media.js'
import type { RtcMediaInit } from '../src/calls/rtc.js'
import './styles.css'

declare global {
  interface Window {
    megachat?: Chat
    /** the interface's model (the current call's media is `megachatModel.session`) */
    megachatModel?: ChatModel
    /** the chat's features, for tests and benchmarks (not the app's: it uses only the Chat) */
    megachatInternals?: ChatFeatures
    /** the tab's lock, requested by index.html while this code downloads (PlatformInit.lock) */
    megachatLock?: Promise<(() => void) | null>
    /** whether index.html created the tab's database just now (PlatformInit.newDatabase) */
    megachatNewDatabase?: Promise<boolean>
  }
}

const root = document.getElementById('app') as HTMLElement

/** The DHT and gossipsub: built apart (`vite build --mode late`), loaded after the first connection (src/node/lazy.ts). */
async function lateServices (): Promise<LateServiceModules> {
  // beside this chunk in assets/ (a plain string: Vite would take `new URL('./…', import.meta.url)` for an asset of its own)
  return await import(/* @vite-ignore */ import.meta.url.replace(/[^/]*$/, 'late-services.js'))
}

/**
 * The calls' media (src/calls/rtc.ts, the RTCPeerConnection and its statistics): a chunk of its own,
 * loaded on idle once the tab is up, else by the first call (placed, or ringing in: a ringing call's
 * session is made at once, so it is there when the call is answered). The calls' signalling and states
 * are in the first chunk: a call rings without it.
 */
let rtc: Promise<typeof import('../src/calls/rtc.js')> | undefined
async function loadRtc (): Promise<typeof import('../src/calls/rtc.js')> {
  rtc ??= import('../src/calls/rtc.js').catch((err: Error) => { rtc = undefined; throw err })
  return await rtc
}

function lazyRtcMedia (init: RtcMediaInit): MediaFactory {
  return async (call, events, options) => await (await loadRtc()).rtcMedia(init)(call, events, options)
}

/** Said while this tab waits for another one to close, then once it has taken over. */
const WAITING = 'MegaChat is open in another tab of this browser. This tab takes over when that one is closed.'
const TOOK_OVER = 'The other MegaChat tab was closed: this tab has taken over.'

async function main (): Promise<void> {
  performance.mark('megachat:start')
  if (!secureEnough()) {
    root.textContent = '' // index.html's splash
    render(<NotSecure />, root)
    return
  }
  let waited = false
  const onLockHeld = (): void => {
    waited = true
    root.textContent = ''
    render(<Splash status={{ state: 'starting', text: WAITING }} />, root)
  }
  // the settings and the tab's own storage at once (index.html has asked for the lock and the config)
  const [net, platform] = await Promise.all([loadNetworkConfig(), openPlatform({ dataDir: 'megachat', lock: window.megachatLock, newDatabase: window.megachatNewDatabase, onLockHeld })])
  performance.mark('megachat:config')
  // the calls' media are handed over as the calls make them, before the model exists: kept apart for it
  const sessions = new CallSessions()
  const callMedia = lazyRtcMedia({ iceServers: net.iceServers, onSession: (call, session) => { sessions.attach(call.id, session) } })
  const chat = await createChat({ bootstrap: net.bootstrap, iceServers: net.iceServers, platform, callMedia, lateServices })
  performance.mark('megachat:node')
  window.megachat = chat
  window.megachatInternals = internals(chat)
  const model = new ChatModel(chat, net.bootstrap, sessions)
  window.megachatModel = model
  // a reload or a closed tab hangs up: the other side hears it at once rather than when ICE gives up.
  // (Our own record of the call is stored while it runs: the final one written here may not survive.)
  addEventListener('pagehide', () => { for (const call of chat.calls()) void chat.hangup(call.id) })
  await model.load()
  // Drawn once the first connection is up, or after FIRST_PAINT_WAIT_MS without one; index.html's splash
  // shows until then. Drawing it (layout, paint, raster) in the middle of the first handshake delays that
  // connection on a small machine; this way the interface comes up connected.
  await firstConnection(chat, net.bootstrap.length > 0 ? FIRST_PAINT_WAIT_MS : 0)
  root.textContent = '' // index.html's splash
  render(<App model={model} net={net} notice={waited ? TOOK_OVER : undefined} />, root)
  performance.mark('megachat:rendered')
  started()
  whenIdle(() => { loadRtc().catch(() => {}) }) // a call tries again
}

const FIRST_PAINT_WAIT_MS = 500

/** Resolves once the node has a connection, or after `wait` ms without one. */
async function firstConnection (chat: Chat, wait: number): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      chat.removeEventListener('connections', changed)
      resolve()
    }
    const changed = (evt: CustomEvent<ConnectionSummary>): void => { if (evt.detail.connections > 0) done() }
    const timer = setTimeout(done, wait)
    chat.addEventListener('connections', changed)
    if (chat.connections().connections > 0) done()
  })
}

main().catch((err: Error) => {
  root.textContent = ''
  render(<Splash status={{ state: 'error', text: `MegaChat could not start: ${err.message}` }} />, root)
})
