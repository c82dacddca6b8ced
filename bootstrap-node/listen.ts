/** Listening: a port checked before libjuice takes it, and libp2p's listen failures in one line. */
import { createSocket } from 'node:dgram'
import { ListenError, listenErrorReason } from './errors.js'
import { isWebrtcDirect } from './options.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/** Binds and releases the UDP port of a WebRTC-direct address, on the wildcard address as libjuice does. */
export async function checkUdpPortFree (ma: Multiaddr): Promise<void> {
  const [ip, udp] = ma.getComponents()
  const port = Number(udp?.value)
  if (udp?.name !== 'udp' || !Number.isInteger(port) || port === 0) return
  const type = ip?.name === 'ip6' ? 'udp6' : 'udp4'
  const socket = createSocket({ type })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, type === 'udp6' ? '::' : '0.0.0.0', () => { resolve() })
    })
  } catch (err: any) {
    throw new ListenError(`cannot listen on ${ma.toString()}: ${listenErrorReason(err)}`)
  } finally {
    await new Promise<void>(resolve => { try { socket.close(() => { resolve() }) } catch { resolve() } })
  }
}

/** libp2p's listen failure is a multi-line message with stack traces; the operator gets one line. */
export function translateStartError (err: any, listen: Multiaddr[]): Error {
  if (/ICE UDP mux listener/.test(String(err?.message))) {
    return new ListenError(`cannot listen on ${listen.find(isWebrtcDirect)?.toString() ?? 'WebRTC-direct'}: UDP port not available`)
  }
  if (err?.name !== 'UnsupportedListenAddressesError' && err?.name !== 'UnsupportedListenAddressError') return err
  const text = String(err.message)
  const m = /^\s+(\/\S+): (.*)$/m.exec(text)
  if (m == null) return new ListenError('cannot listen on the configured addresses')
  const [, addr, reason] = m
  const code = /\b(E[A-Z]+)\b/.exec(reason)?.[1]
  const why = code != null ? listenErrorReason({ code }) : reason.includes('UnsupportedListenAddressError') || reason.trim() === '' ? 'no transport for this address' : reason.replace(/^\w*Error: /, '')
  return new ListenError(`cannot listen on ${addr}: ${why}`)
}
