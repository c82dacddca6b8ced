/**
 * The first-contact scenario, shared by test/discovery.spec.ts and the benchmark (bench/first.ts): a
 * bootstrap node that has seen clients come and go, a contact connected to it, and fresh terminal
 * clients (each a process of its own with a new identity and store, as a new user's) that add the
 * contact and write at once.
 */
import { rm } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { JsonClient, startChat, tempDir, until } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Chat } from '../src/index.js'
import type { PeerId } from '@libp2p/interface'

/** A chat node with its store in memory, connected to the bootstrap node. */
export async function memoryChat (boot: BootstrapNode): Promise<Chat> {
  return await startChat({ bootstrapNode: boot, datastore: new MemoryDatastore(), privateKey: await generateKeyPair('Ed25519') })
}

/** Resolves once the bootstrap node holds addresses of the peer (one passing `test`), so that it can answer a lookup for it. */
export async function knownTo (boot: BootstrapNode, peer: PeerId, test: (addr: string) => boolean = () => true): Promise<void> {
  await until(async () => {
    const addrs = await boot.libp2p.peerStore.get(peer).then(p => p.addresses.map(a => a.multiaddr.toString()), () => [])
    return addrs.some(test)
  }, 15_000, `the bootstrap node to know ${peer.toString()}`)
}

/**
 * `count` clients connect to the bootstrap node and leave again, in four waves; a third of them leave
 * abruptly (every connection reset before the node stops, as when a laptop's lid closes).
 */
export async function churn (boot: BootstrapNode, count: number): Promise<void> {
  const waves = 4
  const gone: PeerId[] = []
  for (let w = 0; w < waves; w++) {
    const chats = await Promise.all(Array.from({ length: Math.ceil(count / waves) }, async () => await memoryChat(boot)))
    await Promise.all(chats.map(async c => { await knownTo(boot, c.peerId) }))
    await Promise.all(chats.map(async (c, i) => {
      if (i % 3 === 0) for (const conn of c.libp2p.getConnections()) conn.abort(new Error('gone'))
      await c.stop()
    }))
    gone.push(...chats.map(c => c.peerId))
  }
  await until(() => gone.every(peer => boot.libp2p.getConnections(peer).length === 0), 15_000, 'the churned clients to be gone')
}

export interface FirstContact {
  /** spawn until the client's ready line (ms) */
  readyMs: number
  /** from the /add command until the message was delivered (ms); undefined if it was not */
  deliveredMs?: number
  /** the reason of an 'unreachable' line before delivery: the first attempt failed */
  unreachable?: string
}

/**
 * A fresh terminal client adds the contact and writes to it as soon as it is ready, then waits up to
 * `waitMs` for the delivery. `findTimeout` is the client's lookup timeout per attempt.
 */
export async function firstContact (bootstrap: string, contact: PeerId, options: { findTimeout: number, waitMs: number }): Promise<FirstContact> {
  const dir = await tempDir()
  const t0 = performance.now()
  const client = new JsonClient(['--json', '--data', dir, '--bootstrap', bootstrap], { MEGACHAT_FIND_TIMEOUT_MS: String(options.findTimeout) })
  try {
    await client.next(l => l.type === 'ready', 0, 60_000, 'the ready line')
    const tAdd = performance.now()
    const result: FirstContact = { readyMs: tAdd - t0 }
    await client.command(`/add ${contact.toString()} contact`, 'contact')
    const sent = await client.command('/msg contact hello', 'sent')
    const delivered = await client.next(l => l.type === 'delivered' && l.id === sent.id, 0, options.waitMs, 'delivered').then(() => true, () => false)
    if (delivered) result.deliveredMs = performance.now() - tAdd
    const unreachable = client.lines.find(l => l.type === 'unreachable')
    if (unreachable != null) result.unreachable = String(unreachable.reason)
    return result
  } finally {
    await client.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
