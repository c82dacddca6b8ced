/**
 * Services a browser tab loads after its first connection instead of before it. kad-dht and gossipsub
 * are a large share of the web app's JavaScript, and parsing, compiling and starting them before the
 * node can dial holds the tab's first connection back (the bench's "load to ready" row shows it).
 *
 * Each stand-in is the service as libp2p and MegaChat use it from the start: the DHT's peer routing,
 * content routing and peer discovery; gossipsub's subscribe, publish, subscribers, topic validators and
 * events. It loads the real service (`lateServices`: the web app builds the two into a bundle of their
 * own, web/late-services.ts) once the tab is idle after its first connection, or at once when something
 * needs it (a lookup, a publish), builds it on the node's components and starts it. libp2p tells a protocol's topology about a peer when identify completes, which for the
 * connections already open happened before the real service was there: the stand-in hands those to the
 * topologies the real service registers (each peer once, whichever comes first).
 */
import { contentRoutingSymbol, peerDiscoverySymbol, peerRoutingSymbol, serviceCapabilities, serviceDependencies, start, stop } from '@libp2p/interface'
import { FLOODSUB_PROTOCOL, GOSSIPSUB_PROTOCOLS } from './adapters/gossipsub.js'
import { routingTableOf } from './adapters/kad-dht.js'
import { tellTopologies } from './topologies.js'
import type { LateServiceModules } from './types.js'
import type { GossipSub, GossipsubOpts } from '@libp2p/gossipsub'
import type { KadDHT, KadDHTInit } from '@libp2p/kad-dht'
import type { ComponentLogger, ContentRouting, ContentRoutingProvider, Logger, PeerDiscoveryProvider, PeerId, PeerRouting, PeerRoutingProvider, PeerStore, Startable, StreamHandler, StreamHandlerOptions, Topology, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

interface Components {
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** At the latest this long after the first connection, the real services load even if the tab is busy (ms) */
const LOAD_WITHIN_MS = 1000

type Listener = [type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions]

/** What the stand-ins share: loading, starting and stopping the real service, its listeners and topologies. */
abstract class Deferred<T extends EventTarget & Partial<Startable>> implements Startable {
  protected real?: T
  private loading?: Promise<T>
  private running = false
  private stopListening?: () => void
  private readonly listeners: Listener[] = []
  private readonly topologies: Array<{ protocol: string, topology: Topology }> = []
  /** whether any peer was handed to the real service's topologies on load */
  protected handedOver = false
  protected readonly log: Logger

  /** the real service's handlers of the protocols the stand-in announces from the start */
  private readonly handlers = new Map<string, StreamHandler>()

  /**
   * `announce`: protocols the real service will handle, announced by the stand-in from the start, so
   * that the node's protocols do not change when it loads (each change is pushed to every peer by
   * identify, a second later: a peer looked up meanwhile was found without its addresses). Streams
   * that come before it is there wait for it.
   */
  constructor (protected readonly components: Components, private readonly make: (components: any) => Promise<T>, name: string,
    private readonly announce: { protocols: string[], options?: StreamHandlerOptions } = { protocols: [] }) {
    this.log = components.logger.forComponent(`megachat:lazy:${name}`)
  }

  async start (): Promise<void> {
    this.running = true
    for (const protocol of this.announce.protocols) {
      await this.components.registrar.handle(protocol, (stream, connection) => {
        this.load().then(() => {
          const handler = this.handlers.get(protocol)
          if (handler == null) throw new Error(`${protocol} is not handled`)
          return handler(stream, connection)
        }).catch((err: Error) => { stream.abort(err) })
      }, this.announce.options)
    }
  }

  afterStart (): void {
    const events = this.components.events
    const onOpen = (): void => {
      this.stopListening?.()
      // once the tab is idle: what the first connection set off (the app's first paint) comes first
      const load = (): void => { this.load().catch((err: Error) => { this.log.error('could not load: %e', err) }) }
      if (typeof requestIdleCallback === 'function') requestIdleCallback(load, { timeout: LOAD_WITHIN_MS })
      else setTimeout(load, 0)
    }
    events.addEventListener('connection:open', onOpen)
    this.stopListening = () => {
      events.removeEventListener('connection:open', onOpen)
      this.stopListening = undefined
    }
  }

  async stop (): Promise<void> {
    this.running = false
    this.stopListening?.()
    if (this.real != null) await stop(this.real)
    for (const protocol of this.announce.protocols) await this.components.registrar.unhandle(protocol)
    this.handlers.clear()
  }

  private loaded?: (real: T) => void
  /** resolves once the real service is there */
  private readonly whenLoaded = new Promise<T>(resolve => { this.loaded = resolve })

  /** The real service once it is there, without asking for it; or the signal's abort. */
  protected async untilLoaded (signal?: AbortSignal): Promise<T> {
    if (signal == null) return await this.whenLoaded
    signal.throwIfAborted()
    return await new Promise<T>((resolve, reject) => {
      const abort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', abort, { once: true })
      void this.whenLoaded.then((real) => {
        signal.removeEventListener('abort', abort)
        resolve(real)
      })
    })
  }

  /** The real service, started (loading it if it is not yet). */
  async load (): Promise<T> {
    this.loading ??= (async () => {
      const real = await this.make(this.componentsFor())
      for (const [type, listener, options] of this.listeners) real.addEventListener(type, listener, options)
      this.adopt(real)
      if (this.running) await start(real)
      this.real = real
      if (!this.running) {
        await stop(real) // stopped while it loaded
      } else {
        this.started(real)
        await this.replay()
      }
      this.log('loaded')
      this.loaded?.(real)
      return real
    })()
    return await this.loading
  }

  /** Takes over what was asked of the stand-in before the real service was there: before it starts... */
  protected adopt (_real: T): void {}

  /** ...and once it has started, before it hears of the peers connected already. */
  protected started (_real: T): void {}

  addEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    this.listeners.push([type, listener, options])
    this.real?.addEventListener(type, listener, options)
  }

  removeEventListener (type: string, listener?: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    const i = this.listeners.findIndex(([t, l]) => t === type && l === listener)
    if (i >= 0) this.listeners.splice(i, 1)
    this.real?.removeEventListener(type, listener ?? null, options)
  }

  dispatchEvent (event: Event): boolean {
    return this.real?.dispatchEvent(event) ?? true
  }

  /** The node's components, but the topologies the real service registers are kept (replay()) and told of each peer once. */
  private componentsFor (): Components {
    const registrar = this.components.registrar
    // kept for the hand-over (replay), which may tell of a peer that identify tells of too: topologies take
    // that, as they take libp2p's registrar telling them of each connection (and topologies.ts's repair)
    const register = async (protocol: string, topology: Topology): Promise<string> => {
      this.topologies.push({ protocol, topology })
      return await registrar.register(protocol, topology)
    }
    // the protocols announced already: the real service's handler is kept here, the registration stays
    const announced = this.announce.protocols
    const handle = async (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void> => {
      if (announced.includes(protocol)) this.handlers.set(protocol, handler)
      else await registrar.handle(protocol, handler, options)
    }
    const unhandle = async (protocol: string): Promise<void> => {
      if (announced.includes(protocol)) this.handlers.delete(protocol)
      else await registrar.unhandle(protocol)
    }
    // every Registrar method, spelled out: a method a libp2p release adds fails the build here
    const wrapped: Registrar = {
      register,
      handle,
      unhandle,
      unregister: (id) => { registrar.unregister(id) },
      getTopologies: (protocol) => registrar.getTopologies(protocol),
      getProtocols: () => registrar.getProtocols(),
      getHandler: (protocol) => registrar.getHandler(protocol),
      use: (protocol, middleware) => { registrar.use(protocol, middleware) },
      unuse: (protocol) => { registrar.unuse(protocol) },
      getMiddleware: (protocol) => registrar.getMiddleware(protocol)
    }
    return new Proxy(this.components, {
      get: (target, prop) => prop === 'registrar' ? wrapped : Reflect.get(target, prop, target)
    })
  }

  /** Tells the real service's topologies of the peers that were identified before it registered them. */
  private async replay (): Promise<void> {
    if (await tellTopologies(this.components, this.topologies, this.log)) this.handedOver = true
  }
}

/** How long a lookup waits for the handed-over peers to reach the routing table (ms) */
const TABLE_WAIT_MS = 2000

/** kad-dht as its module makes it (its KadDHT type leaves out what libp2p uses) */
type RealDHT = KadDHT & EventTarget & Startable & ContentRoutingProvider & PeerRoutingProvider & PeerDiscoveryProvider

/** kad-dht, loaded after the first connection: libp2p's peer and content routing and peer discovery through it. */
export class LazyDHT extends Deferred<RealDHT> {
  readonly [Symbol.toStringTag] = '@megachat/lazy-kad-dht'
  readonly [serviceCapabilities] = ['@libp2p/content-routing', '@libp2p/peer-routing', '@libp2p/peer-discovery', '@libp2p/kad-dht']
  readonly [serviceDependencies] = ['@libp2p/identify', '@libp2p/ping']

  constructor (components: Components, init: KadDHTInit, modules: () => Promise<LateServiceModules>) {
    super(components, async (c) => (await modules()).kadDHT(init)(c) as RealDHT, 'kad-dht')
  }

  /** the DHT's 'peer' events: the listeners libp2p adds here go to the real DHT */
  get [peerDiscoverySymbol] (): this {
    return this
  }

  readonly [peerRoutingSymbol]: PeerRouting = {
    findPeer: async (peer, options) => await (await this.peerRouting(options?.signal)).findPeer(peer, options),
    // a background walk (libp2p's random walk looks for relays this way from the start): it waits for
    // the DHT rather than loading it before the first connection, when it could find nobody anyway
    getClosestPeers: (key, options) => this.stream(async () => ((await this.untilLoaded(options?.signal))[peerRoutingSymbol] as Required<PeerRouting>).getClosestPeers(key, options))
  }

  readonly [contentRoutingSymbol]: ContentRouting = {
    provide: async (cid, options) => { await (await this.contentRouting(options?.signal)).provide(cid, options) },
    cancelReprovide: async (cid, options) => { await (await this.contentRouting(options?.signal)).cancelReprovide(cid, options) },
    findProviders: (cid, options) => this.stream(async () => (await this.contentRouting(options?.signal)).findProviders(cid, options)),
    put: async (key, value, options) => { await (await this.contentRouting(options?.signal)).put(key, value, options) },
    get: async (key, options) => await (await this.contentRouting(options?.signal)).get(key, options)
  }

  /** always a client in a tab (node.browser.ts) */
  getMode (): 'client' | 'server' {
    return this.real?.getMode() ?? 'client'
  }

  private async peerRouting (signal?: AbortSignal): Promise<Required<PeerRouting>> {
    return (await this.ready(signal))[peerRoutingSymbol] as Required<PeerRouting>
  }

  private async contentRouting (signal?: AbortSignal): Promise<Required<ContentRouting>> {
    return (await this.ready(signal))[contentRoutingSymbol] as Required<ContentRouting>
  }

  /**
   * The DHT, loaded, with the peers handed over on load in its routing table. kad-dht adds a peer its
   * topology hears of a moment later (it reads the peer store first): a lookup that loaded the DHT and
   * ran at once found the table empty and failed ("not found"), about half the time in a tab that
   * looked a contact up just after its first connection. The lookup's abort ends the wait too (the
   * lookup then fails on its own signal).
   */
  private async ready (signal?: AbortSignal): Promise<RealDHT> {
    const dht = await this.load()
    const table = routingTableOf(dht)
    if (!this.handedOver || table == null || table.size > 0 || signal?.aborted === true) return dht
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        table.removeEventListener('peer:add', done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, TABLE_WAIT_MS)
      table.addEventListener('peer:add', done)
      signal?.addEventListener('abort', done)
    })
    return dht
  }

  private async * stream<V> (of: () => Promise<AsyncIterable<V>>): AsyncGenerator<V> {
    yield * await of()
  }
}

export { GOSSIPSUB_PROTOCOLS } from './adapters/gossipsub.js'

/** gossipsub, loaded after the first connection; what is asked of it before is done once it is there. */
export class LazyGossipSub extends Deferred<GossipSub> {
  readonly [Symbol.toStringTag] = '@megachat/lazy-gossipsub'
  readonly [serviceCapabilities] = ['@libp2p/pubsub']
  readonly [serviceDependencies] = ['@libp2p/identify']
  /** the validators set before the real gossipsub is there, handed to it when it is */
  private readonly validators: GossipSub['topicValidators'] = new Map()
  /** the real gossipsub's validators, from the moment it is made (it starts after) */
  private realValidators?: GossipSub['topicValidators']
  private readonly subscriptions = new Set<string>()

  constructor (components: Components, init: Partial<GossipsubOpts>, modules: () => Promise<LateServiceModules>, configure?: (gossipsub: GossipSub) => void) {
    super(components, async (c) => {
      const gossipsub = (await modules()).gossipsub(init)(c)
      configure?.(gossipsub)
      return gossipsub
    }, 'gossipsub', {
      protocols: init.fallbackToFloodsub === false ? GOSSIPSUB_PROTOCOLS : [...GOSSIPSUB_PROTOCOLS, FLOODSUB_PROTOCOL],
      options: { runOnLimitedConnection: init.runOnLimitedConnection, maxInboundStreams: init.maxInboundStreams, maxOutboundStreams: init.maxOutboundStreams }
    })
  }

  /** gossipsub's validators once it is made (read them anew each time), the stand-in's until then */
  get topicValidators (): GossipSub['topicValidators'] {
    return this.realValidators ?? this.validators
  }

  protected override adopt (real: GossipSub): void {
    for (const [topic, validator] of this.validators) real.topicValidators.set(topic, validator)
    this.validators.clear()
    this.realValidators = real.topicValidators
  }

  protected override started (real: GossipSub): void {
    for (const topic of this.subscriptions) real.subscribe(topic)
    this.subscriptions.clear()
  }

  subscribe (topic: string): void {
    if (this.real != null) this.real.subscribe(topic)
    else this.subscriptions.add(topic)
  }

  unsubscribe (topic: string): void {
    if (this.real != null) this.real.unsubscribe(topic)
    else this.subscriptions.delete(topic)
  }

  async publish (...args: Parameters<GossipSub['publish']>): ReturnType<GossipSub['publish']> {
    return await (await this.load()).publish(...args)
  }

  getSubscribers (topic: string): PeerId[] {
    return this.real?.getSubscribers(topic) ?? []
  }

  getTopics (): string[] {
    return this.real?.getTopics() ?? [...this.subscriptions]
  }

  getPeers (): PeerId[] {
    return this.real?.getPeers() ?? []
  }
}
