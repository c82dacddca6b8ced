/**
 * Connection details: "why can't I reach X?" in the web app. Runs Chat.diagnose() when asked (it
 * probes STUN and, for a person, dials them) and shows what it found in plain words.
 */
import { useState } from 'preact/hooks'
import { shortPeerIds } from '../../src/short-id.js'
import { shortId } from '../messages.js'
import { errorText } from './ui.js'
import type { Diagnosis } from '../../src/index.js'
import type { ChatModel } from '../model.js'

export function ConnectionDetails ({ model, peerId, label }: { model: ChatModel, peerId?: string, label: string }): preact.JSX.Element {
  const [result, setResult] = useState<Diagnosis | undefined>()
  const [running, setRunning] = useState(false)
  const [error, setError] = useState('')
  const run = (): void => {
    setRunning(true)
    setError('')
    model.chat.diagnose(peerId).then(setResult, (err) => { setError(errorText(err)) }).finally(() => { setRunning(false) })
  }
  return (
    <div class='diagnosis' data-testid='connection-details'>
      <button type='button' class='btn small' disabled={running} onClick={run}>{running ? 'Checking…' : label}</button>
      {error !== '' && <p class='error' role='alert'>{error}</p>}
      {result != null && (
        <div role='status' aria-live='polite'>
          {result.peer != null && <p class='diag-summary' data-testid='diag-peer'>{result.peer.summary}</p>}
          {result.peer?.lastAttempt != null && result.peer.connections.length === 0 && (
            <ol class='diag-steps'>
              {result.peer.lastAttempt.steps.map((s, i) => (
                <li key={i} class={s.ok ? 'ok' : 'bad'}>+{s.at} ms {s.what}{s.addr != null ? <code> {shortPeerIds(s.addr, shortId)}</code> : null}: {s.detail}</li>
              ))}
            </ol>
          )}
          <dl class='diag-net'>
            <dt>NAT</dt><dd data-testid='diag-nat'>{result.nat.summary}</dd>
            <dt>Relays</dt>
            <dd>
              {result.relays.length > 0 ? `reachable through ${result.relays.length} relay address${result.relays.length === 1 ? '' : 'es'}` : 'no relay reservation'}
              {result.reservations.map(r => (
                <div key={r.relay} data-testid='diag-reservation'>reservation on {shortId(r.relay)} until {clock(r.expires)}, renews {r.renews > Date.now() ? `at ${clock(r.renews)}` : 'now'}</div>
              ))}
            </dd>
            <dt>TURN</dt><dd data-testid='diag-turn'>{result.turn.length > 0 ? result.turn.join(', ') : 'none (no bootstrap node of yours runs --turn)'}</dd>
          </dl>
          {result.advice.map(a => <p key={a} class='warn-line'>{a}</p>)}
        </div>
      )}
    </div>
  )
}

function clock (ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}
