/**
 * The DHT and gossipsub, built into a bundle of their own (vite.config.ts, `--mode late`) that the tab
 * loads after its first connection (src/node/lazy.ts). A bundle of their own, and not a lazy chunk of the app's
 * build: the bundler would move the modules they share with the app (multiformats, the crypto,
 * protobuf...) out of the app's chunk into a common one, and a first load of two chunks took longer than
 * one of all of it (`npm run bench`). The shared modules are copies here; libp2p's types tell each other
 * apart by registered symbols (Symbol.for), so copies work together, at the price of some bytes loaded
 * later.
 */
export { kadDHT } from '@libp2p/kad-dht'
export { gossipsub } from '@libp2p/gossipsub'
