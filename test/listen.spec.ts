/**
 * Room sync, call signalling and file transfer take their handler through listen(), as the DM service
 * does: a node made before its features offers none of these protocols until the feature that owns it
 * listens (a peer's stream is refused as an unsupported protocol), and from then on what arrives reaches
 * that handler. Two real libp2p nodes over loopback TCP.
 */
import assert from 'node:assert/strict'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { toString as toHex } from 'uint8arrays/to-string'
import { CALL_PROTOCOL, FILE_PROTOCOL } from '../src/constants.js'
import { CallSignal, callSignalling } from '../src/calls/index.js'
import { createRoomSecret, deriveRoomKeys } from '../src/crypto/room.js'
import { FileHeader, FileRequest } from '../src/files/pb/file.js'
import { fileTransfer } from '../src/files/protocol.js'
import { ROOM_SYNC_PROTOCOL, roomSync } from '../src/rooms/index.js'
import { Cleanup } from './fixtures.js'
import type { CallSignalling, Signal } from '../src/calls/index.js'
import type { FileTransfer } from '../src/files/protocol.js'
import type { RoomSync, RoomSyncSource } from '../src/rooms/sync.js'
import type { Connection, Libp2p } from '@libp2p/interface'

type Node = Libp2p<{ roomSync: RoomSync, calls: CallSignalling, files: FileTransfer }>

const WAIT_MS = 10_000
const signal = (): AbortSignal => AbortSignal.timeout(WAIT_MS)

async function node (): Promise<Node> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { roomSync: roomSync(), calls: callSignalling(), files: fileTransfer() }
  })
}

const refused = (err: Error): boolean => err.name === 'UnsupportedProtocolError'

describe('protocol handlers given by listen()', function () {
  this.timeout(30_000)
  const cleanup = new Cleanup()
  let asker: Node
  let holder: Node
  let connection: Connection

  beforeEach(async () => {
    asker = cleanup.add(await node())
    holder = cleanup.add(await node())
    connection = await asker.dial(holder.getMultiaddrs()[0], { signal: signal() })
  })
  afterEach(async () => { await cleanup.run() })

  it('room sync: refused before listen(), answered from the lookup after', async () => {
    const keys = deriveRoomKeys(createRoomSecret())
    const empty: RoomSyncSource = { keys, items: async () => [], has: async () => false, sealed: async () => undefined }
    await assert.rejects(connection.newStream(ROOM_SYNC_PROTOCOL, { signal: signal() }), refused)
    await assert.rejects(asker.services.roomSync.request(holder.peerId, empty, { onMessage: async () => {}, signal: signal() }), refused)
    assert.equal(holder.services.roomSync.stats.served + holder.services.roomSync.stats.denied, 0)

    const asked: string[] = []
    await holder.services.roomSync.listen((roomId) => {
      asked.push(roomId)
      return roomId === keys.roomIdHex ? empty : undefined
    })
    await assert.rejects(holder.services.roomSync.listen(() => undefined), 'one lookup only')
    const result = await asker.services.roomSync.request(holder.peerId, empty, { onMessage: async () => {}, signal: signal() })
    assert.deepEqual(result, { received: 0, more: false })
    assert.deepEqual(asked, [keys.roomIdHex])
    assert.equal(holder.services.roomSync.stats.served, 1)
  })

  it('call signalling: refused before listen(), frames reach the handler after', async () => {
    const frames: Signal[] = []
    const ended: unknown[] = []
    await assert.rejects(asker.services.calls.open(connection, { signal: signal() }), /not listening/, 'an asker that does not listen cannot open')
    await asker.services.calls.listen({ onSignal: () => {}, onEnd: () => {} })
    await assert.rejects(connection.newStream(CALL_PROTOCOL, { signal: signal() }), refused)
    await assert.rejects(asker.services.calls.open(connection, { signal: signal() }), refused)

    const done = Promise.withResolvers<void>()
    await holder.services.calls.listen({
      onSignal: (from, s) => {
        assert.equal(from.toString(), asker.peerId.toString())
        frames.push(s)
      },
      onEnd: (channel) => {
        ended.push(channel)
        done.resolve()
      }
    })
    const channel = await asker.services.calls.open(connection, { signal: signal() })
    const hangup: Signal = { callId: toHex(crypto.getRandomValues(new Uint8Array(16)), 'base16'), type: CallSignal.Type.HANGUP, reason: CallSignal.Reason.NORMAL }
    await channel.send(hangup, { signal: signal() })
    channel.close()
    await Promise.race([done.promise, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('no end of channel')) }, WAIT_MS))])
    assert.deepEqual(frames, [hangup])
    assert.equal(ended.length, 1)
  })

  it('file transfer: refused before listen(), requests reach the lookup after', async () => {
    const id = crypto.getRandomValues(new Uint8Array(16))
    await assert.rejects(connection.newStream(FILE_PROTOCOL, { signal: signal() }), refused)

    const asked: string[] = []
    await holder.services.files.listen(async (peer, fileId) => {
      assert.equal(peer.toString(), asker.peerId.toString())
      asked.push(fileId)
      return 'unknown'
    })
    const stream = await connection.newStream(FILE_PROTOCOL, { signal: signal() })
    const lp = lpStream(stream)
    await lp.write(FileRequest.encode({ id }), { signal: signal() })
    const header = FileHeader.decode(await lp.read({ signal: signal() }))
    assert.equal(header.error, 'unknown')
    assert.deepEqual(asked, [toHex(id, 'base16')])
    assert.equal(holder.services.files.stats.refused, 1)
  })
})
