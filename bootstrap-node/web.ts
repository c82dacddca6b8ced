/**
 * A small static file server for the built web app (dist/web, made by `npm run web:build`), with
 * `GET /config.json` telling the app which bootstrap nodes and ICE servers to use. node:http only.
 *
 * Paths are decoded, normalized and must stay inside `dir` (no `..`, also not percent-encoded, no
 * backslashes, no NUL). Hashed assets (`assets/name-HASH.js`) are cached for a long time, everything
 * else is revalidated. Text files are sent gzipped when the browser accepts it.
 *
 * @example
 * ```ts
 * const web = await serveWebApp({ dir: 'dist/web', host: '127.0.0.1', port: 8080,
 *   config: { bootstrap: ['/ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooW...'], iceServers: [] } })
 * console.info(web.url) // http://127.0.0.1:8080/
 * await web.close()
 * ```
 */
import { readFile, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

const gzip = promisify(gzipCb)

/** What the web app reads from `/config.json`. */
export interface WebConfig {
  /** bootstrap multiaddrs, each ending in /p2p/<peer id> */
  bootstrap: string[]
  /**
   * ICE servers for WebRTC (e.g. the bootstrap node's own STUN responder); empty means none. Left out,
   * the app uses the STUN responders of its bootstrap nodes (UDP 3478), as the terminal client does.
   */
  iceServers?: RTCIceServer[]
}

/** `/config.json` when the server was given none: valid, and it sets nothing. */
export const EMPTY_WEB_CONFIG: Readonly<WebConfig> = Object.freeze({ bootstrap: [] })

export interface ServeWebAppOptions {
  /** the directory of the built app (holds index.html) */
  dir: string
  /** address to bind, e.g. '127.0.0.1' or '0.0.0.0' */
  host: string
  /** TCP port; 0 picks a free one */
  port: number
  /**
   * Served as `/config.json`; without it, that is {@link EMPTY_WEB_CONFIG} and the app uses its own settings.
   * A function is called for every request (addresses that change while running stay current).
   */
  config?: WebConfig | ((request: IncomingMessage) => WebConfig)
}

export interface WebAppServer {
  /** e.g. `http://127.0.0.1:8080/`; a wildcard bind is shown as loopback */
  readonly url: string
  /** the port really bound */
  readonly port: number
  /** Stops listening and drops open connections. Safe to call twice. */
  close(): Promise<void>
}

export const CONTENT_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm'
})

const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.map', '.txt', '.svg', '.wasm'])
/** Vite's hashed output: `name-AbCd1234.js` under assets/ */
const HASHED = /^assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer'
}

/**
 * The file under `root` that a URL path names, or undefined when it is not a plain path inside root
 * (`..` segments, encoded or not, backslashes, NUL, malformed percent-encoding).
 */
export function resolveRequestPath (root: string, urlPath: string): string | undefined {
  let path: string
  try {
    path = decodeURIComponent(urlPath)
  } catch {
    return undefined
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return undefined
  if (path.split('/').some(segment => segment === '..')) return undefined
  if (path.endsWith('/')) path += 'index.html'
  const file = resolve(root, '.' + path)
  const rel = relative(root, file)
  if (rel === '' || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) return undefined
  return file
}

export async function serveWebApp (options: ServeWebAppOptions): Promise<WebAppServer> {
  const root = resolve(options.dir)
  const { config = EMPTY_WEB_CONFIG } = options
  /** gzipped bodies by path and mtime: the files are static, compress each once */
  const gzipped = new Map<string, { mtime: number, body: Buffer }>()

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed', { allow: 'GET, HEAD' })
      return
    }
    let pathname: string
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname
    } catch {
      send(res, 400, 'bad request')
      return
    }
    // URL parsing quietly resolves `/../` and `/%2e%2e/` to the root: refuse them in the raw target instead
    if (hasDotDot(req.url?.split('?')[0] ?? '')) {
      send(res, 403, 'forbidden')
      return
    }
    if (pathname === '/config.json') {
      const body = Buffer.from(JSON.stringify(typeof config === 'function' ? config(req) : config))
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': CONTENT_TYPES['.json'], 'content-length': body.length, 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : body)
      return
    }
    const file = resolveRequestPath(root, pathname)
    if (file == null) {
      send(res, 403, 'forbidden')
      return
    }
    let info
    try {
      info = await stat(file)
    } catch {
      send(res, 404, 'not found')
      return
    }
    if (!info.isFile()) {
      send(res, 404, 'not found')
      return
    }
    const ext = extname(file).toLowerCase()
    const rel = relative(root, file).split('\\').join('/')
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'cache-control': HASHED.test(rel) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'last-modified': info.mtime.toUTCString()
    }
    let body: Buffer = await readFile(file)
    if (COMPRESSIBLE.has(ext) && body.length > 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      const cached = gzipped.get(file)
      if (cached?.mtime === info.mtimeMs) {
        body = cached.body
      } else {
        const zipped = await gzip(body)
        gzipped.set(file, { mtime: info.mtimeMs, body: zipped })
        body = zipped
      }
      headers['content-encoding'] = 'gzip'
      headers.vary = 'accept-encoding'
    }
    headers['content-length'] = body.length
    res.writeHead(200, headers)
    res.end(req.method === 'HEAD' ? undefined : body)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error')
      else res.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  let closed: Promise<void> | undefined
  return {
    url: `http://${urlHost(options.host)}:${port}/`,
    port,
    close: async () => {
      closed ??= new Promise<void>(resolve => {
        server.close(() => { resolve() })
        server.closeAllConnections()
      })
      return closed
    }
  }
}

function send (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  res.end(text + '\n')
}

function hasDotDot (rawPath: string): boolean {
  let path = rawPath
  try { path = decodeURIComponent(rawPath) } catch {}
  return /(^|[/\\])\.\.([/\\]|$)/.test(rawPath) || /(^|[/\\])\.\.([/\\]|$)/.test(path)
}

/** A host for a URL: wildcards become loopback, IPv6 gets brackets. */
export function urlHost (host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

/** Whether browsers take `http://<host>/` for a secure context (only loopback names and addresses), where the app can run. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1'
}

/** Where the app can be opened, as the servers print it. */
export interface WebAppAdvice {
  /** a URL that works in a browser on this computer; absent when the server listens on no loopback address */
  local?: string
  /** one line about other devices: plain http from them does not work */
  others: string
}

/**
 * What to say about an app served over plain http on `bound` (the address listened on) and `port`:
 * browsers run it only from https:// or localhost (it needs Web Crypto), so a LAN or public
 * `http://` URL must not be handed out as if it worked. `othersUrl`: the http URL other devices
 * would use (the bootstrap node knows its public or LAN address), for the warning.
 */
export function webAppAdvice (bound: string, port: number, othersUrl?: string): WebAppAdvice {
  const proxy = 'serve it through an HTTPS reverse proxy (README: "Serving the web app")'
  if (isLoopbackHost(bound)) {
    return { local: `http://${urlHost(bound)}:${port}/`, others: `other devices cannot reach it (it listens on ${bound} only): to give it to friends, ${proxy}` }
  }
  const wildcard = bound === '' || bound === '0.0.0.0' || bound === '::'
  const plain = othersUrl ?? `http://${wildcard ? '<this computer\'s address>' : urlHost(bound)}:${port}/`
  const others = `for other devices: browsers run MegaChat only from https:// or localhost, so ${plain} will not work for them; ${proxy}`
  if (wildcard) return { local: `http://localhost:${port}/`, others }
  return { others: `${plain} will not work in any browser, not even on this computer (not https, not localhost): listen on 0.0.0.0 or 127.0.0.1 to open it as http://localhost:${port}/ here, and ${proxy} for other devices` }
}

/** for callers that want to know whether a directory holds a built app */
export function webAppIndex (dir: string): string {
  return join(resolve(dir), 'index.html')
}
