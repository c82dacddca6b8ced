/**
 * What the README's "Serving the web app" puts in front of a bootstrap node, for the NAT lab's browsers:
 * an HTTPS reverse proxy that sends WebSocket upgrades to the node's WebSocket port and everything else to
 * its web app (`--web --web-host 127.0.0.1`), as the README's Caddy configuration does. The certificate is
 * one the test made; the test's Chromium trusts it by its key (--ignore-certificate-errors-spki-list).
 *
 *   node dist/test/https-proxy.js --listen 203.0.113.1:443 --cert cert.pem --key key.pem --ws 127.0.0.1:4002 --web 127.0.0.1:8080
 *
 * Prints one JSON line, `{"type":"ready","url":"https://203.0.113.1/"}`, once it listens; runs until killed.
 * A test fixture, run inside the lab's `pub` namespace: it never listens or connects anywhere else than told.
 */
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:https'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'

const { values } = parseArgs({ options: { listen: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ws: { type: 'string' }, web: { type: 'string' } } })

function hostPort (value: string | undefined, what: string): { host: string, port: number } {
  const m = /^(.+):(\d+)$/.exec(value ?? '')
  if (m == null) {
    process.stderr.write(`https-proxy: --${what} host:port is needed\n`)
    process.exit(2)
  }
  return { host: m[1], port: Number(m[2]) }
}

const listen = hostPort(values.listen, 'listen')
const ws = hostPort(values.ws, 'ws')
const web = hostPort(values.web, 'web')

/** The request head again, as the backend must see it (the header names as the browser wrote them). */
function head (req: IncomingMessage): string {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`]
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
  return lines.join('\r\n') + '\r\n\r\n'
}

const server = createServer({ cert: readFileSync(values.cert ?? ''), key: readFileSync(values.key ?? '') }, (req, res) => {
  const upstream = request({ ...web, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502)
    res.end()
  })
  req.pipe(upstream)
})

// a WebSocket upgrade: the bytes both ways, as they are, to and from the node's WebSocket listener
server.on('upgrade', (req: IncomingMessage, socket: Duplex, rest: Buffer) => {
  const upstream = connect(ws.port, ws.host, () => {
    upstream.write(head(req))
    if (rest.length > 0) upstream.write(rest)
    socket.pipe(upstream).pipe(socket)
  })
  const end = (): void => {
    socket.destroy()
    upstream.destroy()
  }
  upstream.on('error', end)
  socket.on('error', end)
  upstream.on('close', end)
  socket.on('close', end)
})
server.on('tlsClientError', () => {}) // a client that gave up during the handshake

server.listen(listen.port, listen.host, () => {
  process.stdout.write(JSON.stringify({ type: 'ready', url: `https://${listen.host}${listen.port === 443 ? '' : `:${listen.port}`}/` }) + '\n')
})
process.on('SIGTERM', () => { process.exit(0) })
