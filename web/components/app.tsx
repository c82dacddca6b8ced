/**
 * The chat interface: a sidebar of contacts and rooms, the open conversation (or the welcome screen,
 * or settings), the dialogs and the call. On a narrow screen only one of sidebar and main shows at a time.
 */
import { useSignalEffect } from '@preact/signals'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ConversationView } from './conversation.js'
import { CallLayer, DialogLayer, SettingsView, preloadParts } from './parts.js'
import { Sidebar } from './sidebar.js'
import { whenIdle } from './ui.js'
import { Welcome } from './welcome.js'
import type { NetworkConfig } from '../config.js'
import type { ChatModel } from '../model.js'
import type { ConversationKey } from '../messages.js'
import type { DialogKind } from './dialogs.js'

/** `notice`: something the start did that the user should hear of (a banner until dismissed). */
export function App ({ model, net, notice }: { model: ChatModel, net: NetworkConfig, notice?: string }): preact.JSX.Element {
  const view = model.view.value
  const status = model.status.value
  const [shownNotice, setNotice] = useState(notice)
  const [dialog, setDialog] = useState<DialogKind | undefined>(undefined)
  const drafts = useRef(new Map<ConversationKey, string>())
  useDocumentTitle(model)
  useRefuseStrayDrops()
  // the parts loaded on demand (parts.ts), there before they are opened
  useEffect(() => whenIdle(preloadParts), [])

  const openSettings = (): void => { model.openSettings() }
  const unreachable = status.state === 'unreachable' ? status.detail : undefined
  return (
    <div class='app' data-view={view.kind === 'home' ? 'list' : 'main'}>
      <Sidebar model={model} onDialog={setDialog} />
      <main class='main' id='main'>
        {shownNotice != null && (
          <div class='banner' role='status' id='start-notice'>
            <span>{shownNotice}</span>
            <button type='button' class='btn small' onClick={() => { setNotice(undefined) }}>OK</button>
          </div>
        )}
        {status.state === 'no-bootstrap' && view.kind !== 'settings' && (
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
        {view.kind === 'settings' && <SettingsView model={model} net={net} />}
        {view.kind === 'conversation' && <ConversationView key={view.key} model={model} convKey={view.key} drafts={drafts.current} />}
      </main>
      {/* a signal as the text: its changes update the text alone, without a render */}
      <div class='sr-only' aria-live='polite' aria-atomic='true'>{model.announcement}</div>
      {dialog != null && <DialogLayer model={model} dialog={dialog} onClose={() => { setDialog(undefined) }} />}
      {model.inCall.value && <CallLayer model={model} />}
    </div>
  )
}

/** The tab's title: who is calling, else how many messages are unread. */
function useDocumentTitle (model: ChatModel): void {
  useSignalEffect(() => {
    const unread = model.conversations.totalUnread.value
    const call = model.call.value
    const ringing = call?.state === 'incoming' ? model.nameOf(call.peer) : undefined
    document.title = ringing != null ? `Call from ${ringing} · MegaChat` : unread > 0 ? `(${unread}) MegaChat` : 'MegaChat'
  })
}

/** A file dropped outside the conversation would make the browser open it in place of the app (and stop the node). */
function useRefuseStrayDrops (): void {
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
}
