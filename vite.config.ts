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

const ROOT = dirname(fileURLToPath(import.meta.url))

/**
 * `vite build`: the web app, web/ built into dist/web/. Imports of src/ resolve to the browser files
 * through package.json's "browser" map (platform.browser.ts, node/node.browser.ts).
 * `vite build --mode late`: the DHT and gossipsub (web/late-services.ts), built apart into
 * dist/web/assets/late-services.js, which the tab loads after its first connection (src/node/lazy.ts).
 */
export default defineConfig(({ mode }) => mode === 'late'
  ? {
      plugins: [noNodeBuiltins()],
      define: { 'process.env.NODE_ENV': JSON.stringify('production') },
      build: {
        outDir: join(ROOT, 'dist/web/assets'),
        emptyOutDir: false,
        target: 'es2022',
        sourcemap: true,
        minify: true,
        chunkSizeWarningLimit: 1024,
        lib: { entry: join(ROOT, 'web/late-services.ts'), formats: ['es'], fileName: () => 'late-services.js' }
      }
    }
  : {
      root: 'web',
      base: './',
      plugins: [noNodeBuiltins()],
      // the interface is Preact: JSX compiles to its automatic runtime (no Babel, no preset needed)
      oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
      build: {
        outDir: '../dist/web',
        emptyOutDir: true,
        target: 'es2022',
        sourcemap: true,
        // libp2p is most of the bundle; the QR code generator is loaded later, and the DHT and gossipsub
        // are a bundle of their own (mode "late")
        chunkSizeWarningLimit: 1024
      }
    })
