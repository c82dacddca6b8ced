/**
 * The chat interface: a sidebar of contacts and rooms, the open conversation (or the welcome screen,
 * or settings) and the dialogs. On a narrow screen only one of sidebar and main shows at a time.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { MAX_TEXT_BYTES } from '../src/index.js'
import { CallView, IncomingCall } from './call.js'
import { AddContactDialog, CreateRoomDialog, JoinRoomDialog, QrDialog } from './dialogs.js'
import { dmKey, roomKey, shortId } from './model.js'
import { SettingsView } from './settings.js'
import { ConnectionDetails } from './diagnosis.js'
import { Avatar, CopyButton, Icon, QrCode, errorText, useModel } from './ui.js'
import type { NetworkConfig } from './config.js'
import type { ChatModel, ConversationKey, Status, UiMessage } from './model.js'

type View = { kind: 'home' } | { kind: 'settings' } | { kind: 'conversation', key: ConversationKey }
type DialogKind = 'add-contact' | 'create-room' | 'join-room' | 'qr'

export function StatusLine ({ status }: { status: Status }): preact.JSX.Element {
  useEffect(() => { document.body.dataset.state = status.state }, [status.state])
  return (
    <p id='status' class='status' role='status' data-state={status.state}>
      <span class='status-dot' aria-hidden='true' />
      <span>{status.text}</span>
    </p>
  )
}

/** `notice`: something the start did that the user should hear of (a banner until dismissed). */
export function App ({ model, net, notice }: { model: ChatModel, net: NetworkConfig, notice?: string }): preact.JSX.Element {
  useModel(model)
  const [view, setView] = useState<View>({ kind: 'home' })
  const [shownNotice, setNotice] = useState(notice)
  const [dialog, setDialog] = useState<DialogKind | undefined>(undefined)
  const drafts = useRef(new Map<ConversationKey, string>())

  const open = (key: ConversationKey): void => {
    model.setActive(key)
    setView({ kind: 'conversation', key })
  }
  const goHome = (): void => {
    model.setActive(undefined)
    setView({ kind: 'home' })
  }
  const openSettings = (): void => {
    model.setActive(undefined)
    setView({ kind: 'settings' })
  }

  // a conversation whose contact or room went away closes
  if (view.kind === 'conversation') {
    const [kind, id] = splitKey(view.key)
    const gone = kind === 'room' ? !model.rooms.some(r => r.roomId === id) : !model.contacts.some(c => c.peerId === id) && !model.strangers.has(id)
    if (gone) queueMicrotask(goHome)
  }

  const unread = model.totalUnread()
  const ringing = model.call?.state === 'incoming' ? model.nameOf(model.call.peer) : undefined
  useEffect(() => {
    document.title = ringing != null ? `Call from ${ringing} · MegaChat` : unread > 0 ? `(${unread}) MegaChat` : 'MegaChat'
  }, [unread, ringing])

  // a file dropped outside the conversation would make the browser open it in place of the app (and stop the node)
  useEffect(() => {
    const refuse = (e: DragEvent): void => {
      if (e.dataTransfer?.types.includes('Files') === true && !e.defaultPrevented) {
        e.preventDefault()
        e.dataTransfer.dropEffect = 'none'
      }
    }
    addEventListener('dragover', refuse)
    addEventListener('drop', refuse)
    return () => {
      removeEventListener('dragover', refuse)
      removeEventListener('drop', refuse)
    }
  }, [])

  const noBootstrap = model.status.state === 'no-bootstrap'
  const unreachable = model.status.state === 'unreachable' ? model.status.detail : undefined
  return (
    <div class='app' data-view={view.kind === 'home' ? 'list' : 'main'}>
      <Sidebar model={model} active={view.kind === 'conversation' ? view.key : undefined} settingsOpen={view.kind === 'settings'}
        onOpen={open} onDialog={setDialog} onSettings={openSettings} />
      <main class='main' id='main'>
        {shownNotice != null && (
          <div class='banner' role='status' id='start-notice'>
            <span>{shownNotice}</span>
            <button type='button' class='btn small' onClick={() => { setNotice(undefined) }}>OK</button>
          </div>
        )}
        {noBootstrap && view.kind !== 'settings' && (
          <div class='banner' role='alert'>
            <span>No bootstrap node configured: nobody can reach you yet.</span>
            <button type='button' class='btn small' onClick={openSettings}>Open Settings</button>
          </div>
        )}
        {unreachable != null && view.kind !== 'settings' && (
          <div class='banner' role='alert' id='bootstrap-banner'>
            <span>{unreachable}</span>
            <button type='button' class='btn small' onClick={openSettings}>Open Settings</button>
          </div>
        )}
        {view.kind === 'home' && <Welcome model={model} onDialog={setDialog} />}
        {view.kind === 'settings' && <SettingsView model={model} net={net} onBack={goHome} />}
        {view.kind === 'conversation' && (
          <ConversationView key={view.key} model={model} convKey={view.key} drafts={drafts.current} onBack={goHome} />
        )}
      </main>
      <div class='sr-only' aria-live='polite' aria-atomic='true'>{model.announcement}</div>
      {dialog === 'add-contact' && <AddContactDialog model={model} onClose={() => { setDialog(undefined) }} onAdded={(peerId) => { setDialog(undefined); open(dmKey(peerId)) }} />}
      {dialog === 'create-room' && <CreateRoomDialog model={model} onClose={() => { setDialog(undefined) }} onOpen={(roomId) => { setDialog(undefined); open(roomKey(roomId)) }} />}
      {dialog === 'join-room' && <JoinRoomDialog model={model} onClose={() => { setDialog(undefined) }} onJoined={(roomId) => { setDialog(undefined); open(roomKey(roomId)) }} />}
      {dialog === 'qr' && <QrDialog model={model} onClose={() => { setDialog(undefined) }} />}
      {model.call != null && model.call.state === 'incoming' && <IncomingCall key={model.call.id} model={model} call={model.call} />}
      {model.call != null && model.call.state !== 'incoming' && <CallView key={model.call.id} model={model} call={model.call} session={model.session} />}
    </div>
  )
}

function splitKey (key: ConversationKey): ['dm' | 'room', string] {
  const i = key.indexOf(':')
  return [key.slice(0, i) as 'dm' | 'room', key.slice(i + 1)]
}

function Sidebar ({ model, active, settingsOpen, onOpen, onDialog, onSettings }: {
  model: ChatModel
  active?: ConversationKey
  settingsOpen: boolean
  onOpen: (key: ConversationKey) => void
  onDialog: (d: DialogKind) => void
  onSettings: () => void
}): preact.JSX.Element {
  const strangers = [...model.strangers]
  return (
    <aside class='sidebar' aria-label='Contacts and rooms'>
      <header class='sidebar-header'>
        <h1 class='brand'><span class='brand-mark' aria-hidden='true'>◆</span> MegaChat</h1>
        <button type='button' class={`icon-btn${settingsOpen ? ' active' : ''}`} aria-label='Settings' title='Settings' onClick={onSettings}>
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
        <StatusLine status={model.status} />
      </div>
      <nav class='lists' aria-label='Conversations'>
        <section aria-labelledby='contacts-heading'>
          <div class='list-header'>
            <h2 id='contacts-heading'>Contacts</h2>
            <button type='button' class='icon-btn small' aria-label='Add contact' title='Add contact' onClick={() => { onDialog('add-contact') }}>
              <Icon name='plus' />
            </button>
          </div>
          {model.contacts.length === 0 && <p class='list-empty'>No contacts yet. Add one by their peer ID.</p>}
          <ul class='list' id='contact-list'>
            {model.contacts.map(c => {
              const key = dmKey(c.peerId)
              return (
                <ListItem key={key} model={model} convKey={key} active={active === key} onOpen={onOpen}
                  title={c.name} avatar={<Avatar name={c.name} />} online={c.online} dataId={c.peerId}
                  subtitle={preview(model, key) ?? (c.online ? 'online' : lastSeen(c.lastSeen))} />
              )
            })}
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
          {model.rooms.length === 0 && <p class='list-empty'>No rooms yet. Create one or join by invite link.</p>}
          <ul class='list' id='room-list'>
            {model.rooms.map(r => {
              const key = roomKey(r.roomId)
              return (
                <ListItem key={key} model={model} convKey={key} active={active === key} onOpen={onOpen}
                  title={r.name} avatar={<Avatar name={r.name} kind='room' />} dataId={r.roomId}
                  subtitle={preview(model, key) ?? `${r.online} online`} />
              )
            })}
          </ul>
        </section>
        {strangers.length > 0 && (
          <section aria-labelledby='others-heading'>
            <div class='list-header'><h2 id='others-heading'>Message requests</h2></div>
            <ul class='list'>
              {strangers.map(p => {
                const key = dmKey(p)
                return (
                  <ListItem key={key} model={model} convKey={key} active={active === key} onOpen={onOpen}
                    title={shortId(p)} avatar={<Avatar name={p.slice(-4)} />} dataId={p} subtitle={preview(model, key) ?? ''} />
                )
              })}
            </ul>
          </section>
        )}
      </nav>
    </aside>
  )
}

function preview (model: ChatModel, key: ConversationKey): string | undefined {
  const last = model.lastOf(key)
  if (last == null) return undefined
  // a call's line says itself who did what ("They declined your voice call")
  const who = last.call != null ? '' : key.startsWith('room:') && !last.mine ? `${model.nameOf(last.from)}: ` : last.mine ? 'You: ' : ''
  return who + (last.file != null ? `File: ${last.text}` : last.text.replace(/\s+/g, ' '))
}

function ListItem ({ model, convKey, active, onOpen, title, subtitle, avatar, online, dataId }: {
  model: ChatModel
  convKey: ConversationKey
  active: boolean
  onOpen: (key: ConversationKey) => void
  title: string
  subtitle: string
  avatar: preact.JSX.Element
  online?: boolean
  dataId: string
}): preact.JSX.Element {
  const unread = model.unread(convKey)
  const last = model.lastOf(convKey)
  const label = [title, online === true ? 'online' : online === false ? 'offline' : '', unread > 0 ? `${unread} unread` : ''].filter(x => x !== '').join(', ')
  return (
    <li>
      <button type='button' class={`item${active ? ' active' : ''}${unread > 0 ? ' has-unread' : ''}`} aria-current={active ? 'true' : undefined}
        aria-label={label} onClick={() => { onOpen(convKey) }} data-id={dataId} data-name={title}>
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

function Welcome ({ model, onDialog }: { model: ChatModel, onDialog: (d: DialogKind) => void }): preact.JSX.Element {
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

function ConversationView ({ model, convKey, drafts, onBack }: {
  model: ChatModel
  convKey: ConversationKey
  drafts: Map<ConversationKey, string>
  onBack: () => void
}): preact.JSX.Element {
  const [kind, id] = splitKey(convKey)
  const contact = kind === 'dm' ? model.contacts.find(c => c.peerId === id) : undefined
  const room = kind === 'room' ? model.rooms.find(r => r.roomId === id) : undefined
  const [details, setDetails] = useState(false)
  const title = room?.name ?? contact?.name ?? shortId(id)
  const messages = model.messagesOf(convKey)
  const [sendError, setSendError] = useState('')
  const sendFiles = (files: File[]): void => {
    if (files.length === 0) return
    setSendError('')
    model.sendFiles(convKey, files).catch(err => { setSendError(errorText(err)) })
  }
  const drop = useFileDrop(sendFiles)

  const send = async (text: string): Promise<void> => {
    if (kind === 'room') await model.say(id, text)
    else await model.send(id, text)
  }

  // the call's signalling stream opens while the conversation is open, so that a call starts sooner
  const callable = kind === 'dm' && model.call == null && contact?.online === true
  useEffect(() => { if (callable) model.prepareCall(id) }, [model, id, callable])
  const prepare = (): void => { if (callable) model.prepareCall(id) }

  let subtitle: string
  if (room != null) subtitle = `${room.online} online · encrypted room`
  else if (contact != null) subtitle = contact.online ? 'online' : lastSeen(contact.lastSeen)
  else subtitle = 'not in your contacts'

  return (
    <section class='conversation' aria-labelledby='conversation-title' data-key={convKey} {...drop.handlers}>
      {drop.over && (
        <div class='drop-overlay' id='drop-overlay' aria-hidden='true'>
          <div class='drop-card'><Icon name='paperclip' size={28} /><span>Drop to send to {title}</span></div>
        </div>
      )}
      <header class='conv-header'>
        <button type='button' class='icon-btn back' aria-label='Back to conversations' onClick={onBack}><Icon name='back' /></button>
        <span class='item-avatar'>
          <Avatar name={title} kind={room != null ? 'room' : 'person'} />
          {contact != null && <span class={`presence ${contact.online ? 'online' : 'offline'}`} aria-hidden='true' />}
        </span>
        <div class='conv-title'>
          <h2 id='conversation-title'>{title}</h2>
          <p class='conv-sub'>{subtitle}</p>
        </div>
        {kind === 'dm' && (
          <div class='call-buttons'>
            <button type='button' class='icon-btn' aria-label={`Voice call ${title}`} title='Voice call' disabled={model.call != null}
              onPointerEnter={prepare} onFocus={prepare} onClick={() => { model.startCall(id, false).catch(() => {}) }}>
              <Icon name='phone' />
            </button>
            <button type='button' class='icon-btn' aria-label={`Video call ${title}`} title='Video call' disabled={model.call != null}
              onPointerEnter={prepare} onFocus={prepare} onClick={() => { model.startCall(id, true).catch(() => {}) }}>
              <Icon name='video' />
            </button>
          </div>
        )}
        {contact != null && (
          <p class='safety-inline' title='Compare this code with your contact'>
            <Icon name='shield' size={14} /> <span class='safety-code'>{contact.safetyCode}</span>
          </p>
        )}
        <button type='button' class={`icon-btn${details ? ' active' : ''}`} aria-expanded={details} aria-controls='conv-details'
          aria-label={room != null ? 'Room details and invite link' : 'Contact details and safety code'} onClick={() => { setDetails(!details) }}>
          <Icon name='info' />
        </button>
      </header>
      {details && (
        <div id='conv-details' class='details'>
          {contact != null && <ContactDetails model={model} peerId={id} safetyCode={contact.safetyCode} name={contact.name} />}
          {room != null && <RoomDetails model={model} roomId={id} invite={room.invite} />}
          {contact == null && room == null && <StrangerDetails peerId={id} />}
        </div>
      )}
      {model.callNotice != null && model.callNotice.peer === id && (
        <div class='banner' role='alert' data-testid='call-notice'>
          <span>{model.callNotice.text}</span>
          <button type='button' class='btn small' onClick={() => { model.dismissCallNotice() }}>OK</button>
        </div>
      )}
      {contact == null && room == null && <RequestBar key={id} model={model} peerId={id} />}
      <MessageList model={model} messages={messages} isRoom={room != null} empty={emptyText(title, contact != null, room != null)} />
      <Composer key={convKey} label={`Message ${room != null ? 'the room ' : ''}${title}`}
        initial={drafts.get(convKey) ?? ''} onDraft={(t) => { drafts.set(convKey, t) }} onSend={send}
        onFiles={sendFiles} fileError={sendError} />
    </section>
  )
}

/** Files dragged over the conversation: whether they are over it now, and the handlers that send them when dropped. */
function useFileDrop (onFiles: (files: File[]) => void): { over: boolean, handlers: Record<string, (e: DragEvent) => void> } {
  const [over, setOver] = useState(false)
  // dragenter and dragleave come for every child the pointer crosses: count them
  const depth = useRef(0)
  const hasFiles = (e: DragEvent): boolean => e.dataTransfer?.types.includes('Files') === true
  return {
    over,
    handlers: {
      onDragEnter: (e) => {
        if (!hasFiles(e)) return
        e.preventDefault()
        depth.current++
        setOver(true)
      },
      onDragOver: (e) => {
        if (!hasFiles(e)) return
        e.preventDefault()
        if (e.dataTransfer != null) e.dataTransfer.dropEffect = 'copy'
      },
      onDragLeave: (e) => {
        if (!hasFiles(e)) return
        depth.current = Math.max(0, depth.current - 1)
        if (depth.current === 0) setOver(false)
      },
      onDrop: (e) => {
        if (!hasFiles(e)) return
        e.preventDefault()
        depth.current = 0
        setOver(false)
        onFiles([...(e.dataTransfer?.files ?? [])])
      }
    }
  }
}

function emptyText (title: string, isContact: boolean, isRoom: boolean): string {
  if (isRoom) return `No messages in ${title} yet. Share the invite link (ⓘ) with the people who should join.`
  if (isContact) return `No messages with ${title} yet. Compare your safety code with them, then say hello.`
  return 'No messages yet.'
}

function ContactDetails ({ model, peerId, safetyCode, name }: { model: ChatModel, peerId: string, safetyCode: string, name: string }): preact.JSX.Element {
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
          <button type='button' class='btn small danger' onClick={() => {
            if (!confirm(`Remove ${name} from your contacts? The conversation stays in your history.`)) return
            model.removeContact(peerId).catch(err => { setError(errorText(err)) })
          }}>Remove contact</button>
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

function StrangerDetails ({ peerId }: { peerId: string }): preact.JSX.Element {
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
function RequestBar ({ model, peerId }: { model: ChatModel, peerId: string }): preact.JSX.Element {
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
        <button type='button' class='btn small danger' onClick={() => {
          if (!confirm(`Block ${shortId(peerId)}? Their connections and messages are refused, and this conversation is deleted.`)) return
          model.block(peerId).catch(err => { setError(errorText(err)) })
        }}>Block</button>
      </div>
      {error !== '' && <p class='error' role='alert'>{error}</p>}
    </form>
  )
}

function RoomDetails ({ model, roomId, invite }: { model: ChatModel, roomId: string, invite: string }): preact.JSX.Element {
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
          <button type='button' class='btn small danger' onClick={() => {
            if (!confirm('Leave this room? Its messages are forgotten on this device.')) return
            model.leaveRoom(roomId).catch(err => { setError(errorText(err)) })
          }}>Leave room</button>
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

function MessageList ({ model, messages, isRoom, empty }: { model: ChatModel, messages: UiMessage[], isRoom: boolean, empty: string }): preact.JSX.Element {
  const ref = useRef<HTMLOListElement>(null)
  const stick = useRef(true)
  const last = messages[messages.length - 1]
  useLayoutEffect(() => {
    const el = ref.current
    if (el == null) return
    if (stick.current || last?.mine === true) el.scrollTop = el.scrollHeight
  }, [messages.length, last?.id])
  const rows: preact.JSX.Element[] = []
  let day = ''
  let prev: UiMessage | undefined
  for (const m of messages) {
    const d = new Date(m.timestamp).toDateString()
    if (d !== day) {
      day = d
      prev = undefined
      rows.push(<li key={`day-${d}`} class='day' role='separator'><span>{dayLabel(m.timestamp)}</span></li>)
    }
    if (m.call != null) {
      rows.push(<CallEntry key={m.id} m={m} />)
      prev = undefined
      continue
    }
    const grouped = prev != null && prev.from === m.from && m.timestamp - prev.timestamp < 5 * 60_000
    rows.push(<Message key={m.id} model={model} m={m} author={model.nameOf(m.from)} showAuthor={isRoom && !m.mine && !grouped} grouped={grouped} />)
    prev = m
  }
  return (
    <ol class='messages' ref={ref} aria-label='Messages' tabIndex={0}
      onScroll={(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60 }}>
      {messages.length === 0 && <li class='messages-empty'>{empty}</li>}
      {rows}
    </ol>
  )
}

function Message ({ model, m, author, showAuthor, grouped }: { model: ChatModel, m: UiMessage, author: string, showAuthor: boolean, grouped: boolean }): preact.JSX.Element {
  const time = new Date(m.timestamp)
  return (
    <li class={`msg ${m.mine ? 'out' : 'in'}${grouped ? ' grouped' : ''}`} data-id={m.id} data-state={m.state}>
      <div class={`bubble${m.file != null ? ' file-bubble' : ''}`}>
        {showAuthor && <div class='author'>{author}</div>}
        <span class='sr-only'>{m.mine ? 'You' : author}: </span>
        {m.file != null ? <LazyFileBubble model={model} id={m.file} name={m.text} /> : <div class='text'>{m.text}</div>}
        <div class='meta'>
          <time dateTime={time.toISOString()} title={time.toLocaleString()}>{shortTime(m.timestamp)}</time>
          {m.mine && m.state != null && (
            <span class={`tick ${m.state}`} title={m.state === 'delivered' ? 'Delivered' : 'Waiting for delivery'} aria-label={m.state === 'delivered' ? 'delivered' : 'waiting'}>
              {m.state === 'delivered' ? '✓' : '⋯'}
            </span>
          )}
        </div>
      </div>
    </li>
  )
}

type FileMessageModule = typeof import('./file-message.js')
let fileMessage: FileMessageModule | undefined

/**
 * A file's bubble: its code (the bubble, inline pictures, the lightbox) is a chunk of its own, loaded
 * when the first file shows; until then, its name.
 */
function LazyFileBubble ({ model, id, name }: { model: ChatModel, id: string, name: string }): preact.JSX.Element {
  const [mod, setMod] = useState(fileMessage)
  const [failed, setFailed] = useState(false)
  useEffect(() => {
    if (mod == null) import('./file-message.js').then(m => { fileMessage = m; setMod(m) }, () => { setFailed(true) })
  }, [])
  if (mod != null) return <mod.FileBubble model={model} id={id} name={name} />
  return (
    <div class='file' data-state='loading'>
      <span class='file-icon' aria-hidden='true'><Icon name='file' /></span>
      <div class='file-body'><div class='file-name'>{name}</div>{failed && <div class='file-sub'>could not be shown (reload the page)</div>}</div>
    </div>
  )
}

/** A call in the history: a line across the conversation, red when missed. */
function CallEntry ({ m }: { m: UiMessage }): preact.JSX.Element {
  const time = new Date(m.timestamp)
  const missed = !m.mine && m.call?.outcome === 'missed'
  return (
    <li class={`call-entry${missed ? ' missed' : ''}`} data-id={m.id} data-outcome={m.call?.outcome}>
      <span class='call-entry-pill'>
        <Icon name={m.call?.video === true ? 'video' : 'phone'} size={14} />
        <span class='text'>{m.text}</span>
        <time dateTime={time.toISOString()} title={time.toLocaleString()}>{shortTime(m.timestamp)}</time>
      </span>
    </li>
  )
}

function Composer ({ label, initial, onDraft, onSend, onFiles, fileError }: {
  label: string
  initial: string
  onDraft: (text: string) => void
  onSend: (text: string) => Promise<void>
  /** files picked with the attach button, or pictures pasted */
  onFiles: (files: File[]) => void
  /** why the last file could not be sent */
  fileError: string
}): preact.JSX.Element {
  const [text, setText] = useState(initial)
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const ref = useRef<HTMLTextAreaElement>(null)
  const bytes = new TextEncoder().encode(text).byteLength
  useEffect(() => { ref.current?.focus() }, [])
  useLayoutEffect(() => {
    const el = ref.current
    if (el == null) return
    // grow with the text up to 160px, then scroll; the borders are outside scrollHeight
    el.style.height = 'auto'
    const border = el.offsetHeight - el.clientHeight
    el.style.height = `${Math.min(el.scrollHeight + border, 160)}px`
    el.style.overflowY = el.scrollHeight + border > 160 ? 'auto' : 'hidden'
  }, [text])
  const update = (t: string): void => {
    setText(t)
    onDraft(t)
    if (error !== '') setError('')
  }
  const submit = async (): Promise<void> => {
    if (busy || text.trim() === '') return
    setBusy(true)
    try {
      await onSend(text)
      update('')
    } catch (err) {
      // the text stays in the box, with one line saying what is wrong
      setError(errorText(err))
    } finally {
      setBusy(false)
      ref.current?.focus()
    }
  }
  return (
    <form class='composer' onSubmit={(e) => { e.preventDefault(); void submit() }}>
      {error !== '' && <p class='error composer-error' role='alert' id='composer-error'>{error}</p>}
      {fileError !== '' && <p class='error composer-error' role='alert' id='file-error'>{fileError}</p>}
      <div class='composer-row'>
        <label class='icon-btn attach' title='Attach a file'>
          <input type='file' multiple class='sr-only' aria-label='Attach a file' onChange={(e) => {
            const input = e.currentTarget
            onFiles([...(input.files ?? [])])
            input.value = '' // the same file can be picked again
          }} />
          <Icon name='paperclip' />
        </label>
        <label class='sr-only' for='composer-input'>{label}</label>
        <textarea id='composer-input' ref={ref} rows={1} value={text} placeholder={`${label}…`}
          aria-invalid={error !== ''} aria-describedby={error !== '' ? 'composer-error' : 'composer-hint'}
          onInput={(e) => { update(e.currentTarget.value) }}
          onPaste={(e) => {
            // a picture on the clipboard (a screenshot, a copied image) is sent as a file; text pastes as text
            const pictures = [...(e.clipboardData?.files ?? [])].filter(f => f.type.startsWith('image/'))
            if (pictures.length === 0) return
            e.preventDefault()
            onFiles(pictures.map(pastedName))
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault()
              void submit()
            }
          }} />
        <button type='submit' class='btn primary send' aria-label='Send' disabled={busy || text.trim() === ''}>
          <Icon name='send' />
        </button>
      </div>
      <p class='composer-hint' id='composer-hint'>
        {bytes > MAX_TEXT_BYTES * 0.9
          ? <span class={bytes > MAX_TEXT_BYTES ? 'over' : ''}>{bytes} / {MAX_TEXT_BYTES} bytes</span>
          : <span>Enter to send · Shift+Enter for a new line</span>}
      </p>
    </form>
  )
}

/** A pasted picture is called "image.png" by the browser: give it the time it was pasted. */
function pastedName (f: File): File {
  if (f.name !== '' && f.name !== 'image.png') return f
  const d = new Date()
  const two = (n: number): string => String(n).padStart(2, '0')
  const ext = f.type.split('/')[1]?.replace('jpeg', 'jpg') ?? 'png'
  return new File([f], `Pasted image ${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}.${two(d.getMinutes())}.${two(d.getSeconds())}.${ext}`, { type: f.type })
}

function shortTime (ts: number): string {
  const d = new Date(ts)
  if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' })
}

function dayLabel (ts: number): string {
  const d = new Date(ts)
  const today = new Date()
  const yesterday = new Date(today.getTime() - 86_400_000)
  if (d.toDateString() === today.toDateString()) return 'Today'
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday'
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', ...(d.getFullYear() !== today.getFullYear() ? { year: 'numeric' } : {}) })
}

function lastSeen (ts?: number): string {
  if (ts == null) return 'offline'
  const mins = Math.round((Date.now() - ts) / 60_000)
  if (mins < 1) return 'last seen just now'
  if (mins < 60) return `last seen ${mins} min ago`
  if (mins < 24 * 60) return `last seen ${Math.round(mins / 60)} h ago`
  return `last seen ${new Date(ts).toLocaleDateString()}`
}
