/**
 * The bar of a message request, drawn in the conversation with someone who is not a contact, and the
 * button for what cannot be undone (the details use it too).
 */
import { useState } from 'preact/hooks'
import { shortId } from '../messages.js'
import { errorText } from './ui.js'
import type { ComponentChildren } from 'preact'
import type { ChatModel } from '../model.js'

/**
 * A button for what cannot be undone (remove, block, leave): it asks `question` first, then runs
 * `action`; a failure goes to `onError` as one line, which the caller shows where it fits.
 */
export function ConfirmButton ({ question, action, onError, children }: { question: string, action: () => Promise<void>, onError: (text: string) => void, children: ComponentChildren }): preact.JSX.Element {
  return (
    <button type='button' class='btn small danger' onClick={() => {
      if (!confirm(question)) return
      onError('')
      action().catch(err => { onError(errorText(err)) })
    }}>{children}</button>
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
