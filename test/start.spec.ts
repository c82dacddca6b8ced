/**
 * `npm start` and `npm run bootstrap` (bin/start.mjs): the program starts at once when the build is newer
 * than every source, and is rebuilt first (with `npm run build`) only when a source changed. Run in a
 * copy of the project's shape in a temporary directory: a stub program that prints its arguments, and a
 * `build` script that records that it ran and writes the stub again, as the real build writes the bundle.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Cleanup, tempDir } from './fixtures.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const STUB = "process.stdout.write(JSON.stringify({ argv: process.argv.slice(2) }) + '\\n')\n"

interface Run { stdout: string, stderr: string, code: number }

async function start (dir: string, args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(dir, 'bin', 'start.mjs'), ...args], { cwd: dir })
    return { stdout, stderr, code: 0 }
  } catch (err: any) {
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: err.code ?? -1 }
  }
}

describe('npm start (bin/start.mjs)', function () {
  this.timeout(60_000)
  const cleanup = new Cleanup()
  let dir: string
  const built = async (): Promise<number> => (await readFile(join(dir, 'builds'), 'utf8').catch(() => '')).length

  before(async () => {
    dir = cleanup.dir(await tempDir('megachat-start-'))
    for (const sub of ['bin', 'src', 'bootstrap-node', 'dist/cli', 'dist/bootstrap-node']) await mkdir(join(dir, sub), { recursive: true })
    await copyFile(join(ROOT, 'bin', 'start.mjs'), join(dir, 'bin', 'start.mjs'))
    await writeFile(join(dir, 'src', 'index.ts'), 'export {}\n')
    await writeFile(join(dir, 'tsconfig.json'), '{}\n')
    await writeFile(join(dir, 'rolldown.config.ts'), 'export default {}\n')
    const build = "require('fs').appendFileSync('builds', 'x'); require('fs').writeFileSync('dist/cli/megachat.mjs', require('fs').readFileSync('stub.mjs'))"
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'start-test', private: true, type: 'module', scripts: { build: `node -e "${build}"` } }))
    await writeFile(join(dir, 'stub.mjs'), STUB)
    await writeFile(join(dir, 'dist', 'bootstrap-node', 'main.js'), STUB)
    await writeFile(join(dir, 'dist', 'cli', 'megachat.mjs'), STUB)
  })
  after(async () => { await cleanup.run() })

  it('starts the client at once, with its options, when nothing changed since the build', async () => {
    const run = await start(dir, ['cli', '--json', '--data', '/tmp/x'])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout), { argv: ['--json', '--data', '/tmp/x'] })
    assert.equal(await built(), 0, 'no build')
    assert.equal(run.stderr, '')
  })

  it('builds first when a source is newer than the build, once', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000)
    await utimes(join(dir, 'dist', 'cli', 'megachat.mjs'), hourAgo, hourAgo)
    const run = await start(dir, ['bootstrap', '--turn'])
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stderr, /Building MegaChat/)
    assert.equal(await built(), 1, 'one build')
    assert.deepEqual(JSON.parse(run.stdout), { argv: ['--turn'] })
    const again = await start(dir, ['cli'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(await built(), 1, 'no second build: the build is newer than the sources now')
  })

  it('says what it runs when asked for something else, and exits 2', async () => {
    const run = await start(dir, ['nope'])
    assert.equal(run.code, 2)
    assert.match(run.stderr, /^usage: node bin\/start\.mjs cli\|bootstrap/)
  })
})
