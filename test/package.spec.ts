/**
 * MegaChat as a package, used the way another project uses it: `npm pack`, then a new project that
 * installs the tarball (offline: its dependencies at the versions of our package-lock.json, from the npm
 * cache our own install filled). There the shipped example echo bot runs with `import … from 'megachat'`
 * and answers a DM and a room message of a chat node of this test, over a local bootstrap node; the
 * `megachat` commands print their usage; a TypeScript consumer type-checks against the declarations,
 * which hide the internals; no path inside the package can be imported; and a bundler (Vite) that
 * builds `import … from 'megachat'` for the browser gets the browser files, no Node.js module.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'vite'
import { Cleanup, startBootstrap, startChat, tempDir, until, waitFor } from './fixtures.js'
import type { IncomingMessage, RoomMessageEvent } from '../src/index.js'
import type { Plugin } from 'vite'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** The environment of npm and the programs run in the new project: none of the npm_* variables that an
 * `npm test` around us sets (npm_config_local_prefix would point the inner npm at this project). */
function childEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value != null && !name.toLowerCase().startsWith('npm_') && !name.startsWith('MEGACHAT_')) env[name] = value
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra }
}

async function run (command: string, args: string[], cwd: string): Promise<{ stdout: string, stderr: string }> {
  try {
    return await promisify(execFile)(command, args, { cwd, env: childEnv(), maxBuffer: 16 << 20 })
  } catch (err: any) {
    throw new Error(`${command} ${args.join(' ')} failed (${err.code ?? err.signal}): ${err.stderr ?? ''}${err.stdout ?? ''}`)
  }
}

interface LockEntry { dev?: boolean, [key: string]: unknown }

/**
 * The new project's package-lock.json: megachat from the tarball, and each package our own lockfile
 * needs outside development, at its version there, so that `npm ci --offline` finds every one of them
 * in the npm cache (without a lockfile, npm would ask the registry which versions exist).
 */
function consumerLock (spec: string, pkg: { version: string, dependencies: Record<string, string>, bin: Record<string, string> }, lock: { packages: Record<string, LockEntry> }): object {
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { megachat: spec } },
    'node_modules/megachat': { version: pkg.version, resolved: spec, dependencies: pkg.dependencies, bin: pkg.bin }
  }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path.startsWith('node_modules/') && entry.dev !== true) packages[path] = entry
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages }
}

/** A TypeScript consumer: the public API types, the errors (the crypto ones too), and no internals. */
const CONSUMER_TS = `import { createChat, DuplicateContactError, InvalidInviteError, MessageTooLongError, UnknownContactError } from 'megachat'
import type { Chat, ChatInit, IncomingMessage, RoomMessageEvent } from 'megachat'

const init: ChatInit = { bootstrap: [], start: false }
const chat: Chat = await createChat(init)
chat.addEventListener('message', (evt) => { const m: IncomingMessage = evt.detail; console.log(m.request === true, m.peer) })
chat.addEventListener('room:message', (evt) => { const m: RoomMessageEvent = evt.detail; console.log(m.roomId, m.synced) })
const errors: Array<new (message?: string) => Error> = [DuplicateContactError, InvalidInviteError, MessageTooLongError, UnknownContactError]
console.log(errors.length)
// @ts-expect-error the store is internal
console.log(chat.store)
// @ts-expect-error so is the dial policy
console.log(chat.reach)
`

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2023',
    lib: ['ES2024', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    allowJs: true,
    checkJs: true,
    skipLibCheck: false,
    types: ['node']
  },
  files: ['consumer.ts', 'echo-bot.js']
}

describe('package (npm pack, installed in another project)', function () {
  this.timeout(60_000)
  /** the packed project, for the whole suite */
  const suite = new Cleanup()
  /** what a test started */
  const cleanup = new Cleanup()
  let project = ''
  let packed: string[] = []

  before(async function () {
    this.timeout(300_000)
    try {
      await run('npm', ['--version'], ROOT)
    } catch (err: any) {
      console.warn(`      (skipped: npm cannot be run here: ${String(err.message).split('\n')[0]})`)
      this.skip()
    }
    const dir = suite.dir(await tempDir('megachat-package-'))
    // the build is there already (npm test builds first): no prepare script
    const pack = JSON.parse((await run('npm', ['pack', '--ignore-scripts', '--offline', '--json', '--pack-destination', dir], ROOT)).stdout)
    packed = pack[0].files.map((f: { path: string }) => f.path)
    project = join(dir, 'consumer')
    const spec = `file:../${String(pack[0].filename)}`
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'))
    await mkdir(project)
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { megachat: spec } }, null, 2))
    await writeFile(join(project, 'package-lock.json'), JSON.stringify(consumerLock(spec, pkg, lock), null, 2))
    await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project).catch((err: Error) => {
      if (!err.message.includes('ENOTCACHED')) throw err
      throw new Error(`a dependency is not in the npm cache, which this offline install needs (npm ci or npm install fills it): ${err.message}`)
    })
  })

  afterEach(async () => { await cleanup.run() })
  after(async () => { await suite.run() })

  it('holds the library with its declarations, the commands and the example, and no tests or sources', () => {
    for (const file of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/crypto/errors.d.ts', 'dist/src/node/node.browser.js',
      'dist/cli/megachat.mjs', 'dist/bootstrap-node/main.js', 'bin/megachat', 'bin/megachat-bootstrap', 'bin/node.sh',
      'examples/echo-bot.js', 'README.md', 'package.json']) {
      assert.ok(packed.includes(file), `${file} is in the package`)
    }
    const stray = packed.filter(f => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/') || f.endsWith('.map'))
    assert.deepEqual(stray, [])
  })

  it('is the example the README shows', async () => {
    const example = await readFile(join(ROOT, 'examples', 'echo-bot.js'), 'utf8')
    const code = example.split('\n').filter(line => !line.startsWith('//')).join('\n').trim()
    assert.ok((await readFile(join(ROOT, 'README.md'), 'utf8')).includes('```js\n' + code + '\n```'), 'README.md shows examples/echo-bot.js (without its comment)')
  })

  it('gives the megachat and megachat-bootstrap commands', async () => {
    const help = await run('npx', ['--offline', 'megachat', '--help'], project)
    assert.match(help.stdout, /^Usage: megachat \[options\]/)
    const version = await run(join(project, 'node_modules', '.bin', 'megachat-bootstrap'), ['--version'], project)
    assert.equal(version.stdout.trim(), JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version)
  })

  it('can be imported by its name only, not by a path inside it', async () => {
    const script = `const m = await import('megachat')
console.log(typeof m.createChat, typeof m.InvalidInviteError, typeof m.MessageTooLongError)
await import('megachat/dist/src/node/reach.js').catch(err => { console.log(err.code) })`
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], project)
    assert.deepEqual(stdout.trim().split('\n'), ['function function function', 'ERR_PACKAGE_PATH_NOT_EXPORTED'])
  })

  it('type-checks a TypeScript consumer and the example against its declarations', async () => {
    await copyFile(join(project, 'node_modules', 'megachat', 'examples', 'echo-bot.js'), join(project, 'echo-bot.js'))
    await writeFile(join(project, 'consumer.ts'), CONSUMER_TS)
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2))
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], project)
  })

  it('bundles for the browser with the browser files and no Node.js module (Vite)', async () => {
    const swapped: string[] = []
    const nodeOnly: string[] = []
    const watch: Plugin = {
      name: 'watch-resolution',
      enforce: 'pre',
      async resolveId (source, importer, options) {
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
        if (resolved?.id.startsWith('__vite-browser-external') === true) nodeOnly.push(`${source} (imported by ${importer ?? 'the entry'})`)
        else if (resolved?.id.includes('/node_modules/megachat/') === true && resolved.id.endsWith('.browser.js')) swapped.push(resolved.id.replace(/.*\/megachat\//, ''))
        return resolved
      }
    }
    const web = join(project, 'web')
    await mkdir(web)
    await writeFile(join(web, 'index.html'), '<script type="module" src="./main.js"></script>\n')
    await writeFile(join(web, 'main.js'), "import { createChat } from 'megachat'\nconsole.info(createChat)\n")
    await build({ root: web, configFile: false, logLevel: 'silent', plugins: [watch], build: { outDir: join(project, 'web-dist'), minify: false, chunkSizeWarningLimit: 1 << 20 } })
    assert.deepEqual(nodeOnly, [])
    assert.deepEqual([...new Set(swapped)].sort(), ['dist/src/files/hash.browser.js', 'dist/src/files/storage.browser.js', 'dist/src/node/nat-probe.browser.js', 'dist/src/node/node.browser.js', 'dist/src/platform.browser.js'])
  })

  it('runs the example echo bot: a message request accepted, a DM and a room message echoed', async () => {
    const boot = cleanup.add(await startBootstrap())
    const alice = cleanup.add(await startChat({ bootstrapNode: boot }))
    const room = await alice.createRoom('echoes')
    const address = boot.addresses().find(a => !a.includes('/ws/')) ?? boot.addresses()[0]
    await copyFile(join(project, 'node_modules', 'megachat', 'examples', 'echo-bot.js'), join(project, 'echo-bot.js'))
    const bot = spawn(process.execPath, ['echo-bot.js', address, room.invite], {
      cwd: project,
      env: childEnv({ ECHO_BOT_DATA: cleanup.dir(await tempDir('megachat-echo-bot-')) }),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    bot.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    bot.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise<number | null>(resolve => { bot.once('close', resolve) })
    let gone = false
    void exited.then(() => { gone = true })
    cleanup.add({ stop: async () => { if (!gone) { bot.kill('SIGKILL'); await exited } } })

    await until(() => {
      if (gone) throw new Error(`the bot exited: ${stderr}`)
      return /echo bot ready: \S+\n/.test(stdout)
    }, 30_000, 'the bot to start')
    const botId = (stdout.match(/echo bot ready: (\S+)/) as RegExpMatchArray)[1]

    // alice is a stranger to the bot: her message is a request, which the bot accepts before it answers
    await alice.addContact(botId, 'echo')
    const echoed = waitFor<IncomingMessage>(alice, 'message', m => m.peer === botId)
    await alice.send('echo', 'hello, bot')
    assert.equal((await echoed).text, 'hello, bot')

    await until(() => alice.members('echoes').includes(botId), 30_000, 'the bot in the room')
    const roomEcho = waitFor<RoomMessageEvent>(alice, 'room:message', m => m.from === botId)
    await alice.say('echoes', 'hello, room')
    assert.equal((await roomEcho).text, 'hello, room')

    bot.kill('SIGTERM')
    assert.equal(await exited, 0, stderr)
    assert.doesNotMatch(stderr, /echo bot:/)
  })
})
