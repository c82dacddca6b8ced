import { saveSettings, settings } from '../config.js'
import { StatusLine } from './status-line.js'
import type { Status } from '../status.js'

/** When the node cannot run: the status line, and a way out of bad settings (index.html holds its first form). */
export function Splash ({ status }: { status: Status }): preact.JSX.Element {
  const saved = settings.value
  const custom = saved.bootstrap.length > 0 || saved.iceServers.length > 0
  return (
    <div class='splash'>
      <div class='splash-card'>
        <h1 class='brand'><span class='brand-mark' aria-hidden='true'>◆</span> MegaChat</h1>
        <StatusLine status={status} />
        {status.state === 'error' && custom && (
          <button type='button' class='btn' onClick={() => { saveSettings({ bootstrap: [], iceServers: [] }); location.reload() }}>
            Reset network settings and retry
          </button>
        )}
      </div>
    </div>
  )
}
