/**
 * The web app's static server (bootstrap-node/web.ts) and the bootstrap node's `web` option: files with
 * their content types, `/config.json`, and no way out of the served directory.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { createBootstrapNode, WebAppMissingError } from '../bootstrap-node/index.js'
import { serveWebApp } from '../bootstrap-node/web.js'
import { Cleanup, tempDir } from './fixtures.js'
import type { WebConfig } from '../bootstrap-node/web.js'

const WEB_DIR = resolve('dist/web')
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

  it('serves /config.json when given one, 404 without', async () => {
    const config: WebConfig = { bootstrap: ['/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooWHhQzYNMALggU3Z4vtbgGaVLs34NNGLPauNZ5gY69GcTy'], iceServers: [{ urls: 'stun:127.0.0.1:3478' }] }
    const withConfig = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0, config })
    const without = await serveWebApp({ dir: root, host: '127.0.0.1', port: 0 })
    try {
      const reply = await get(withConfig.url, '/config.json')
      assert.equal(reply.status, 200)
      assert.match(String(reply.headers['content-type']), /^application\/json/)
      assert.deepEqual(JSON.parse(reply.body.toString()), config)
      assert.equal((await get(without.url, '/config.json')).status, 404)
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
    if (!existsSync(join(WEB_DIR, 'index.html'))) {
      console.warn('      (skipped: dist/web is not built; run npm run web:build, which npm test does first)')
      this.skip()
    }
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

  it('bootstrap node with web but no built app: one clear error, nothing left listening', async () => {
    const empty = cleanup.dir(await tempDir('megachat-web-empty-'))
    await assert.rejects(createBootstrapNode({
      listen: ['/ip4/127.0.0.1/tcp/0/ws'],
      stunPort: false,
      web: { port: 0, host: '127.0.0.1', dir: empty }
    }), (err: Error) => err.name === WebAppMissingError.name && /run npm run web:build first/.test(err.message))
  })
})
