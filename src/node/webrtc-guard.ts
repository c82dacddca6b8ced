/**
 * Closes a WebRTC connection that never carried anything.
 *
 * libp2p's browser-to-browser WebRTC transport hands over a connection as soon as the offer and answer
 * are exchanged. When the signalling stream (on the relayed connection) ends before ICE has connected,
 * the listening side does not fail: it upgrades a peer connection that may never connect (its
 * `readCandidatesUntilConnected` treats the end of the stream as done; js-libp2p pull request #3460 is
 * about the same function). Such a connection counts as open and direct, and every stream on it waits
 * for data channels that never open; behind two symmetric NATs, where ICE cannot succeed, it happened in
 * about one call set-up in eight.
 *
 * identify opens a stream on every new connection at once, so a connection identify has not completed on
 * within `ms` cannot carry streams: it is closed, and what needs the peer uses its other connections.
 */
import { logger } from '@libp2p/logger'
import type { Connection, IdentifyResult, Libp2pEvents, Startable, TypedEventTarget } from '@libp2p/interface'

const log = logger('megachat:webrtc-guard')

/** How long a new WebRTC connection has to be identified before it is closed. */
export const WEBRTC_PROOF_MS = 10_000

export interface WebRTCGuardComponents {
  events: TypedEventTarget<Libp2pEvents>
}

/** Whether a connection runs over libp2p's browser-to-browser WebRTC (not WebRTC Direct). */
export function isWebRTC (connection: Connection): boolean {
  return connection.remoteAddr.getComponents().some(c => c.name === 'webrtc')
}

export class WebRTCGuard implements Startable {
  readonly [Symbol.toStringTag] = 'megachat/webrtc-guard'
  private readonly events: TypedEventTarget<Libp2pEvents>
  private readonly ms: number
  private readonly waiting = new Map<Connection, ReturnType<typeof setTimeout>>()
  /** connections closed because they were never identified */
  closed = 0

  constructor (components: WebRTCGuardComponents, ms = WEBRTC_PROOF_MS) {
    this.events = components.events
    this.ms = ms
  }

  start (): void {
    this.events.addEventListener('connection:open', this.onOpen)
    this.events.addEventListener('connection:close', this.onClose)
    this.events.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.events.removeEventListener('connection:open', this.onOpen)
    this.events.removeEventListener('connection:close', this.onClose)
    this.events.removeEventListener('peer:identify', this.onIdentify)
    for (const timer of this.waiting.values()) clearTimeout(timer)
    this.waiting.clear()
  }

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail
    if (!isWebRTC(connection)) return
    this.waiting.set(connection, setTimeout(() => {
      this.waiting.delete(connection)
      if (connection.status !== 'open') return
      this.closed++
      log('closing the WebRTC connection to %p: not identified within %d ms (its data channels never opened)', connection.remotePeer, this.ms)
      connection.abort(new Error('the WebRTC connection carried nothing'))
    }, this.ms))
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => { this.forget(evt.detail.connection) }

  private readonly onClose = (evt: CustomEvent<Connection>): void => { this.forget(evt.detail) }

  private forget (connection: Connection): void {
    const timer = this.waiting.get(connection)
    if (timer == null) return
    clearTimeout(timer)
    this.waiting.delete(connection)
  }
}

export function webrtcGuard (ms?: number): (components: WebRTCGuardComponents) => WebRTCGuard {
  return (components) => new WebRTCGuard(components, ms)
}
