/**
 * A new listen address (a relay reservation) is pushed to connected peers at once (src/node/address-push.ts):
 * the hook with stubbed components, and against a real bootstrap node the library behaviour it relies on.
 */
import assert from 'node:assert/strict'
import { TypedEventEmitter } from '@libp2p/interface'
import { pushOnListen } from '../src/node/address-push.js'
import { Cleanup, startBootstrap, startChat } from './fixtures.js'
import type { Libp2pEvents, PeerUpdate } from '@libp2p/interface'

describe('address push', function () {
  this.timeout(60_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('pushes when a transport starts or stops listening, and a failed push is not thrown', async () => {
    const events = new TypedEventEmitter<Libp2pEvents>()
    let pushes = 0
    pushOnListen({ events }, { push: async () => { pushes++; if (pushes === 2) throw new Error('no peers') } })
    events.safeDispatchEvent('transport:listening', { detail: {} as any })
    assert.equal(pushes, 1)
    events.safeDispatchEvent('transport:close', { detail: {} as any })
    assert.equal(pushes, 2)
    events.safeDispatchEvent('connection:open', { detail: {} as any })
    assert.equal(pushes, 2, 'nothing else pushes')
  })

  it('the bootstrap node has a client\'s relay address before the client\'s own record does', async () => {
    // libp2p's address manager records a new listen address only a second after the transport said it
    // listens, and identify push used to wait for that record: the relay, which answers lookups, heard
    // of the address last. Pushed on the transport's event, it hears of it first.
    const boot = cleanup.add(await startBootstrap())
    const heard = new Promise<PeerUpdate>((resolve) => {
      const onUpdate = (evt: CustomEvent<PeerUpdate>): void => {
        const { peer } = evt.detail
        if (!peer.addresses.some(a => a.multiaddr.toString().includes('/p2p-circuit'))) return
        boot.libp2p.removeEventListener('peer:update', onUpdate)
        resolve(evt.detail)
      }
      boot.libp2p.addEventListener('peer:update', onUpdate)
    })
    const chat = cleanup.add(await startChat({ bootstrapNode: boot }))
    let timer: ReturnType<typeof setTimeout> | undefined
    const update = await Promise.race([heard, new Promise<never>((resolve, reject) => { timer = setTimeout(() => { reject(new Error('the bootstrap node never heard of the relay address')) }, 20_000) })])
    clearTimeout(timer)
    assert.ok(update.peer.id.equals(chat.peerId))
    const own = await chat.libp2p.peerStore.get(chat.libp2p.peerId)
    assert.equal(own.addresses.filter(a => a.multiaddr.toString().includes('/p2p-circuit')).length, 0,
      `the client's own record has no relay address yet: ${own.addresses.map(a => a.multiaddr.toString()).join(', ')}`)
    assert.ok(chat.libp2p.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 'the client listens on the relay')
  })
})
