/**
 * The page shown instead of the app where the browser gives it no Web Crypto: a page loaded over plain
 * http from anything but this machine (`window.isSecureContext` is false). The app would start, show
 * its peer ID and "Connected", and then deliver nothing; it says why and what to do instead.
 */
import { StatusLine } from './status-line.js'

/** True when the browser lets this page use Web Crypto (https://, or http://localhost). */
export function secureEnough (): boolean {
  return window.isSecureContext && globalThis.crypto?.subtle != null
}

/** This page's address on this machine: http://localhost with the same port and path. */
export function localUrl (): string {
  const url = new URL(location.href)
  url.protocol = 'http:'
  url.hostname = 'localhost'
  url.hash = ''
  return url.toString()
}

export function NotSecure (): preact.JSX.Element {
  const local = localUrl()
  // shown without its query (settings such as ?bootstrap=, which the link keeps)
  const shown = new URL(local)
  shown.search = ''
  return (
    <div class='splash'>
      <div class='splash-card not-secure'>
        <h1 class='brand'><span class='brand-mark' aria-hidden='true'>◆</span> MegaChat</h1>
        <StatusLine status={{ state: 'error', text: 'MegaChat cannot run on this page: it is not a secure one.' }} />
        <p>
          This page came over plain <code>http://</code> from <strong>{location.host}</strong>, so the browser keeps
          its cryptography (Web Crypto) from it. MegaChat encrypts everything it sends, so it does not start here
          rather than look connected and deliver nothing.
        </p>
        <h2>What to do</h2>
        <ul>
          <li>On the computer that serves MegaChat, open <a id='local-url' href={local}>{shown.toString()}</a> instead.</li>
          <li>
            From other devices, MegaChat must be served over <strong>HTTPS</strong>: put a reverse proxy with a
            certificate in front of this server, then open the app's <code>https://</code> address. The README's
            “Serving the web app” says how.
          </li>
        </ul>
      </div>
    </div>
  )
}
