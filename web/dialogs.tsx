/**
 * The dialogs: add a contact, create a room (then show its invite link), join a room by invite link,
 * and your own peer ID as a QR code. Errors show inline under the form; what was typed stays.
 */
import { useState } from 'preact/hooks'
import { CopyButton, Dialog, QrCode, errorText } from './ui.js'
import type { ChatModel } from './model.js'
import type { RoomInfo } from '../src/index.js'

function useSubmit (): { busy: boolean, error: string, setError: (e: string) => void, run: (fn: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const run = async (fn: () => Promise<void>): Promise<void> => {
    if (busy) return
    setBusy(true)
    setError('')
    try {
      await fn()
    } catch (err) {
      setError(errorText(err))
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, setError, run }
}

export function AddContactDialog ({ model, onClose, onAdded }: { model: ChatModel, onClose: () => void, onAdded: (peerId: string) => void }): preact.JSX.Element {
  const [peer, setPeer] = useState('')
  const [name, setName] = useState('')
  const { busy, error, setError, run } = useSubmit()
  return (
    <Dialog title='Add a contact' onClose={onClose}>
      <form id='add-contact-form' onSubmit={(e) => {
        e.preventDefault()
        if (peer.trim() === '') {
          setError('Paste the peer ID your contact gave you (it starts with 12D3KooW).')
          return
        }
        void run(async () => {
          const info = await model.addContact(peer.trim(), name.trim() === '' ? undefined : name.trim())
          onAdded(info.peerId)
        })
      }}>
        <label class='field'>
          <span>Their peer ID</span>
          <input id='add-contact-peer' name='peer' value={peer} autoComplete='off' spellcheck={false} placeholder='12D3KooW…'
            class='mono' aria-invalid={error !== ''} aria-describedby={error !== '' ? 'add-contact-error' : undefined}
            onInput={(e) => { setPeer(e.currentTarget.value); setError('') }} />
        </label>
        <label class='field'>
          <span>Name <span class='muted'>(letters, digits, _ . -)</span></span>
          <input id='add-contact-name' name='name' value={name} autoComplete='off' placeholder='bob'
            onInput={(e) => { setName(e.currentTarget.value); setError('') }} />
        </label>
        {error !== '' && <p class='error' role='alert' id='add-contact-error'>{error}</p>}
        <p class='muted small'>A peer ID is its owner's public key: adding it pins that key. Afterwards, compare the safety code with your contact.</p>
        <div class='dialog-actions'>
          <button type='button' class='btn' onClick={onClose}>Cancel</button>
          <button type='submit' class='btn primary' disabled={busy}>{busy ? 'Adding…' : 'Add contact'}</button>
        </div>
      </form>
    </Dialog>
  )
}

export function CreateRoomDialog ({ model, onClose, onOpen }: { model: ChatModel, onClose: () => void, onOpen: (roomId: string) => void }): preact.JSX.Element {
  const [name, setName] = useState('')
  const [room, setRoom] = useState<RoomInfo | undefined>(undefined)
  const { busy, error, setError, run } = useSubmit()
  if (room != null) {
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
  return (
    <Dialog title='Create a room' onClose={onClose}>
      <form id='create-room-form' onSubmit={(e) => {
        e.preventDefault()
        if (name.trim() === '') {
          setError('Give the room a name.')
          return
        }
        void run(async () => { setRoom(await model.createRoom(name.trim())) })
      }}>
        <label class='field'>
          <span>Room name</span>
          <input id='create-room-name' value={name} autoComplete='off' placeholder='friends'
            aria-invalid={error !== ''} aria-describedby={error !== '' ? 'create-room-error' : undefined}
            onInput={(e) => { setName(e.currentTarget.value); setError('') }} />
        </label>
        {error !== '' && <p class='error' role='alert' id='create-room-error'>{error}</p>}
        <p class='muted small'>Room messages are end-to-end encrypted and signed by their authors. The name travels in the invite link only.</p>
        <div class='dialog-actions'>
          <button type='button' class='btn' onClick={onClose}>Cancel</button>
          <button type='submit' class='btn primary' disabled={busy}>{busy ? 'Creating…' : 'Create room'}</button>
        </div>
      </form>
    </Dialog>
  )
}

export function JoinRoomDialog ({ model, onClose, onJoined }: { model: ChatModel, onClose: () => void, onJoined: (roomId: string) => void }): preact.JSX.Element {
  const [invite, setInvite] = useState('')
  const [name, setName] = useState('')
  const { busy, error, setError, run } = useSubmit()
  return (
    <Dialog title='Join a room' onClose={onClose}>
      <form id='join-room-form' onSubmit={(e) => {
        e.preventDefault()
        if (invite.trim() === '') {
          setError('Paste the invite link (megachat://room/…) you were given.')
          return
        }
        void run(async () => {
          const room = await model.joinRoom(invite.trim(), name.trim() === '' ? undefined : name.trim())
          onJoined(room.roomId)
        })
      }}>
        <label class='field'>
          <span>Invite link</span>
          <input id='join-room-invite' class='mono' value={invite} autoComplete='off' spellcheck={false} placeholder='megachat://room/…'
            aria-invalid={error !== ''} aria-describedby={error !== '' ? 'join-room-error' : undefined}
            onInput={(e) => { setInvite(e.currentTarget.value); setError('') }} />
        </label>
        <label class='field'>
          <span>Name it here <span class='muted'>(optional)</span></span>
          <input id='join-room-name' value={name} autoComplete='off' onInput={(e) => { setName(e.currentTarget.value); setError('') }} />
        </label>
        {error !== '' && <p class='error' role='alert' id='join-room-error'>{error}</p>}
        <div class='dialog-actions'>
          <button type='button' class='btn' onClick={onClose}>Cancel</button>
          <button type='submit' class='btn primary' disabled={busy}>{busy ? 'Joining…' : 'Join room'}</button>
        </div>
      </form>
    </Dialog>
  )
}

export function QrDialog ({ model, onClose }: { model: ChatModel, onClose: () => void }): preact.JSX.Element {
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
