/**
 * The web app's static server (bootstrap-node/web.ts) and the bootstrap node's `web` option: files with
 * their content types, `/config.json`, and no way out of the served directory.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { createBootstrapNode, WebAppMissingError } from '../bootstrap-node/index.js'
import { isLoopbackHost, serveWebApp, webAppAdvice } from '../bootstrap-node/web.js'
import { Cleanup, tempDir } from './fixtures.js'
import type { WebConfig } from '../bootstrap-node/web.js'
import type { ChildProcess } from 'node:child_process'

const WEB_DIR = resolve('dist/web')
const HERE = dirname(fileURLToPath(import.meta.url))
const SERVE_WEB = join(HERE, '..', 'bootstrap-node', 'serve-web.js')
const BOOTSTRAP_MAIN = join(HERE, '..', 'bootstrap-node', 'main.js')

/** Skips a test that needs dist/web, saying why, when it is not built. */
function skipUnlessBuilt (test: Mocha.Context): void {
  if (existsSync(join(WEB_DIR, 'index.html'))) return
  console.warn('      (skipped: dist/web is not built; run npm run web:build, which npm test does first)')
  test.skip()
}

/** A child's stdout lines up to the one `until` accepts (or the first `until` lines); fails if it exits first or after 20 s. */
async function firstLines (child: ChildProcess, until: number | ((line: string) => boolean)): Promise<string[]> {
  const done = typeof until === 'number' ? (lines: string[]) => lines.length >= until : (lines: string[]) => lines.some(until)
  return await new Promise((resolve, reject) => {
    let text = ''
    let stderr = ''
    const timer = setTimeout(() => { reject(new Error(`no such line within 20 s; stdout: ${text} stderr: ${stderr}`)) }, 20_000)
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk
      const lines = text.split('\n').slice(0, -1)
      if (done(lines)) {
        clearTimeout(timer)
        resolve(lines)
      }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}; stderr: ${stderr}`)) })
  })
}
const SECRET = 'not for the web'

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }

/** A raw GET: the path goes on the wire exactly as given (fetch would normalize `..` away). */
async function get (base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const { hostname, port } = new URL(base)
  return await new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers, method: 'GET', agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('web app server', () => {
  const cleanup = new Cleanup()
  let root: string

  before(async () => {
    const base = cleanup.dir(await tempDir('megachat-web-'))
    root = join(base, 'app')
    await mkdir(join(root, 'assets'), { recursive: true })
    await writeFile(join(root, 'index.html'), '<!doctype html><title>test app</title><script type="module" src="./assets/index-AbCd1234.js"></script>')
    await writeFile(join(root, 'assets', 'index-AbCd1234.js'), `console.log(${JSON.stringify('x'.repeat(4000))})\n`)
    await writeFile(join(base, 'secret.txt'), SECRET)
  })

  after(async () => {
    await cleanup.run()
  })

  it('serves index.html for / and files with their content types', async () => {
    const web = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0 })
    cleanup.add({ stop: web.close })
    assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const index = await get(web.url, '/')
    assert.equal(index.status, 200)
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8')
    assert.match(index.body.toString(), /test app/)
    const js = await get(web.url, '/assets/index-AbCd1234.js')
    assert.equal(js.status, 200)
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8')
    assert.match(String(js.headers['cache-control']), /immutable/)
    const zipped = await get(web.url, '/assets/index-AbCd1234.js', { 'accept-encoding': 'gzip, br' })
    assert.equal(zipped.headers['content-encoding'], 'gzip')
    assert.deepEqual(gunzipSync(zipped.body), js.body)
    assert.equal((await get(web.url, '/nothing.js')).status, 404)
    assert.equal((await get(web.url, '/assets/')).status, 404)
  })

  it('serves /config.json when given one, and a valid empty one without (no 404 in the browser console)', async () => {
    const config: WebConfig = { bootstrap: ['/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWHhQzYNMALggU3Z4vtbgGaVLs34NNGLPauNZ5gY69GcTy'], iceServers: [{ urls: 'stun:127.0.0.1:3478' }] }
    const withConfig = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0, config })
    const without = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0 })
    try {
      const reply = await get(withConfig.url, '/config.json')
      assert.equal(reply.status, 200)
      assert.match(String(reply.headers['content-type']), /^application\/json/)
      assert.deepEqual(JSON.parse(reply.body.toString()), config)
      const empty = await get(without.url, '/config.json')
      assert.equal(empty.status, 200)
      assert.deepEqual(JSON.parse(empty.body.toString()), { bootstrap: [] })
    } finally {
      await Promise.all([withConfig.close(), without.close()])
    }
  })

  it('refuses paths outside its directory, plain or encoded', async () => {
    const web = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0 })
    try {
      for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt',
        '/.%2e/secret.txt', '/..%5csecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/../app/index.html', '/%00', '/%zz']) {
        const reply = await get(web.url, path)
        assert.ok(reply.status === 403 || reply.status === 400, `${path}: status ${reply.status}`)
        assert.ok(!reply.body.toString().includes(SECRET), `${path} leaked the file`)
      }
      // a file named with dots is not a traversal
      assert.equal((await get(web.url, '/..secret')).status, 404)
    } finally {
      await web.close()
    }
  })

  it('serves the built app\'s entry script as JavaScript', async function () {
    skipUnlessBuilt(this)
    const web = await serveWebApp({ dir: WEB_DIR, host: '127.0.0.1', port: 0 })
    try {
      const index = await get(web.url, '/')
      assert.equal(index.status, 200)
      const scripts = [...index.body.toString().matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map(m => m[1])
      assert.ok(scripts.length > 0, 'no script in index.html')
      for (const src of scripts) {
        const js = await get(web.url, new URL(src, web.url).pathname)
        assert.equal(js.status, 200, src)
        assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8', src)
        assert.deepEqual(js.body, await readFile(join(WEB_DIR, new URL(src, 'http://x/').pathname)))
      }
    } finally {
      await web.close()
    }
  })

  it('bootstrap node with web: serves the app with config.json pointing at its WebSocket address and STUN', async () => {
    const boot = await createBootstrapNode({
      listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
      stunPort: 0,
      stunHost: '127.0.0.1',
      web: { port: 0, host: '127.0.0.1', dir: root }
    })
    try {
      assert.ok(boot.webUrl != null)
      assert.match(boot.webUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      assert.match((await get(boot.webUrl, '/')).body.toString(), /test app/)
      const reply = await get(boot.webUrl, '/config.json')
      assert.equal(reply.status, 200)
      const config: WebConfig = JSON.parse(reply.body.toString())
      const ws = boot.addresses().find(a => a.includes('/ws/'))
      assert.ok(ws != null)
      assert.ok(ws.endsWith(`/p2p/${boot.peerId.toString()}`))
      assert.deepEqual(config.bootstrap, [ws], 'only the WebSocket address, with /p2p/<id>')
      assert.deepEqual(config.iceServers, [{ urls: boot.stunUrl }])
      assert.match(String(boot.stunUrl), /^stun:127\.0\.0\.1:\d+$/)
    } finally {
      await boot.stop()
    }
    // stop() closed the web server too
    await assert.rejects(get(String(boot.webUrl), '/'), /ECONNREFUSED/)
  })

  it('a page opened as http://localhost gets the node\'s loopback WebSocket address first', async () => {
    const boot = await createBootstrapNode({
      listen: ['/ip4/0.0.0.0/tcp/0/ws'],
      stunPort: false,
      web: { port: 0, host: '0.0.0.0', dir: root }
    })
    try {
      assert.ok(boot.webUrl != null)
      const port = new URL(boot.webUrl).port
      const config: WebConfig = JSON.parse((await get(boot.webUrl, '/config.json', { host: `localhost:${port}` })).body.toString())
      assert.ok(config.bootstrap.length > 0)
      assert.match(config.bootstrap[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//)
    } finally {
      await boot.stop()
    }
  })

  describe('what the servers say about where to open the app', () => {
    it('webAppAdvice: localhost for this computer, and no plain-http LAN or public URL handed out as if it worked', () => {
      const wildcard = webAppAdvice('0.0.0.0', 8080, 'http://192.168.1.5:8080/')
      assert.equal(wildcard.local, 'http://localhost:8080/')
      assert.match(wildcard.others, /^for other devices: browsers run MegaChat only from https:\/\/ or localhost, so http:\/\/192\.168\.1\.5:8080\/ will not work for them; serve it through an HTTPS reverse proxy/)
      assert.equal(webAppAdvice('::', 8080).local, 'http://localhost:8080/')
      assert.equal(webAppAdvice('127.0.0.1', 8080).local, 'http://127.0.0.1:8080/')
      assert.equal(webAppAdvice('::1', 8080).local, 'http://[::1]:8080/')
      assert.match(webAppAdvice('127.0.0.1', 8080).others, /other devices cannot reach it/)
      const lan = webAppAdvice('192.168.1.5', 8080)
      assert.equal(lan.local, undefined, 'no browser runs the app from a LAN address over http')
      assert.match(lan.others, /^http:\/\/192\.168\.1\.5:8080\/ will not work in any browser, not even on this computer .*http:\/\/localhost:8080\//)
      for (const host of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.equal(isLoopbackHost(host), true, host)
      for (const host of ['10.0.0.1', '192.168.1.5', 'example.com', '0.0.0.0', 'localhost.example.com', '::']) assert.equal(isLoopbackHost(host), false, host)
    })

    it('npm run web (serve-web.js) on all interfaces prints the localhost URL, and that other devices need HTTPS', async function () {
      skipUnlessBuilt(this)
      const child = spawn(process.execPath, [SERVE_WEB, '--port', '0', '--host', '0.0.0.0'], { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanup.add({ stop: () => { if (child.exitCode == null) child.kill('SIGKILL') } })
      const text = await firstLines(child, 3)
      assert.match(text[0], /^MegaChat web app: open http:\/\/localhost:\d+\/ on this computer$/)
      assert.match(text[1], /will not work for them; serve it through an HTTPS reverse proxy/)
      assert.match(text[2], /^no --bootstrap given: \/config\.json sets nothing; give the app a bootstrap node in its Settings/)
      // and that URL answers, /config.json too
      const url = text[0].split(' ')[4]
      assert.equal((await get(url, '/')).status, 200)
      const config = await get(url, '/config.json')
      assert.equal(config.status, 200)
      assert.deepEqual(JSON.parse(config.body.toString()), { bootstrap: [] })
    })

    it('npm run web on a port in use says so in one line, and how to pick another', async function () {
      skipUnlessBuilt(this)
      const taken = await serveWebApp({ dir: WEB_DIR, host: '127.0.0.1', port: 0 })
      cleanup.add({ stop: taken.close })
      const child = spawn(process.execPath, [SERVE_WEB, '--port', String(taken.port)], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
      const code = await new Promise(resolve => child.once('exit', resolve))
      assert.equal(code, 1)
      assert.equal(stderr, `megachat-web: cannot listen on 127.0.0.1:${taken.port}: port in use (a bootstrap node with --web serves the app there already?); pick another with --port <n>\n`)
    })

    it('npm run web --bootstrap without --stun gives the app the bootstrap node\'s STUN; --stun replaces it', async function () {
      skipUnlessBuilt(this)
      const node = '/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWHhQzYNMALggU3Z4vtbgGaVLs34NNGLPauNZ5gY69GcTy'
      const serve = async (...args: string[]): Promise<{ line: string, config: WebConfig }> => {
        const child = spawn(process.execPath, [SERVE_WEB, '--port', '0', '--bootstrap', node, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
        cleanup.add({ stop: () => { if (child.exitCode == null) child.kill('SIGKILL') } })
        const text = await firstLines(child, 3)
        const reply = await get(text[0].split(' ')[4], '/config.json')
        child.kill('SIGKILL')
        return { line: text[2], config: JSON.parse(reply.body.toString()) }
      }
      const own = await serve()
      assert.deepEqual(own.config, { bootstrap: [node], iceServers: [{ urls: 'stun:127.0.0.1:3478' }] })
      assert.equal(own.line, 'config.json: 1 bootstrap address, STUN stun:127.0.0.1:3478 (the bootstrap node\'s; --stun to change)')
      const given = await serve('--stun', 'stun:127.0.0.1:3999')
      assert.deepEqual(given.config, { bootstrap: [node], iceServers: [{ urls: 'stun:127.0.0.1:3999' }] })
      assert.equal(given.line, 'config.json: 1 bootstrap address, STUN stun:127.0.0.1:3999')
    })

    it('the bootstrap node with --web prints the localhost URL for this computer and HTTPS for friends, and webLocal in --json', async function () {
      skipUnlessBuilt(this)
      const data = cleanup.dir(await tempDir('megachat-web-boot-'))
      const args = [BOOTSTRAP_MAIN, '--data', data, '--listen', '/ip4/0.0.0.0/tcp/0/ws', '--no-stun', '--web', '--web-port', '0', '--web-host', '0.0.0.0', '--status-interval', '0']
      const text = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanup.add({ stop: () => { if (text.exitCode == null) text.kill('SIGKILL') } })
      const lines = await firstLines(text, l => l.startsWith('relay:'))
      const webLines = lines.slice(lines.findIndex(l => l.startsWith('web app:')))
      assert.match(webLines[0], /^web app: {3}http:\/\/localhost:\d+\/ {2}\(on this computer; it is set up to use this node\)$/)
      assert.match(webLines[1], /^ {11}for other devices: browsers run MegaChat only from https:\/\/ or localhost, so http:\/\/\S+ will not work for them; serve it through an HTTPS reverse proxy .*\/wss address$/)
      assert.ok(!lines.some(l => /give friends/.test(l)))
      text.kill('SIGKILL')

      const json = spawn(process.execPath, [...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
      cleanup.add({ stop: () => { if (json.exitCode == null) json.kill('SIGKILL') } })
      const ready = JSON.parse((await firstLines(json, 1))[0])
      assert.match(ready.webLocal, /^http:\/\/localhost:\d+\/$/)
      assert.equal(new URL(ready.webLocal).port, new URL(ready.web).port)
    })
  })

  it('bootstrap node with web but no built app: one clear error, nothing left listening', async () => {
    const empty = cleanup.dir(await tempDir('megachat-web-empty-'))
    await assert.rejects(createBootstrapNode({
      listen: ['/ip4/127.0.0.1/tcp/0/ws'],
      stunPort: false,
      web: { port: 0, host: '127.0.0.1', dir: empty }
    }), (err: Error) => err.name === WebAppMissingError.name && /run npm run web:build first/.test(err.message))
  })
})
