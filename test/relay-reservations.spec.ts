/**
 * Relay reservations as the diagnosis shows them (src/node/relay-reservations.ts), against a real
 * bootstrap node: the expiry read from the circuit-relay transport's peer store tag, and the transport
 * renewing a reservation before it runs out. These pin library behaviour the adapter relies on.
 */
import assert from 'node:assert/strict'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { relayReservations, relaysOf, RENEW_BEFORE_MS } from '../src/node/relay-reservations.js'
import { Cleanup, startBootstrap, startChat, until } from './fixtures.js'
import type { Chat } from '../src/index.js'

describe('relay reservations', function () {
  this.timeout(90_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  const circuits = (chat: Chat): string[] => chat.libp2p.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))

  it('names the relays of circuit addresses', () => {
    const relay = '12D3KooWEzmdmZwTBhBrxNHwcDS3FUhQRrt8ycLzKzAr2SSq9nUV'
    const me = '12D3KooWQ1UWNtVYMU5DwfS1pEr64Lqfsn2YmDGe2FsMEgAPU8Ga'
    assert.deepEqual(relaysOf([
      `/ip4/127.0.0.1/tcp/4001/p2p/${relay}/p2p-circuit/p2p/${me}`,
      `/ip4/127.0.0.1/tcp/4002/ws/p2p/${relay}/p2p-circuit/webrtc/p2p/${me}`,
      `/ip4/127.0.0.1/tcp/4003/p2p/${me}`
    ]), [relay])
  })

  it('reads when a reservation on a bootstrap node expires and is renewed', async () => {
    const boot = cleanup.add(await startBootstrap())
    const t0 = Date.now()
    const chat = cleanup.add(await startChat({ bootstrapNode: boot }))
    await until(() => circuits(chat).length > 0, 20_000, 'a relay reservation')
    const [reservation, ...more] = await relayReservations(chat.libp2p.peerStore, circuits(chat))
    assert.equal(more.length, 0)
    assert.equal(reservation?.relay, boot.peerId.toString())
    const ttl = boot.relayLimits.reservationTtl
    assert.ok(reservation.expires >= t0 + ttl - 1000 && reservation.expires <= Date.now() + ttl + 1000, `expires ${reservation.expires - Date.now()} ms from now, the relay gives ${ttl}`)
    assert.equal(reservation.renews, reservation.expires - RENEW_BEFORE_MS)
  })

  it('sees the transport renew a short reservation before it runs out', async () => {
    // 40 s: the transport renews at the earliest 30 s after making it, so here after 30 s
    const boot = cleanup.add(await createBootstrapNode({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      stunPort: 0,
      stunHost: '127.0.0.1',
      relay: { reservationTtl: 40_000 }
    }))
    const chat = cleanup.add(await startChat({ bootstrapNode: boot }))
    await until(() => circuits(chat).length > 0, 20_000, 'a relay reservation')
    const [first] = await relayReservations(chat.libp2p.peerStore, circuits(chat))
    assert.ok(first != null, 'no reservation expiry in the peer store')
    let renewedAt = 0
    await until(async () => {
      const [now] = await relayReservations(chat.libp2p.peerStore, circuits(chat))
      if (now != null && now.expires > first.expires) renewedAt = Date.now()
      return renewedAt > 0
    }, 50_000, 'the reservation to be renewed')
    assert.ok(renewedAt < first.expires, `renewed ${renewedAt - first.expires} ms after it expired`)
  })
})
