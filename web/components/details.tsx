/**
 * The details under a conversation's header: a contact's safety code and peer ID, a room's invite link
 * and members, a stranger's peer ID. A chunk of its own (lazy.tsx): shown only when asked for.
 */
import { useState } from 'preact/hooks'
import { ConnectionDetails } from './diagnosis.js'
import { ConfirmButton } from './request.js'
import { Avatar, CopyButton } from './ui.js'
import type { ChatModel } from '../model.js'

export function ContactDetails ({ model, peerId, safetyCode, name }: { model: ChatModel, peerId: string, safetyCode: string, name: string }): preact.JSX.Element {
  const [error, setError] = useState('')
  return (
    <div class='details-grid'>
      <div>
        <div class='me-label'>Safety code</div>
        <p class='safety-code big' data-testid='safety-code'>{safetyCode}</p>
        <p class='muted small'>Read it out to {name} on a call or in person. If both of you see the same code, nobody swapped a key between you.</p>
      </div>
      <div>
        <div class='me-label'>Peer ID</div>
        <code class='peer-id full'>{peerId}</code>
        <div class='row'>
          <CopyButton text={peerId} label={`Copy the peer ID of ${name}`} class='btn small' />
          <ConfirmButton question={`Remove ${name} from your contacts? The conversation stays in your history.`}
            action={async () => { await model.removeContact(peerId) }} onError={setError}>Remove contact</ConfirmButton>
        </div>
        {error !== '' && <p class='error' role='alert'>{error}</p>}
      </div>
      <div>
        <div class='me-label'>Connection</div>
        <ConnectionDetails model={model} peerId={peerId} label={`Check the connection to ${name}`} />
      </div>
    </div>
  )
}

export function StrangerDetails ({ peerId }: { peerId: string }): preact.JSX.Element {
  return (
    <div class='details-grid'>
      <div>
        <div class='me-label'>Peer ID</div>
        <code class='peer-id full'>{peerId}</code>
        <CopyButton text={peerId} label='Copy the peer ID' class='btn small' />
      </div>
    </div>
  )
}

export function RoomDetails ({ model, roomId, invite }: { model: ChatModel, roomId: string, invite: string }): preact.JSX.Element {
  const [error, setError] = useState('')
  const members = model.members(roomId)
  return (
    <div class='details-grid'>
      <div>
        <label class='field'>
          <span>Invite link: whoever has it can read and write in the room</span>
          <input class='mono' readOnly value={invite} onFocus={(e) => { e.currentTarget.select() }} />
        </label>
        <div class='row'>
          <CopyButton text={invite} label='Copy the invite link' class='btn small' />
          <ConfirmButton question='Leave this room? Its messages are forgotten on this device.'
            action={async () => { await model.leaveRoom(roomId) }} onError={setError}>Leave room</ConfirmButton>
        </div>
        {error !== '' && <p class='error' role='alert'>{error}</p>}
      </div>
      <div>
        <div class='me-label'>Online now ({members.length})</div>
        <ul class='members'>
          {members.map(p => <li key={p}><Avatar name={model.nameOf(p)} /> {model.nameOf(p)}</li>)}
        </ul>
      </div>
    </div>
  )
}
