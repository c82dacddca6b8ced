/**
 * `--lan` without starting a node (mDNS must never run in tests: it talks to the whole local network):
 * the command line and config.json map to `lan: true`, and the node's peer discovery holds mDNS for
 * `lan: true` and none for `lan: false`. The discoveries are only constructed, never started.
 */
import assert from 'node:assert/strict'
import { defaultLogger } from '@libp2p/logger'
import { networkInit, parseArgs } from '../src/cli/options.js'
import { peerDiscovery } from '../src/node/node.js'

const BOOTSTRAP = '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'

/** What each discovery is (its toStringTag), made with stub components and never started. */
async function discoveries (options: { lan?: boolean, bootstrap?: string[] }): Promise<string[]> {
  const components = { logger: defaultLogger() }
  return (await peerDiscovery(options)).map(make => Object.prototype.toString.call(make(components as any)))
}

const argv = (...args: string[]): string[] => ['node', 'megachat', '--data', '/nonexistent', ...args]

describe('--lan', () => {
  it('is on with --lan or with "lan": true in config.json, and off otherwise', () => {
    assert.equal(parseArgs(argv('--lan')).lan, true)
    assert.equal(parseArgs(argv()).lan, false)
    assert.equal(networkInit(parseArgs(argv('--lan')), {}).lan, true)
    assert.equal(networkInit(parseArgs(argv()), { lan: true }).lan, true)
    assert.equal(networkInit(parseArgs(argv()), { lan: false }).lan, false)
    assert.equal(networkInit(parseArgs(argv()), {}).lan, false)
  })

  it('puts mDNS in the node\'s peer discovery with lan: true, and none without', async () => {
    assert.deepEqual(await discoveries({ lan: true }), ['[object @libp2p/mdns]'])
    assert.deepEqual(await discoveries({ lan: true, bootstrap: [BOOTSTRAP] }), ['[object @libp2p/bootstrap]', '[object @libp2p/mdns]'])
    assert.deepEqual(await discoveries({ lan: false, bootstrap: [BOOTSTRAP] }), ['[object @libp2p/bootstrap]'])
    assert.deepEqual(await discoveries({}), [])
  })
})
