/**
 * The receiving side of the files bench, in a process of its own (its RSS is what is measured):
 *   node files-receiver.js chat <dataDir>   a createChat client that fetches what a contact offers
 *   node files-receiver.js raw              a bare libp2p node (TCP + Noise + yamux) that reads one stream
 *   node files-receiver.js raw-disk <dir>   the same, writing what it reads to a file in <dir>
 *   node files-receiver.js raw-webrtc <relay>          a bare node reachable by WebRTC through <relay>
 *   node files-receiver.js chat-webrtc <dir> <relay>   a client reachable by WebRTC through <relay>
 * Prints {"type":"ready",peerId,addresses}; reads JSON lines on stdin ({"add": peerId}, {"cpu": true});
 * prints {"type":"done",...} when a file (or the raw stream) has all arrived, {"type":"cpu"} when asked.
 * Every line it prints carries cpuUs, the CPU time it has used so far.
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { lpStream, UnexpectedEOFError } from '@libp2p/utils'
import { createChat } from '../src/index.js'
import { startProfile } from './profile.js'
import { BULK_PROTOCOL, createRawNode, createRawWebRTCNode } from './floor.js'
import type { Profiling } from './profile.js'
import type { Libp2p, Stream } from '@libp2p/interface'

/** BENCH_PROFILE_DIR: a profile from the first {"cpu"} (before a transfer) to the next "done" */
let profiling: Promise<Profiling> | undefined
/** every line carries the process's CPU time so far (µs, user + system): the bench takes differences */
const say = (obj: object): void => {
  if ((obj as any).type === 'done' && profiling != null) {
    const stopping = profiling
    profiling = undefined
    void stopping.then(async p => { await p.stop() })
  }
  const { user, system } = process.cpuUsage()
  process.stdout.write(JSON.stringify({ ...obj, cpuUs: user + system }) + '\n')
}

async function main (): Promise<void> {
  const [mode, dataDir, relayArg] = process.argv.slice(2)
  const commands: Array<(msg: any) => void> = [(msg) => {
    if (msg.cpu == null) return
    profiling ??= startProfile(`receiver-${mode}`)
    void profiling.then(() => { say({ type: 'cpu' }) })
  }]
  createInterface({ input: process.stdin }).on('line', (line) => {
    const msg = JSON.parse(line)
    for (const c of commands) c(msg)
  })
  const relay = mode === 'raw-webrtc' ? dataDir : relayArg
  if (mode === 'raw' || mode === 'raw-disk' || mode === 'raw-webrtc') {
    const node = mode === 'raw-webrtc' ? await createRawWebRTCNode(relay) : await createRawNode()
    await node.handle(BULK_PROTOCOL, async (stream: Stream) => {
      // the raw stream has no flow control of its own: what the disk has not taken yet waits in memory
      const lp = lpStream(stream, { maxDataLength: 2 * 2 ** 20, maxBufferSize: mode === 'raw-disk' ? 2 ** 31 : 64 * 2 ** 20 })
      let bytes = 0
      // raw-disk: each frame written to a file in `dataDir` before the next is read
      const file = mode === 'raw-disk' ? await open(join(dataDir, 'raw.bin'), 'w') : undefined
      try {
        while (true) {
          try {
            const frame = (await lp.read()).subarray()
            await file?.write(frame, 0, frame.byteLength, bytes)
            bytes += frame.byteLength
          } catch (err: any) {
            if (err.name === UnexpectedEOFError.name) break
            throw err
          }
        }
        await file?.close()
        await lp.write(new TextEncoder().encode(String(bytes)))
        await stream.close()
        say({ type: 'done', bytes })
      } catch (err: any) {
        stream.abort(err)
        say({ type: 'error', message: err.message })
      }
    })
    say({ type: 'ready', peerId: node.peerId.toString(), addresses: mode === 'raw-webrtc' ? await webrtcAddresses(node) : node.getMultiaddrs().map(String) })
    return
  }
  const webrtc = mode === 'chat-webrtc'
  const chat = await createChat({ dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], webrtc, autoFetchBytes: 2 * 2 ** 30, ...(webrtc ? { bootstrap: [relay] } : {}) })
  chat.addEventListener('file-done', (evt) => { say({ type: 'done', bytes: evt.detail.size, path: evt.detail.path }) })
  chat.addEventListener('file-error', (evt) => { say({ type: 'error', message: evt.detail.error }) })
  chat.addEventListener('file-offer', () => { say({ type: 'offer' }) })
  commands.push((msg) => {
    if (msg.add != null) void chat.addContact(msg.add, 'sender').then(() => { say({ type: 'added' }) })
  })
  say({ type: 'ready', peerId: chat.peerId.toString(), addresses: webrtc ? await webrtcAddresses(chat.libp2p) : chat.addresses() })
}

/** The node's WebRTC addresses through the relay, once it holds a reservation there. */
async function webrtcAddresses (node: Libp2p): Promise<string[]> {
  const deadline = Date.now() + 30_000
  while (true) {
    const found = node.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit/webrtc/'))
    if (found.length > 0) return found
    if (Date.now() > deadline) throw new Error('no WebRTC address through the relay within 30 s')
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, deadline - Date.now() + 10)
      node.addEventListener('self:peer:update', () => { clearTimeout(timer); resolve() }, { once: true })
    })
  }
}

// exits cleanly on SIGTERM (so that a --cpu-prof profile is written)
process.on('SIGTERM', () => { process.exit(0) })

main().catch((err) => {
  process.stderr.write(`files-receiver: ${err?.stack ?? err}\n`)
  process.exit(1)
})
