import { builtinModules, createRequire } from 'node:module'
import { defineConfig } from 'rolldown'
import type { Plugin } from 'rolldown'

const require = createRequire(import.meta.url)
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const VIRTUAL = '\0megachat-builtin:'

/**
 * Node.js built-ins reached through `require` instead of `import`. Importing a built-in as an ES module
 * makes Node build a module facade that reads every export, getters included, and some getters load a
 * lot: `node:http`'s load undici (the fetch and WebSocket implementation) that the client never uses. The
 * module here requires the built-in and re-exports its plain properties, named at build time; an import
 * of a name it lacks fails the build.
 */
function builtinsByRequire (): Plugin {
  // node:module itself is imported as it is: the modules here need it, and its facade is cheap
  const builtins = new Set(builtinModules.filter(name => name !== 'module').flatMap(name => [name, `node:${name}`]))
  return {
    name: 'megachat:builtins-by-require',
    resolveId (source, _importer, options) {
      // a CommonJS require of a built-in is a require already
      if (!builtins.has(source) || options.kind === 'require-call') return null
      return { id: VIRTUAL + source.replace(/^node:/, '') }
    },
    load (id) {
      if (!id.startsWith(VIRTUAL)) return null
      const name = `node:${id.slice(VIRTUAL.length)}`
      const exports: Record<string, unknown> = require(name)
      const plain = Object.keys(exports).filter(key =>
        IDENTIFIER.test(key) && key !== 'default' && Object.getOwnPropertyDescriptor(exports, key)?.get == null)
      return [
        "import { createRequire } from 'node:module'",
        `const builtin = createRequire(import.meta.url)(${JSON.stringify(name)})`,
        'export default builtin',
        ...plain.map(key => `export const ${key} = builtin.${key}`)
      ].join('\n')
    }
  }
}

/**
 * `npm run build` (after tsc): the terminal client in a few files, dist/cli/megachat.mjs and its chunks,
 * which `npm start` and the `megachat` command run. Loading the ~800 modules of dist/src/cli/main.js and its
 * dependencies one by one (resolving, reading and linking each) was most of the client's start-up.
 * Left outside: Node.js built-ins, and the packages that find native binaries or files next to themselves
 * at run time (LevelDB, node-datachannel for WebRTC, the STUN library loaded by require).
 */
export default defineConfig({
  input: 'dist/src/cli/entry.js',
  platform: 'node',
  plugins: [builtinsByRequire()],
  external: [/^node:module$/, /^classic-level($|\/)/, /^node-datachannel($|\/)/, /^stun($|\/)/],
  // the entry stays small and loads the client as a chunk, after turning on the compile cache; what the
  // client imports only when needed (WebRTC, mDNS) are chunks of their own
  output: { dir: 'dist/cli', cleanDir: true, format: 'esm', entryFileNames: 'megachat.mjs', chunkFileNames: 'chunks/[name]-[hash].mjs' }
})
