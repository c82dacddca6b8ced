/**
 * A length prefix that never ends (0x80 0x80 …), sent by a raw libp2p node on each of MegaChat's
 * length-prefixed protocols to a running client: every stream is refused at its prefix's fourth byte at
 * the latest and counted, the client's memory does not grow with what the attacker sends, and a DM from
 * a contact meanwhile is delivered. (Before src/node/frames.ts, lpStream kept reading such a prefix: a
 * few MB of it took the client's RSS up by hundreds of MB.)
 */
import assert from 'node:assert/strict'
import { CALL_PROTOCOL, DM_PROTOCOL } from '../src/constants.js'
import { ROOM_SYNC_PROTOCOL } from '../src/rooms/sync.js'
import { Cleanup } from './fixtures.js'
import { streamEnded, underAttack } from './fuzz-frames.js'
import type { Chat } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

/** What the attacker offers in all, per protocol. */
const PREFIX_BYTES = 4 * 1024 * 1024
const CHUNK_BYTES = 64 * 1024
/** Each protocol's own timeouts are 30 s or more: a stream still open after this was not refused. */
const REFUSED_WITHIN_MS = 5000
const MAX_GROWTH_BYTES = 30 * 1024 * 1024

interface Attack {
  /** prefix bytes handed to the attacker's streams */
  offered: number
  streams: number
}

/**
 * Opens streams on `protocol` one after another and writes 0x80 bytes on each until it is refused,
 * until `total` bytes have been offered. `progress` hears the running count.
 */
async function neverEndingPrefix (attacker: Libp2p, victim: Chat, protocol: string, total: number, progress: (attack: Attack) => void): Promise<Attack> {
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x80)
  const attack: Attack = { offered: 0, streams: 0 }
  while (attack.offered < total) {
    const stream = await attacker.dialProtocol(victim.peerId, protocol, { signal: AbortSignal.timeout(REFUSED_WITHIN_MS) })
    attack.streams++
    const refused = streamEnded(stream, REFUSED_WITHIN_MS)
    refused.catch(() => {})
    while (attack.offered < total && stream.status === 'open' && stream.writeStatus === 'writable') {
      attack.offered += chunk.byteLength
      progress(attack)
      if (!stream.send(chunk)) {
        await new Promise<void>(resolve => {
          const done = (): void => { stream.removeEventListener('drain', done); stream.removeEventListener('close', done); resolve() }
          stream.addEventListener('drain', done)
          stream.addEventListener('close', done)
        })
      }
    }
    await refused
  }
  return attack
}

describe('a length prefix that never ends', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  let victim: Chat
  let attacker: Libp2p
  let sendAndReceive: (text: string) => Promise<void>

  beforeEach(async () => {
    ({ victim, attacker, honestDm: sendAndReceive } = await underAttack(cleanup))
    // one DM first, so that what a first message costs (streams, store) is in the baseline
    await sendAndReceive('before')
  })

  afterEach(async () => { await cleanup.run() })

  const protocols: Array<{ name: string, protocol: string, refused: (chat: Chat) => number }> = [
    { name: 'direct messages', protocol: DM_PROTOCOL, refused: chat => chat.libp2p.services.dm.stats.oversized },
    { name: 'call signalling', protocol: CALL_PROTOCOL, refused: chat => chat.libp2p.services.calls.stats.oversized },
    { name: 'room sync', protocol: ROOM_SYNC_PROTOCOL, refused: chat => chat.libp2p.services.roomSync.stats.failed }
  ]

  for (const { name, protocol, refused } of protocols) {
    it(`${name}: each stream is refused at once and counted, memory stays bounded, and a DM gets through meanwhile`, async () => {
      const countBefore = refused(victim)
      const rssBefore = process.memoryUsage().rss
      let rssPeak = rssBefore
      const underWay = Promise.withResolvers<void>()
      const attacking = neverEndingPrefix(attacker, victim, protocol, PREFIX_BYTES, (attack) => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
        if (attack.offered >= PREFIX_BYTES / 4) underWay.resolve()
      })
      attacking.catch(() => {})
      await Promise.race([underWay.promise, attacking])
      await sendAndReceive(`while under attack on ${protocol}`)
      const attack = await attacking
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss)

      assert.equal(attack.offered, PREFIX_BYTES)
      assert.ok(attack.streams > 1, 'the attacker had to open stream after stream')
      assert.equal(refused(victim) - countBefore, attack.streams, 'every refused stream is counted')
      const growth = rssPeak - rssBefore
      assert.ok(growth < MAX_GROWTH_BYTES, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MB for ${PREFIX_BYTES / 2 ** 20} MB of prefix`)
      // and the node still serves the friend
      await sendAndReceive(`after the attack on ${protocol}`)
    })
  }
})
