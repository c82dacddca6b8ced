/**
 * The DM round trip as a user sees it: `send()` until the `delivered` event (the recipient stored the
 * message and acknowledged it), between two real chat nodes on loopback.
 */
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createChat } from '../src/index.js'
import { removeTempDir, tempDir } from './temp.js'
import type { Chat, ChatInit, StoredMessage } from '../src/index.js'

const DELIVERY_TIMEOUT_MS = 10_000

export interface DmPair {
  label: string
  /** one message: send() until delivered; returns [total ms, ms until send() resolved] */
  roundTrip(): Promise<[number, number]>
  stop(): Promise<void>
}

export async function createDmPair (label: string, store: 'leveldb' | 'memory'): Promise<DmPair> {
  let dir: string | undefined
  const chats: Chat[] = []
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled(chats.map(async c => { await c.stop() }))
    if (dir != null) await removeTempDir(dir)
  }
  try {
    const base: ChatInit = { listen: ['/ip4/127.0.0.1/tcp/0'], webrtc: false }
    if (store === 'leveldb') dir = await tempDir('dm')
    const a = await createChat(dir != null ? { ...base, dataDir: join(dir, 'alice') } : base)
    chats.push(a)
    const b = await createChat(dir != null ? { ...base, dataDir: join(dir, 'bob') } : base)
    chats.push(b)

    // Delivered events can in principle come before the awaiting code looks: keep both directions.
    const delivered = new Set<string>()
    const waiting = new Map<string, () => void>()
    a.addEventListener('delivered', (evt) => {
      const id = evt.detail.id
      const wake = waiting.get(id)
      if (wake != null) {
        waiting.delete(id)
        wake()
      } else {
        delivered.add(id)
      }
    })
    const whenDelivered = async (m: StoredMessage): Promise<void> => {
      if (delivered.delete(m.id)) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(m.id)
          reject(new Error(`${label}: message ${m.id} not delivered within ${DELIVERY_TIMEOUT_MS} ms`))
        }, DELIVERY_TIMEOUT_MS)
        waiting.set(m.id, () => { clearTimeout(timer); resolve() })
      })
    }

    await a.addContact(b.peerId.toString(), 'bob')
    await b.addContact(a.peerId.toString(), 'alice')
    await a.libp2p.dial(multiaddr(b.addresses()[0]))

    let seq = 0
    const roundTrip = async (): Promise<[number, number]> => {
      const text = `hello bob, message #${(seq++).toString().padStart(6, '0')}`
      const t0 = performance.now()
      const m = await a.send('bob', text)
      const tSent = performance.now()
      await whenDelivered(m)
      const t1 = performance.now()
      return [t1 - t0, tSent - t0]
    }
    return { label, roundTrip, stop: cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}
