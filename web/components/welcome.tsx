import { CopyButton, Icon, QrCode } from './ui.js'
import type { ChatModel } from '../model.js'
import type { DialogKind } from './dialogs.js'

/** The main area with no conversation open: your peer ID (and its QR code) and the first steps. */
export function Welcome ({ model, onDialog }: { model: ChatModel, onDialog: (d: DialogKind) => void }): preact.JSX.Element {
  return (
    <section class='welcome' aria-labelledby='welcome-heading'>
      <div class='welcome-card'>
        <h2 id='welcome-heading'>Welcome to MegaChat</h2>
        <p class='muted'>Private, peer-to-peer and end-to-end encrypted. This tab is your node: no server reads or keeps your messages.</p>
        <div class='welcome-id'>
          <QrCode text={model.me} label='QR code of your peer ID' />
          <div>
            <div class='me-label'>Give your friends your peer ID</div>
            <code class='peer-id full'>{model.me}</code>
            <CopyButton text={model.me} label='Copy your peer ID' />
          </div>
        </div>
        <div class='welcome-actions'>
          <button type='button' class='btn primary' onClick={() => { onDialog('add-contact') }}><Icon name='plus' size={16} /> Add a contact</button>
          <button type='button' class='btn' onClick={() => { onDialog('create-room') }}>Create a room</button>
          <button type='button' class='btn' onClick={() => { onDialog('join-room') }}><Icon name='link' size={16} /> Join by invite link</button>
        </div>
      </div>
    </section>
  )
}
