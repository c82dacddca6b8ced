/** The composer: the message box (growing with the text), attach and paste of files, and the byte count near the limit. */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { MAX_TEXT_BYTES } from '../../src/index.js'
import { Icon, errorText } from './ui.js'

export function Composer ({ label, initial, onDraft, onSend, onFiles, fileError }: {
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
