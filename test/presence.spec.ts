/**
 * Presence (src/presence/index.ts) on a mocked clock (node:test's MockTimers) with stubbed components: it
 * probes an offline contact less and less often, the delay doubling up to MAX_PROBE_DELAY_MS, and from the
 * first delay again once the contact was seen. Hours of rounds take milliseconds here.
 */
import assert from 'node:assert/strict'
import { mock } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { MAX_PROBE_DELAY_MS } from '../src/constants.js'
import { Contacts } from '../src/contacts/index.js'
import { PeerNotFoundError } from '../src/errors.js'
import { Presence } from '../src/presence/index.js'
import { ChatStore } from '../src/store/index.js'
import type { PeerId } from '@libp2p/interface'

const START = 1_700_000_000_000

async function newPeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** The gaps between successive times. */
function gaps (times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i])
}

/** Presence over one offline contact whom every probe fails to reach; `peer:*` listeners kept for the test. */
async function offlineContact (): Promise<{ presence: Presence, bob: PeerId, probes: number[], listeners: Map<string, (evt: CustomEvent<PeerId>) => void> }> {
  const store = new ChatStore(new MemoryDatastore())
  const contacts = new Contacts(store, await newPeer())
  const bob = await newPeer()
  await contacts.add(bob.toString(), 'bob')
  const probes: number[] = []
  const listeners = new Map<string, (evt: CustomEvent<PeerId>) => void>()
  const presence = new Presence({
    libp2p: { addEventListener: (name: string, fn: any) => { listeners.set(name, fn) }, removeEventListener () {}, getConnections: () => [] },
    store,
    contacts,
    reach: {
      connect: async (peer) => {
        assert.ok(peer.equals(bob))
        probes.push(Date.now())
        throw new PeerNotFoundError('offline')
      }
    },
    retryInterval: 1000,
    signal: new AbortController().signal,
    onChange: () => {}
  })
  return { presence, bob, probes, listeners }
}

/** `n` rounds of probes, a second apart. */
async function rounds (presence: Presence, n: number): Promise<void> {
  for (let round = 0; round < n; round++) {
    await presence.probe(() => false)
    mock.timers.tick(1000)
  }
}

describe('presence', () => {
  afterEach(() => { mock.timers.reset() })

  it('probes an offline contact after the first delay, then twice as long each time, never longer than the cap', async () => {
    mock.timers.enable({ apis: ['Date'], now: START })
    const { presence, probes } = await offlineContact()
    // a round every second for three hours
    await rounds(presence, 3 * 3600)
    const delays = gaps(probes)
    const doubling = [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000]
    assert.deepEqual(delays.slice(0, doubling.length), doubling, 'each delay twice the last')
    assert.ok(delays.length > doubling.length + 2, `probes go on at the cap: ${delays.length} delays`)
    for (const d of delays.slice(doubling.length)) assert.equal(d, MAX_PROBE_DELAY_MS, 'capped')
  })

  it('probes a contact again at the first delay once they were seen', async () => {
    mock.timers.enable({ apis: ['Date'], now: START })
    const { presence, bob, probes, listeners } = await offlineContact()
    presence.start()
    await rounds(presence, 60)
    assert.deepEqual(gaps(probes), [1000, 2000, 4000, 8000, 16_000])
    listeners.get('peer:disconnect')?.(new CustomEvent('peer:disconnect', { detail: bob }))
    probes.length = 0
    await rounds(presence, 4)
    assert.deepEqual(gaps(probes), [1000, 2000], 'back to the first delay')
  })
})
