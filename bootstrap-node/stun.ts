/**
 * A STUN responder (RFC 5389 Binding only) for the bootstrap node: it tells a client which public
 * address and port its UDP packets come from, which is what ICE needs to punch through a NAT.
 * No TURN, no authentication, no state per client.
 *
 * Every reply reuses the request's transaction id (clients match on it) and carries the sender's
 * address as XOR-MAPPED-ADDRESS. Anything that is not a well-formed RFC 5389 Binding request is
 * dropped and counted, never thrown: the socket stays up whatever arrives.
 *
 * The npm `stun` package encodes and decodes; the socket is ours. (Its `createServer` silently skips
 * some garbage, so it could not be counted, and takes any datagram whose first byte is 0-3 for
 * STUN, so every datagram is screened here first.)
 *
 * @example
 * ```ts
 * const server = await createStunServer({ port: 3478 })
 * console.info(server.address())   // { address: '0.0.0.0', port: 3478, family: 'IPv4' }
 * await server.close()
 * ```
 */
import { createSocket } from 'node:dgram'
import { isIP } from 'node:net'
import { logger } from '@libp2p/logger'
import { ListenError, listenErrorReason } from './errors.js'
import { stun } from '../src/node/stun.js'
import type { StunMessage } from '../src/node/stun.js'
import type { AddressInfo } from 'node:net'
import type { RemoteInfo } from 'node:dgram'

const log = logger('megachat:bootstrap:stun')

export { stun } from '../src/node/stun.js'
export type { StunAttribute, StunMessage, StunOutgoingMessage, StunLib } from '../src/node/stun.js'

const STUN_HEADER_LENGTH = 20
const MAGIC_COOKIE = 0x2112a442
/** A Binding request is a header plus a few attributes; anything bigger is not for us. */
const MAX_REQUEST_LENGTH = 1024

export interface StunServerInit {
  /** UDP port; 0 picks a free one. Default 3478. */
  port?: number
  /** Address to bind. Default '0.0.0.0'; an IPv6 address (e.g. '::') makes a udp6 socket. */
  host?: string
  /** Replies allowed per second, all senders together; more are dropped so we are no flood reflector. Default 2000. */
  maxResponsesPerSecond?: number
}

export interface StunStats {
  /** datagrams received */
  received: number
  /** Binding success responses sent */
  answered: number
  /** datagrams dropped: not STUN, malformed, legacy RFC 3489, not a Binding request, or over the rate cap */
  dropped: number
}

export interface StunServer {
  /** The bound address, with the real port when 0 was asked for. */
  address(): AddressInfo
  stats(): StunStats
  close(): Promise<void>
}

export async function createStunServer (init: StunServerInit = {}): Promise<StunServer> {
  const host = init.host ?? '0.0.0.0'
  const port = init.port ?? 3478
  const maxPerSecond = init.maxResponsesPerSecond ?? 2000
  const type = isIP(host) === 6 ? 'udp6' : 'udp4'
  const stats: StunStats = { received: 0, answered: 0, dropped: 0 }

  const socket = createSocket({ type })
  let windowStart = 0
  let windowCount = 0
  const drop = (why: string, rinfo: RemoteInfo): void => {
    stats.dropped++
    log.trace('dropped datagram from %s:%d: %s', rinfo.address, rinfo.port, why)
  }

  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    stats.received++
    try {
      const why = screen(msg, rinfo)
      if (why != null) { drop(why, rinfo); return }
      let req: StunMessage
      try {
        req = stun.decode(msg)
      } catch {
        drop('undecodable', rinfo); return
      }
      if (req.type !== stun.constants.STUN_BINDING_REQUEST) { drop('not a Binding request', rinfo); return }
      const now = Date.now()
      if (now - windowStart >= 1000) { windowStart = now; windowCount = 0 }
      if (++windowCount > maxPerSecond) { drop('over the rate cap', rinfo); return }
      const res = stun.createMessage(stun.constants.STUN_BINDING_RESPONSE, req.transactionId)
      res.addXorAddress(unmapIPv4(rinfo.address), rinfo.port)
      socket.send(res.toBuffer(), rinfo.port, rinfo.address, (err) => {
        if (err != null) log.error('could not answer %s:%d - %e', rinfo.address, rinfo.port, err)
      })
      stats.answered++
    } catch (err) {
      drop(`cannot answer: ${(err as Error).message}`, rinfo)
    }
  })
  // without a listener an 'error' event would throw; a UDP socket has nothing to recover
  socket.on('error', (err) => { log.error('STUN socket error - %e', err) })

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new ListenError(`cannot listen for STUN on udp ${host}:${port}: ${listenErrorReason(err)}`))
    }
    socket.once('error', onError)
    socket.bind(port, host, () => {
      socket.removeListener('error', onError)
      resolve()
    })
  }).catch(async (err) => {
    await new Promise<void>(resolve => { try { socket.close(() => { resolve() }) } catch { resolve() } })
    throw err
  })
  const bound = socket.address()
  log('STUN listening on %s:%d', bound.address, bound.port)

  let closed: Promise<void> | undefined
  return {
    address: () => bound,
    stats: () => ({ ...stats }),
    close: async () => {
      closed ??= new Promise<void>(resolve => {
        try { socket.close(() => { resolve() }) } catch { resolve() }
      })
      return closed
    }
  }
}

/** '::ffff:1.2.3.4' (an IPv4 sender on a dual-stack socket) becomes '1.2.3.4'. */
function unmapIPv4 (address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return m?.[1] ?? address
}

/** Why a datagram is not a plausible RFC 5389 Binding request, checked before decoding; undefined if it is. */
function screen (msg: Buffer, rinfo: RemoteInfo): string | undefined {
  if (msg.length < STUN_HEADER_LENGTH) return 'too short'
  if (msg.length > MAX_REQUEST_LENGTH) return 'too long'
  if ((msg[0] & 0xc0) !== 0) return 'not STUN' // the first two bits of a STUN message are zero
  if (msg.readUInt32BE(4) !== MAGIC_COOKIE) return 'no magic cookie (not STUN, or RFC 3489)'
  const length = msg.readUInt16BE(2)
  if (length % 4 !== 0 || length + STUN_HEADER_LENGTH !== msg.length) return 'bad length'
  // class bits C1 C0 (0x0100, 0x0010) are both zero for a request; indications and responses get no answer
  if ((msg.readUInt16BE(0) & 0x0110) !== 0) return 'not a request'
  if (rinfo.port === 0) return 'source port 0'
  return undefined
}
