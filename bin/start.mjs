// `npm start` and `npm run bootstrap` in a clone: build first only when a source is newer than the build,
// then run the program in this process. Asking tsc itself (`tsc -b`) whether anything changed loads the
// TypeScript compiler on every start; comparing modification times does not.
//
//   node bin/start.mjs cli [options]         the terminal client (dist/cli/megachat.mjs)
//   node bin/start.mjs bootstrap [options]   the bootstrap node (dist/bootstrap-node/main.js)
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const PROGRAMS = { cli: 'dist/cli/megachat.mjs', bootstrap: 'dist/bootstrap-node/main.js' }
/** what `npm run build` reads; dist/cli/megachat.mjs, the last thing it writes, is the build's time */
const SOURCES = ['src', 'bootstrap-node', 'tsconfig.json', 'rolldown.config.ts', 'package.json']
const BUILT = 'dist/cli/megachat.mjs'

/** The newest modification time of a file, or of anything under a folder; -1 for nothing there. */
function newest (path) {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (stat == null) return -1
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = stat.mtimeMs
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)))
  return latest
}

const [, , name, ...args] = process.argv
const program = PROGRAMS[name]
if (program == null) {
  process.stderr.write(`usage: node bin/start.mjs ${Object.keys(PROGRAMS).join('|')} [options]\n`)
  process.exit(2)
}
const built = newest(join(ROOT, BUILT))
if (built < 0 || SOURCES.some(source => newest(join(ROOT, source)) > built)) {
  process.stderr.write('Building MegaChat (sources changed since the last build)…\n')
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' })
  } catch {
    process.stderr.write('The build failed (its errors are above); nothing was started.\n')
    process.exit(1)
  }
}
// the program reads its options from process.argv, as when run directly
process.argv = [process.argv[0], join(ROOT, program), ...args]
await import(pathToFileURL(join(ROOT, program)).href)
