/**
 * The receiving node of the throughput floor, in a worker thread of its own as createChat's recipient is
 * (bench/throughput-receiver.ts): a raw libp2p node that answers the floor's frames. Posts {address} once
 * it listens; the parent ends it with worker.terminate().
 */
import { parentPort } from 'node:worker_threads'
import { THROUGHPUT_PROTOCOL, createRawNode, handleFloor } from './floor.js'

const port = parentPort
if (port == null) throw new Error('run as a worker thread')
const node = await createRawNode()
await node.handle(THROUGHPUT_PROTOCOL, handleFloor)
port.postMessage({ address: node.getMultiaddrs()[0].toString() })
