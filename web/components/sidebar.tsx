/** The sidebar: who you are, the connection status, and the lists of contacts, rooms and message requests. */
import { dmKey, roomKey, shortId } from '../messages.js'
import { shortTime, lastSeen } from './format.js'
import { StatusLine } from './status-line.js'
import { Avatar, CopyButton, Icon } from './ui.js'
import type { ChatModel } from '../model.js'
import type { ConversationKey } from '../messages.js'
import type { DialogKind } from './dialogs.js'

export function Sidebar ({ model, onDialog }: { model: ChatModel, onDialog: (d: DialogKind) => void }): preact.JSX.Element {
  const settingsOpen = model.view.value.kind === 'settings'
  const contacts = model.contacts.value
  const rooms = model.rooms.value
  const strangers = [...model.strangers.value]
  return (
    <aside class='sidebar' aria-label='Contacts and rooms'>
      <header class='sidebar-header'>
        <h1 class='brand'><span class='brand-mark' aria-hidden='true'>◆</span> MegaChat</h1>
        <button type='button' class={`icon-btn${settingsOpen ? ' active' : ''}`} aria-label='Settings' title='Settings' onClick={() => { model.openSettings() }}>
          <Icon name='gear' />
        </button>
      </header>
      <div class='me'>
        <div class='me-label'>Your peer ID</div>
        <code id='peer-id' class='peer-id' title={model.me}>{model.me}</code>
        <div class='me-actions'>
          <CopyButton text={model.me} label='Copy your peer ID' class='btn small' />
          <button type='button' class='btn small' onClick={() => { onDialog('qr') }} aria-label='Show your peer ID as a QR code'>
            <Icon name='qr' size={16} /> QR
          </button>
        </div>
        <StatusLine status={model.status.value} />
      </div>
      <nav class='lists' aria-label='Conversations'>
        <section aria-labelledby='contacts-heading'>
          <div class='list-header'>
            <h2 id='contacts-heading'>Contacts</h2>
            <button type='button' class='icon-btn small' aria-label='Add contact' title='Add contact' onClick={() => { onDialog('add-contact') }}>
              <Icon name='plus' />
            </button>
          </div>
          {contacts.length === 0 && <p class='list-empty'>No contacts yet. Add one by their peer ID.</p>}
          <ul class='list' id='contact-list'>
            {contacts.map(c => (
              <ListItem key={c.peerId} model={model} convKey={dmKey(c.peerId)} title={c.name} avatar={<Avatar name={c.name} />}
                online={c.online} dataId={c.peerId} idle={c.online ? 'online' : lastSeen(c.lastSeen)} />
            ))}
          </ul>
        </section>
        <section aria-labelledby='rooms-heading'>
          <div class='list-header'>
            <h2 id='rooms-heading'>Rooms</h2>
            <div class='list-actions'>
              <button type='button' class='btn small ghost' onClick={() => { onDialog('join-room') }}>Join</button>
              <button type='button' class='icon-btn small' aria-label='Create room' title='Create room' onClick={() => { onDialog('create-room') }}>
                <Icon name='plus' />
              </button>
            </div>
          </div>
          {rooms.length === 0 && <p class='list-empty'>No rooms yet. Create one or join by invite link.</p>}
          <ul class='list' id='room-list'>
            {rooms.map(r => (
              <ListItem key={r.roomId} model={model} convKey={roomKey(r.roomId)} title={r.name} avatar={<Avatar name={r.name} kind='room' />}
                dataId={r.roomId} idle={`${r.online} online`} />
            ))}
          </ul>
        </section>
        {strangers.length > 0 && (
          <section aria-labelledby='others-heading'>
            <div class='list-header'><h2 id='others-heading'>Message requests</h2></div>
            <ul class='list'>
              {strangers.map(p => (
                <ListItem key={p} model={model} convKey={dmKey(p)} title={shortId(p)} avatar={<Avatar name={p.slice(-4)} />} dataId={p} idle='' />
              ))}
            </ul>
          </section>
        )}
      </nav>
    </aside>
  )
}

/** The last message of a conversation as one line, with who wrote it. */
function preview (model: ChatModel, key: ConversationKey): string | undefined {
  const last = model.conversations.lastOf(key)
  if (last == null) return undefined
  // a call's line says itself who did what ("They declined your voice call")
  const who = last.call != null ? '' : key.startsWith('room:') && !last.mine ? `${model.nameOf(last.from)}: ` : last.mine ? 'You: ' : ''
  return who + (last.file != null ? `File: ${last.text}` : last.text.replace(/\s+/g, ' '))
}

/** One conversation in a list; `idle` is its line while it has no messages. */
function ListItem ({ model, convKey, title, idle, avatar, online, dataId }: {
  model: ChatModel
  convKey: ConversationKey
  title: string
  idle: string
  avatar: preact.JSX.Element
  online?: boolean
  dataId: string
}): preact.JSX.Element {
  const active = model.active.value === convKey
  const unread = model.conversations.unread(convKey)
  const last = model.conversations.lastOf(convKey)
  const subtitle = preview(model, convKey) ?? idle
  const label = [title, online === true ? 'online' : online === false ? 'offline' : '', unread > 0 ? `${unread} unread` : ''].filter(x => x !== '').join(', ')
  return (
    <li>
      <button type='button' class={`item${active ? ' active' : ''}${unread > 0 ? ' has-unread' : ''}`} aria-current={active ? 'true' : undefined}
        aria-label={label} onClick={() => { model.open(convKey) }} data-id={dataId} data-name={title}>
        <span class='item-avatar'>
          {avatar}
          {online != null && <span class={`presence ${online ? 'online' : 'offline'}`} data-online={String(online)} aria-hidden='true' />}
        </span>
        <span class='item-text'>
          <span class='item-title'>
            <span class='item-name'>{title}</span>
            {last != null && <span class='item-time'>{shortTime(last.timestamp)}</span>}
          </span>
          <span class='item-sub'>
            <span class='item-preview'>{subtitle}</span>
            {unread > 0 && <span class='badge' aria-hidden='true'>{unread}</span>}
          </span>
        </span>
      </button>
    </li>
  )
}
