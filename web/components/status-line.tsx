import { useEffect } from 'preact/hooks'
import type { Status } from '../status.js'

/** The connection status line; the page's `data-state` follows it (the stylesheet colours by it). */
export function StatusLine ({ status }: { status: Status }): preact.JSX.Element {
  useEffect(() => { document.body.dataset.state = status.state }, [status.state])
  return (
    <p id='status' class='status' role='status' data-state={status.state}>
      <span class='status-dot' aria-hidden='true' />
      <span>{status.text}</span>
    </p>
  )
}
