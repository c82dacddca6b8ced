/**
 * The dialogs: add a contact, create a room (then show its invite link), join a room by invite link,
 * and your own peer ID as a QR code. The three forms are one component, configured: errors show inline
 * under the form, and what was typed stays.
 */
import { useState } from 'preact/hooks'
import { dmKey, roomKey } from '../messages.js'
import { CopyButton, Dialog, QrCode, errorText } from './ui.js'
import type { ComponentChildren } from 'preact'
import type { ChatModel } from '../model.js'
import type { ConversationKey } from '../messages.js'
import type { RoomInfo } from '../../src/index.js'

export type DialogKind = 'add-contact' | 'create-room' | 'join-room' | 'qr'

/** The open dialog, if any; a conversation it makes (a contact added, a room joined) opens when it closes. */
export function DialogLayer ({ model, dialog, onClose }: { model: ChatModel, dialog?: DialogKind, onClose: () => void }): preact.JSX.Element | null {
  const done = (key: ConversationKey): void => {
    onClose()
    model.open(key)
  }
  switch (dialog) {
    case 'add-contact':
      return <FormDialog {...ADD_CONTACT} onClose={onClose} onSubmit={async ([peer, name]) => { done(dmKey((await model.addContact(peer, optional(name))).peerId)) }} />
    case 'create-room':
      return <CreateRoomDialog model={model} onClose={onClose} onOpen={(roomId) => { done(roomKey(roomId)) }} />
    case 'join-room':
      return <FormDialog {...JOIN_ROOM} onClose={onClose} onSubmit={async ([invite, name]) => { done(roomKey((await model.joinRoom(invite, optional(name))).roomId)) }} />
    case 'qr':
      return <QrDialog model={model} onClose={onClose} />
    default:
      return null
  }
}

const optional = (value: string): string | undefined => value === '' ? undefined : value

interface Field {
  /** the input's id (`${form id}-${id}`) */
  id: string
  label: ComponentChildren
  /** the input's name attribute */
  name?: string
  placeholder?: string
  /** a peer ID or an invite: monospace, no spell checking */
  code?: boolean
  /** what to say when the field is left empty (only the first field is required) */
  required?: string
}

interface FormConfig {
  title: string
  /** the form's id, and the prefix of its fields' and its error's ids */
  id: string
  fields: [Field, ...Field[]]
  hint?: ComponentChildren
  /** the submit button's text, and its text while the action runs */
  submit: [string, string]
}

const ADD_CONTACT: FormConfig = {
  title: 'Add a contact',
  id: 'add-contact',
  fields: [
    { id: 'peer', name: 'peer', label: 'Their peer ID', placeholder: '12D3KooW…', code: true, required: 'Paste the peer ID your contact gave you (it starts with 12D3KooW).' },
    { id: 'name', name: 'name', label: <>Name <span class='muted'>(letters, digits, _ . -)</span></>, placeholder: 'bob' }
  ],
  hint: 'A peer ID is its owner\'s public key: adding it pins that key. Afterwards, compare the safety code with your contact.',
  submit: ['Add contact', 'Adding…']
}

const CREATE_ROOM: FormConfig = {
  title: 'Create a room',
  id: 'create-room',
  fields: [{ id: 'name', label: 'Room name', placeholder: 'friends', required: 'Give the room a name.' }],
  hint: 'Room messages are end-to-end encrypted and signed by their authors. The name travels in the invite link only.',
  submit: ['Create room', 'Creating…']
}

const JOIN_ROOM: FormConfig = {
  title: 'Join a room',
  id: 'join-room',
  fields: [
    { id: 'invite', label: 'Invite link', placeholder: 'megachat://room/…', code: true, required: 'Paste the invite link (megachat://room/…) you were given.' },
    { id: 'name', label: <>Name it here <span class='muted'>(optional)</span></> }
  ],
  submit: ['Join room', 'Joining…']
}

/** A dialog with a form of a few text fields; `onSubmit` gets their values trimmed, and its error shows under them. */
function FormDialog ({ title, id, fields, hint, submit, onClose, onSubmit }: FormConfig & {
  onClose: () => void
  onSubmit: (values: string[]) => Promise<void>
}): preact.JSX.Element {
  const [values, setValues] = useState(() => fields.map(() => ''))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const errorId = `${id}-error`
  const send = async (): Promise<void> => {
    const trimmed = values.map(v => v.trim())
    const required = fields[0].required
    if (required != null && trimmed[0] === '') {
      setError(required)
      return
    }
    if (busy) return
    setBusy(true)
    setError('')
    try {
      await onSubmit(trimmed)
    } catch (err) {
      setError(errorText(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <Dialog title={title} onClose={onClose}>
      <form id={`${id}-form`} onSubmit={(e) => { e.preventDefault(); void send() }}>
        {fields.map((f, i) => (
          <label key={f.id} class='field'>
            <span>{f.label}</span>
            <input id={`${id}-${f.id}`} name={f.name} value={values[i]} autoComplete='off' placeholder={f.placeholder}
              class={f.code === true ? 'mono' : undefined} spellcheck={f.code === true ? false : undefined}
              aria-invalid={i === 0 ? error !== '' : undefined} aria-describedby={i === 0 && error !== '' ? errorId : undefined}
              onInput={(e) => {
                const v = e.currentTarget.value
                setValues(old => old.map((x, j) => j === i ? v : x))
                setError('')
              }} />
          </label>
        ))}
        {error !== '' && <p class='error' role='alert' id={errorId}>{error}</p>}
        {hint != null && <p class='muted small'>{hint}</p>}
        <div class='dialog-actions'>
          <button type='button' class='btn' onClick={onClose}>Cancel</button>
          <button type='submit' class='btn primary' disabled={busy}>{busy ? submit[1] : submit[0]}</button>
        </div>
      </form>
    </Dialog>
  )
}

/** Create a room, then show its invite link to share. */
function CreateRoomDialog ({ model, onClose, onOpen }: { model: ChatModel, onClose: () => void, onOpen: (roomId: string) => void }): preact.JSX.Element {
  const [room, setRoom] = useState<RoomInfo | undefined>(undefined)
  if (room == null) return <FormDialog {...CREATE_ROOM} onClose={onClose} onSubmit={async ([name]) => { setRoom(await model.createRoom(name)) }} />
  return (
    <Dialog title='Room created' onClose={() => { onOpen(room.roomId) }}>
      <p>Share this invite link with the people who should be in <strong>{room.name}</strong>. Whoever has it can read and write in the room, so send it privately.</p>
      <label class='field'>
        <span>Invite link</span>
        <input id='invite-link' class='mono' readOnly value={room.invite} onFocus={(e) => { e.currentTarget.select() }} />
      </label>
      <div class='dialog-actions'>
        <CopyButton text={room.invite} label='Copy the invite link' />
        <button type='button' class='btn primary' onClick={() => { onOpen(room.roomId) }}>Open the room</button>
      </div>
    </Dialog>
  )
}

function QrDialog ({ model, onClose }: { model: ChatModel, onClose: () => void }): preact.JSX.Element {
  return (
    <Dialog title='Your peer ID' onClose={onClose}>
      <div class='qr-dialog'>
        <QrCode text={model.me} label='QR code of your peer ID' />
        <code class='peer-id full'>{model.me}</code>
        <CopyButton text={model.me} label='Copy your peer ID' />
        <p class='muted small'>Your friends add you with this ID. It is your public key, so it is safe to share.</p>
      </div>
    </Dialog>
  )
}
