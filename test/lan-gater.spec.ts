/**
 * The gater that keeps a client from dialling other networks' private addresses (src/node/lan-gater.ts).
 */
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { ipToBigInt, isForeignPrivate, lanGater, ownNetworks } from '../src/node/lan-gater.js'

describe('private addresses of other networks', () => {
  // alice's machine: loopback, and 10.1.0.2/24 behind her home router
  const alice = [
    { family: 4 as const, address: ipToBigInt('127.0.0.1')?.value ?? 0n, mask: 0xff000000n },
    { family: 4 as const, address: ipToBigInt('10.1.0.2')?.value ?? 0n, mask: 0xffffff00n },
    { family: 6 as const, address: ipToBigInt('fd01::2')?.value ?? 0n, mask: ((1n << 64n) - 1n) << 64n }
  ]

  it('parses IPv4 and IPv6 addresses, and refuses what is not one', () => {
    assert.equal(ipToBigInt('10.1.0.2')?.value, 0x0a010002n)
    assert.equal(ipToBigInt('::1')?.value, 1n)
    assert.equal(ipToBigInt('fd01::2')?.value, (0xfd01n << 112n) + 2n)
    assert.equal(ipToBigInt('fe80::1%eth0')?.family, 6)
    assert.equal(ipToBigInt('300.1.1.1'), undefined)
    assert.equal(ipToBigInt('example.com'), undefined)
  })

  it('refuses another network\'s private address and takes its own network\'s, loopback and public ones', () => {
    assert.equal(isForeignPrivate('10.2.0.2', alice), true, 'bob\'s home network')
    assert.equal(isForeignPrivate('192.168.1.20', alice), true)
    assert.equal(isForeignPrivate('100.64.3.4', alice), true, 'carrier-grade NAT')
    assert.equal(isForeignPrivate('fd02::2', alice), true)
    assert.equal(isForeignPrivate('10.1.0.7', alice), false, 'a machine on alice\'s own network')
    assert.equal(isForeignPrivate('fd01::9', alice), false)
    assert.equal(isForeignPrivate('127.0.0.1', alice), false)
    assert.equal(isForeignPrivate('203.0.113.1', alice), false, 'public (documentation range)')
    assert.equal(isForeignPrivate('3fff::1', alice), false)
  })

  it('gates dials by the first address in a multiaddr, and always lets the user\'s bootstrap nodes through', () => {
    const gater = lanGater(['/ip4/192.168.7.1/tcp/4001/p2p/12D3KooWHzSx1x6b5yH3mUrnP6ZNQ8xGsuLTK8vKUv8x3eq5WU1B'], () => alice)
    const deny = (a: string): boolean => gater.denyDialMultiaddr?.(multiaddr(a)) as boolean
    assert.equal(deny('/ip4/10.2.0.2/tcp/4001'), true)
    assert.equal(deny('/ip4/10.2.0.2/tcp/4002/ws'), true)
    assert.equal(deny('/ip4/10.1.0.3/tcp/4001'), false)
    assert.equal(deny('/ip4/203.0.113.1/tcp/4001/p2p/12D3KooWHzSx1x6b5yH3mUrnP6ZNQ8xGsuLTK8vKUv8x3eq5WU1B/p2p-circuit'), false, 'a relay on the internet')
    assert.equal(deny('/ip4/192.168.7.1/tcp/4001'), false, 'the bootstrap node the user named')
    assert.equal(deny('/dns4/example.org/tcp/443/wss'), false)
  })

  it('reads this machine\'s networks, loopback among them', () => {
    assert.equal(isForeignPrivate('127.0.0.1', ownNetworks()), false)
  })
})

describe('the order of one peer\'s addresses', () => {
  it('puts the plain relay address before WebRTC signalled through it, and keeps libp2p\'s order otherwise', async () => {
    const { addressOrder } = await import('../src/node/address-order.js')
    const relay = '/ip4/203.0.113.1/tcp/4001/p2p/12D3KooWHzSx1x6b5yH3mUrnP6ZNQ8xGsuLTK8vKUv8x3eq5WU1B/p2p-circuit'
    const addrs = [`${relay}/webrtc`, relay, '/ip4/127.0.0.1/tcp/4001', '/ip4/198.51.100.7/tcp/4001']
      .map(a => ({ multiaddr: multiaddr(a), isCertified: false }))
    assert.deepEqual(addrs.sort(addressOrder).map(a => a.multiaddr.toString()), [
      '/ip4/198.51.100.7/tcp/4001', relay, `${relay}/webrtc`, '/ip4/127.0.0.1/tcp/4001'
    ])
  })
})
