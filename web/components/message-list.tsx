/** The messages of a conversation: days, grouped bubbles, files (their code loaded when one first shows) and calls. */
import { useLayoutEffect, useRef } from 'preact/hooks'
import { dayLabel, shortTime } from './format.js'
import { Icon } from './ui.js'
import { lazy } from './lazy.js'
import type { ChatModel } from '../model.js'
import type { ConversationKey, UiMessage } from '../messages.js'

export function MessageList ({ model, convKey, isRoom, empty }: { model: ChatModel, convKey: ConversationKey, isRoom: boolean, empty: string }): preact.JSX.Element {
  const messages = model.conversations.messagesOf(convKey)
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

/**
 * A file's bubble: its code (the bubble, inline pictures, the lightbox) is a chunk of its own, loaded
 * when the first file shows; until then, its name.
 */
const LazyFileBubble = lazy<{ model: ChatModel, id: string, name: string }>(async () => (await import('./file-message.js')).FileBubble, ({ name }, failed) => (
  <div class='file' data-state='loading'>
    <span class='file-icon' aria-hidden='true'><Icon name='file' /></span>
    <div class='file-body'><div class='file-name'>{name}</div>{failed && <div class='file-sub'>could not be shown (reload the page)</div>}</div>
  </div>
))

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
