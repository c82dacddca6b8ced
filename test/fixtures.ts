/**
 * Shared test fixtures: the real bootstrap node, chat nodes on loopback, temporary data directories,
 * and waiting on events with a timeout (never a fixed sleep).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBootstrapNode } from '../bootstrap-node/index.js'
import { createChat } from '../src/index.js'
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { sha256 } from '@noble/hashes/sha2.js'
import { createLibp2p } from 'libp2p'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Chat, ChatInit } from '../src/index.js'

/** WebRTC needs the test network namespace (it skips loopback); test/netns.sh says when there is none. */
export const WEBRTC = process.env.MEGACHAT_IN_NETNS === '1' && process.env.MEGACHAT_NO_WEBRTC == null

export async function startBootstrap (): Promise<BootstrapNode> {
  return await createBootstrapNode({
    listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
    stunPort: 0,
    stunHost: '127.0.0.1'
  })
}

export async function startChat (init: ChatInit & { bootstrapNode?: BootstrapNode } = {}): Promise<Chat> {
  const { bootstrapNode, ...rest } = init
  return await createChat({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    webrtc: WEBRTC,
    retryInterval: 1000,
    findTimeout: 5000,
    scryptN: 2 ** 10,
    ...(bootstrapNode != null ? { bootstrap: bootstrapNode.addresses() } : {}),
    ...rest
  })
}

/** Resolves with the first event of `name` whose detail passes `test`; rejects after `ms`. */
export async function waitFor<T = any> (target: EventTarget, name: string, test: (detail: T) => boolean = () => true, ms = 20_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(name, listener)
      reject(new Error(`timed out after ${ms} ms waiting for "${name}"`))
    }, ms)
    const listener = (evt: Event): void => {
      const detail = (evt as CustomEvent<T>).detail
      if (!test(detail)) return
      clearTimeout(timer)
      target.removeEventListener(name, listener)
      resolve(detail)
    }
    target.addEventListener(name, listener)
  })
}

/** Polls a condition until it holds (for state without an event); rejects after `ms`. */
export async function until (condition: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/**
 * A plain libp2p node with gossipsub set up like MegaChat's (no MegaChat code): an outsider who learnt
 * a room's topic, or a peer replaying what it saw.
 */
export async function startPlainGossipNode (): Promise<Libp2p<{ identify: Identify, pubsub: GossipSub }>> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, msgIdFn: (m) => sha256(m.data), allowPublishToZeroTopicPeers: true })
    }
  })
}

/** A temporary directory, removed by the returned cleanup list's owner. */
export async function tempDir (prefix = 'megachat-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

/** Collects things to stop after each test, in reverse order. */
export class Cleanup {
  private readonly tasks: Array<() => Promise<unknown>> = []
  add<T extends { stop(): unknown }> (thing: T): T {
    this.tasks.push(async () => await thing.stop())
    return thing
  }

  dir (path: string): string {
    this.tasks.push(async () => { await rm(path, { recursive: true, force: true }) })
    return path
  }

  async run (): Promise<void> {
    while (this.tasks.length > 0) await this.tasks.pop()?.().catch(() => {})
  }
}
