/**
 * The details under a conversation's header: a contact's safety code and peer ID, a room's invite link
 * and members, a stranger's peer ID; and the bar of a message request.
 */
import { useState } from 'preact/hooks'
import { shortId } from '../messages.js'
import { ConnectionDetails } from './diagnosis.js'
import { Avatar, CopyButton, errorText } from './ui.js'
import type { ChatModel } from '../model.js'
import type { ComponentChildren } from 'preact'

/**
 * A button for what cannot be undone (remove, block, leave): it asks `question` first, then runs
 * `action`; a failure goes to `onError` as one line, which the caller shows where it fits.
 */
function ConfirmButton ({ question, action, onError, children }: { question: string, action: () => Promise<void>, onError: (text: string) => void, children: ComponentChildren }): preact.JSX.Element {
  return (
    <button type='button' class='btn small danger' onClick={() => {
      if (!confirm(question)) return
      onError('')
      action().catch(err => { onError(errorText(err)) })
    }}>{children}</button>
  )
}

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

/**
 * A message request: someone who is not a contact wrote (or called). Accepting adds them as a contact;
 * blocking refuses them from now on and deletes the conversation.
 */
export function RequestBar ({ model, peerId }: { model: ChatModel, peerId: string }): preact.JSX.Element {
  const [name, setName] = useState('')
  const [error, setError] = useState('')
  return (
    <form class='banner request' aria-label='Message request' onSubmit={(e) => {
      e.preventDefault()
      model.addContact(peerId, name.trim() === '' ? undefined : name.trim()).catch(err => { setError(errorText(err)) })
    }}>
      <p>
        <strong>{shortId(peerId)} is not in your contacts.</strong> Accept to add them and hear from them freely; until then
        only their first few messages are shown. Block to refuse them and delete this conversation.
      </p>
      <div class='row'>
        <input class='request-name' value={name} onInput={(e) => { setName(e.currentTarget.value) }} placeholder='their name' aria-label='Their name' />
        <button type='submit' class='btn small primary'>Accept</button>
        <ConfirmButton question={`Block ${shortId(peerId)}? Their connections and messages are refused, and this conversation is deleted.`}
          action={async () => { await model.block(peerId) }} onError={setError}>Block</ConfirmButton>
      </div>
      {error !== '' && <p class='error' role='alert'>{error}</p>}
    </form>
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
