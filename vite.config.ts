import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import type { Plugin } from 'vite'

/**
 * Fails the build when a Node.js built-in (fs, path, dgram...) is imported by the browser bundle, which
 * Vite would otherwise replace by an empty module with only a warning: the Node-only parts (the data
 * directory, LevelDB, TCP, the CLI) must stay behind package.json's "browser" map.
 */
function noNodeBuiltins (): Plugin {
  return {
    name: 'megachat:no-node-builtins',
    enforce: 'pre',
    async resolveId (source, importer, options) {
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
      if (resolved?.id.startsWith('__vite-browser-external') === true) {
        this.error(`the Node.js module "${source}" reached the browser bundle (imported by ${importer ?? 'the entry'})`)
      }
      return resolved
    }
  }
}

/**
 * kad-dht's routing-table refresh imports a table of key prefixes, 50 kB gzipped; the app gets
 * web/kad-prefixes.ts in its place, which loads the real table (`virtual:kad-prefix-table`) as a lazy
 * chunk once the tab is up.
 */
function lazyKadPrefixes (): Plugin {
  const table = join(dirname(fileURLToPath(import.meta.resolve('@libp2p/kad-dht'))), 'routing-table/generated-prefix-list-browser.js')
  const stand = fileURLToPath(new URL('web/kad-prefixes.ts', import.meta.url))
  return {
    name: 'megachat:lazy-kad-prefixes',
    enforce: 'pre',
    resolveId (source, importer) {
      if (source === 'virtual:kad-prefix-table') return table
      if (source === './generated-prefix-list.js' && importer != null && /kad-dht[\\/]dist[\\/]src[\\/]routing-table[\\/]refresh\.js$/.test(importer)) return stand
      return null
    }
  }
}

// The web app: web/ built into dist/web/. Imports of src/ resolve to the browser files through
// package.json's "browser" map (platform.browser.ts, node/node.browser.ts).
export default defineConfig({
  root: 'web',
  base: './',
  plugins: [lazyKadPrefixes(), noNodeBuiltins()],
  // the interface is Preact: JSX compiles to its automatic runtime (no Babel, no preset needed)
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // libp2p is most of the bundle; the QR code generator and kad-dht's prefix table are loaded later
    chunkSizeWarningLimit: 1024
  }
})
