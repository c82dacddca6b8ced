/**
 * The floors for the DM round trip: two raw libp2p nodes with the same transport stack as the chat
 * (TCP, Noise, yamux) and nothing else, talking length-prefixed frames on loopback.
 *
 *  - echo on an open stream: one stream, write a frame, read it back, repeat;
 *  - fresh stream per message: dialProtocol (multistream-select on the open connection), write a frame,
 *    read a short reply, close, exactly the shape of one DM (message, ack, close).
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream, UnexpectedEOFError } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import type { LengthPrefixedStream } from '@libp2p/utils'

export const ECHO_PROTOCOL = '/megachat-bench/echo/1.0.0'
export const REQUEST_PROTOCOL = '/megachat-bench/request/1.0.0'
/** bench/files.ts: one stream of bulk data, the floor for files */
export const BULK_PROTOCOL = '/megachat-bench/bulk/1.0.0'
/** the acknowledged-throughput floor (bench/throughput.ts) */
export const THROUGHPUT_PROTOCOL = '/megachat-bench/throughput/1.0.0'

/** ~40 bytes, about a short DM on the wire */
const FRAME = new TextEncoder().encode('bench frame: hello bob, how are you? :)')
/** the size of a DM ack (a 16-byte id in a protobuf) */
const REPLY = new Uint8Array(18).fill(7)
const TIMEOUT_MS = 10_000

/**
 * The WebRTC floor's node: TCP to reach the relay, the relay transport, WebRTC, Noise, yamux and
 * identify (which the relay needs), nothing else. It listens on the relay and for WebRTC so that
 * another node can open a direct WebRTC connection to it through the relay, as clients do.
 */
export async function createRawWebRTCNode (relay?: string): Promise<Libp2p> {
  const { webRTC } = await import('@libp2p/webrtc')
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', ...(relay != null ? ['/p2p-circuit', '/webrtc'] : [])] },
    transports: [tcp(), circuitRelayTransport(), webRTC({ rtcConfiguration: { iceServers: [] } })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  if (relay != null) await node.dial(multiaddr(relay))
  return node
}

/** `datastore` only for the diagnostic row: libp2p keeps its peer store there (default: in memory) */
export async function createRawNode (datastore?: Datastore): Promise<Libp2p> {
  const node = await createLibp2p({
    ...(datastore != null ? { datastore } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  await node.handle(ECHO_PROTOCOL, handleEcho, { maxInboundStreams: 4 })
  await node.handle(REQUEST_PROTOCOL, handleRequest, { maxInboundStreams: 64 })
  return node
}

async function handleEcho (stream: Stream, _connection: Connection): Promise<void> {
  const lp = lpStream(stream)
  try {
    while (true) {
      let frame
      try {
        frame = await lp.read()
      } catch (err: any) {
        if (err.name === UnexpectedEOFError.name) break
        throw err
      }
      await lp.write(frame)
    }
    await stream.close()
  } catch (err: any) {
    stream.abort(err)
  }
}

/** Like the DM handler: answer each frame, read until the sender closes, then close. */
async function handleRequest (stream: Stream, _connection: Connection): Promise<void> {
  const lp = lpStream(stream)
  try {
    while (true) {
      try {
        await lp.read({ signal: AbortSignal.timeout(TIMEOUT_MS) })
      } catch (err: any) {
        if (err.name === UnexpectedEOFError.name) break
        throw err
      }
      await lp.write(REPLY)
    }
    await stream.close()
  } catch (err: any) {
    stream.abort(err)
  }
}

/**
 * The throughput floor's receiver: reads 1 kB frames until the sender closes, with a small ack every 64
 * frames (as a receiver that stores in batches would) and one for the last partial batch.
 */
export async function handleFloor (stream: Stream, _connection: Connection): Promise<void> {
  const lp = lpStream(stream)
  let count = 0
  try {
    while (true) {
      try {
        await lp.read()
      } catch (err: any) {
        if (err.name === UnexpectedEOFError.name) break
        throw err
      }
      count++
      // a small ack every 64 frames, as a receiver that stores in batches would
      if (count % 64 === 0) await lp.write(new TextEncoder().encode(String(count)))
    }
    await lp.write(new TextEncoder().encode(String(count)))
    await stream.close()
  } catch (err: any) {
    stream.abort(err)
  }
}

/** One long-lived echo stream; `roundTrip()` measures one frame out and back. */
export class EchoClient {
  private constructor (private readonly stream: Stream, private readonly lp: LengthPrefixedStream<Stream>) {}

  static async open (from: Libp2p, to: Libp2p): Promise<EchoClient> {
    const stream = await from.dialProtocol(to.peerId, ECHO_PROTOCOL)
    return new EchoClient(stream, lpStream(stream))
  }

  async roundTrip (): Promise<number> {
    const t0 = performance.now()
    await this.lp.write(FRAME)
    const echo = await this.lp.read({ signal: AbortSignal.timeout(TIMEOUT_MS) })
    const t1 = performance.now()
    if (echo.byteLength !== FRAME.byteLength) throw new Error('echo came back with the wrong length')
    return t1 - t0
  }

  async close (): Promise<void> {
    await this.stream.close().catch(() => {})
  }
}

/** One message on a fresh stream: open, write, read the reply, close. */
export async function freshStreamRoundTrip (from: Libp2p, to: Libp2p): Promise<number> {
  const t0 = performance.now()
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  const stream = await from.dialProtocol(to.peerId, REQUEST_PROTOCOL, { signal })
  const lp = lpStream(stream)
  try {
    await lp.write(FRAME, { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal })
    const t1 = performance.now()
    if (reply.byteLength !== REPLY.byteLength) throw new Error('reply has the wrong length')
    return t1 - t0
  } catch (err: any) {
    stream.abort(err)
    throw err
  }
}
