/**
 * The open conversation: its header (call buttons, safety code, details), a message request's bar, the
 * messages and the composer; files dropped on it are sent there.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { shortId, splitKey } from '../messages.js'
import { lastSeen } from './format.js'
import { Composer } from './composer.js'
import { ContactDetails, RoomDetails, StrangerDetails } from './parts.js'
import { RequestBar } from './request.js'
import { MessageList } from './message-list.js'
import { Avatar, Icon, errorText } from './ui.js'
import type { ChatModel } from '../model.js'
import type { ConversationKey } from '../messages.js'

export function ConversationView ({ model, convKey, drafts }: {
  model: ChatModel
  convKey: ConversationKey
  drafts: Map<ConversationKey, string>
}): preact.JSX.Element {
  const [kind, id] = splitKey(convKey)
  const contact = kind === 'dm' ? model.contacts.value.find(c => c.peerId === id) : undefined
  const room = kind === 'room' ? model.rooms.value.find(r => r.roomId === id) : undefined
  const inCall = model.inCall.value
  const callNotice = model.callNotice.value
  const onBack = (): void => { model.goHome() }
  const [details, setDetails] = useState(false)
  const title = room?.name ?? contact?.name ?? shortId(id)
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
  const callable = kind === 'dm' && !inCall && contact?.online === true
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
            <button type='button' class='icon-btn' aria-label={`Voice call ${title}`} title='Voice call' disabled={inCall}
              onPointerEnter={prepare} onFocus={prepare} onClick={() => { model.startCall(id, false).catch(() => {}) }}>
              <Icon name='phone' />
            </button>
            <button type='button' class='icon-btn' aria-label={`Video call ${title}`} title='Video call' disabled={inCall}
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
      {callNotice != null && callNotice.peer === id && (
        <div class='banner' role='alert' data-testid='call-notice'>
          <span>{callNotice.text}</span>
          <button type='button' class='btn small' onClick={() => { model.dismissCallNotice() }}>OK</button>
        </div>
      )}
      {contact == null && room == null && <RequestBar key={id} model={model} peerId={id} />}
      <MessageList model={model} convKey={convKey} isRoom={room != null} empty={emptyText(title, contact != null, room != null)} />
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
