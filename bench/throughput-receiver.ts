/**
 * The receiving side of the createChat throughput row, in a worker thread of its own (as the recipient
 * is another person's machine): a chat node that counts what it shows and checks the order.
 * Messages to the parent: {ready, peerId, addresses}, then {shown} for each message shown and, asked
 * with {check: first, count}, the row's loss, duplicates and order, live and in its history.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { createChat } from '../src/index.js'
import { startProfile } from './profile.js'
import { check, indexOf } from './throughput.js'
import type { Profiling } from './profile.js'

const port = parentPort
if (port == null) throw new Error('run as a worker thread')
const chat = await createChat({ listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: false, dataDir: workerData.dataDir })
// the sender is a contact: a stranger's messages would stop at their message request
await chat.addContact(workerData.sender, 'alice')
const shown: number[] = []
let reported = 0
chat.addEventListener('message', (evt) => {
  shown.push(indexOf(evt.detail.text))
  // one post per event loop turn, not per message
  if (shown.length - reported === 1) {
    setImmediate(() => {
      reported = shown.length
      port.postMessage({ shown: shown.length })
    })
  }
})
let profiling: Profiling | undefined
port.on('message', (msg: { check?: [number, number], stop?: boolean, profile?: boolean }) => {
  void (async () => {
    // BENCH_PROFILE_DIR: a profile of the measured burst ({profile: true} before it, the check after)
    if (msg.profile === true) profiling = await startProfile('throughput-receiver')
    if (msg.check != null) {
      await profiling?.stop()
      profiling = undefined
      const [first, count] = msg.check
      const live = check(shown, first, count)
      const history = check((await chat.history(workerData.sender, count)).map(m => indexOf(m.text)), first, count)
      port.postMessage({ checked: { ...live, outOfOrder: Math.max(live.outOfOrder, history.outOfOrder) } })
    }
    if (msg.stop === true) {
      await chat.stop()
      port.postMessage({ stopped: true })
    }
  })()
})
port.postMessage({ ready: true, peerId: chat.peerId.toString(), addresses: chat.addresses() })
