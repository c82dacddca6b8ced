/**
 * A file in the conversation: its bubble (preview or icon, name, size, a progress bar with speed and time
 * left while it moves, Download, Cancel, Save, or why it failed), pictures shown inline once here, and
 * the lightbox they open in. Everything shown comes from the transfer (ChatModel.transfer); the buttons call
 * chat.files.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { formatBytes } from '../../src/bytes.js'
import { isImage, saveBlob, timeLeft } from '../files.js'
import { Icon, errorText } from './ui.js'
import type { FileTransfer } from '../../src/files/types.js'
import type { ChatModel } from '../model.js'

/** An object URL for a Blob while the component shows it, revoked when it goes. */
function useObjectUrl (blob: Blob | undefined): string | undefined {
  const url = useMemo(() => blob != null ? URL.createObjectURL(blob) : undefined, [blob])
  useEffect(() => () => { if (url != null) URL.revokeObjectURL(url) }, [url])
  return url
}

/** The finished file's Blob (ours, or received), for pictures shown inline. */
function useFinished (model: ChatModel, t: FileTransfer | undefined): Blob | undefined {
  const [blob, setBlob] = useState<Blob | undefined>(undefined)
  const ready = t != null && (t.state === 'done' || t.state === 'serving') && isImage(t)
  useEffect(() => {
    if (!ready || t == null) return
    let live = true
    model.chat.files.blob(t.id).then(b => { if (live) setBlob(b) }, () => {})
    return () => { live = false }
  }, [model, t?.id, ready])
  return ready ? blob : undefined
}

export function FileBubble ({ model, id, name }: { model: ChatModel, id: string, name: string }): preact.JSX.Element {
  const t = model.transfer(id)
  const [error, setError] = useState('')
  const [lightbox, setLightbox] = useState(false)
  const opener = useRef<HTMLButtonElement>(null)
  const thumb = useMemo(() => t?.thumbnail != null ? new Blob([t.thumbnail as Uint8Array<ArrayBuffer>], { type: 'image/webp' }) : undefined, [t?.thumbnail])
  const thumbUrl = useObjectUrl(thumb)
  const full = useFinished(model, t)
  const fullUrl = useObjectUrl(full)

  if (t == null) {
    return (
      <div class='file' data-state='unknown'>
        <span class='file-icon'><Icon name='file' /></span>
        <div class='file-info'><div class='file-name'>{name}</div><div class='file-sub'>not available on this device</div></div>
      </div>
    )
  }

  const act = (what: () => Promise<unknown>): void => {
    setError('')
    what().catch(err => { setError(errorText(err)) })
  }
  const save = (): void => {
    act(async () => {
      const blob = await model.chat.files.blob(t.id)
      if (blob == null) throw new Error('the file is not on this device')
      saveBlob(blob, t.name)
    })
  }
  const moving = t.state === 'fetching' || t.state === 'paused' || (t.direction === 'out' && t.state === 'serving' && t.bytes > 0 && t.bytes < t.size)
  const percent = t.size > 0 ? Math.min(100, Math.floor(t.bytes * 100 / t.size)) : 100
  // our own file: Cancel while someone fetches it (stops serving it); nothing to save, we have it
  const canCancel = t.state === 'fetching' || t.state === 'paused' || (t.state === 'offered' && t.direction === 'in') || (t.state === 'serving' && moving)
  const canSave = t.state === 'done'

  return (
    <div class={`file${fullUrl != null ? ' has-image' : ''}`} data-file={t.id} data-state={t.state}>
      {fullUrl != null
        ? (
          <button type='button' class='file-image' ref={opener} aria-label={`Open the picture ${t.name}`} onClick={() => { setLightbox(true) }}>
            <img src={fullUrl} alt={t.name} />
          </button>)
        : thumbUrl != null
          ? <img class='file-thumb' src={thumbUrl} alt={`Preview of ${t.name}`} />
          : <span class='file-icon' aria-hidden='true'><Icon name='file' /></span>}
      <div class='file-body'>
        <div class='file-info'>
          <div class='file-name' title={t.name}>{t.name}</div>
          <div class='file-sub'>{statusLine(t)}</div>
        </div>
        {moving && (
          <div class={`progress${t.state === 'paused' ? ' paused' : ''}`} role='progressbar' aria-label={`${t.name}: ${percent}%`}
            aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
            <span style={{ width: `${percent}%` }} />
          </div>
        )}
        <div class='file-actions'>
          {t.state === 'offered' && t.direction === 'in' && (
            <button type='button' class='btn small primary' onClick={() => { act(async () => { await model.chat.files.fetch(t.id) }) }}>
              <Icon name='download' size={14} /> Download
            </button>
          )}
          {canSave && (
            <button type='button' class='btn small' aria-label={`Save ${t.name}`} onClick={save}><Icon name='download' size={14} /> Save</button>
          )}
          {canCancel && (
            <button type='button' class='btn small ghost' aria-label={`Cancel ${t.name}`} onClick={() => { act(async () => { await model.chat.files.cancel(t.id) }) }}>
              Cancel
            </button>
          )}
        </div>
        {t.state === 'failed' && <p class='file-error' role='alert'>{t.error ?? 'The transfer failed.'}</p>}
        {error !== '' && <p class='file-error' role='alert'>{error}</p>}
      </div>
      {lightbox && fullUrl != null && (
        <Lightbox src={fullUrl} name={t.name} onSave={save} onClose={() => { setLightbox(false); opener.current?.focus() }} />
      )}
    </div>
  )
}

/** What the line under the name says: the size, and how the transfer stands. */
function statusLine (t: FileTransfer): string {
  const size = formatBytes(t.size)
  switch (t.state) {
    case 'offered':
      return t.direction === 'in' ? `${size} · not downloaded yet` : `${size} · waiting`
    case 'fetching': {
      const left = timeLeft(t)
      return [`${formatBytes(t.bytes)} of ${size}`, t.rate > 0 ? `${formatBytes(t.rate)}/s` : 'starting…', left].filter(x => x !== '').join(' · ')
    }
    case 'paused':
      return `${formatBytes(t.bytes)} of ${size} · paused, resumes when they are back`
    case 'serving':
      return t.bytes > 0 && t.bytes < t.size ? `${size} · sending, ${formatBytes(t.rate)}/s` : t.bytes >= t.size && t.size > 0 ? `${size} · sent` : size
    case 'done':
      return size
    case 'cancelled':
      return `${size} · cancelled`
    case 'failed':
      return `${size} · failed`
  }
}

/**
 * A picture over the whole window: Escape, a click or the close button close it; the rest of the page is
 * inert meanwhile (a modal <dialog>), and focus goes back to the picture that opened it.
 */
export function Lightbox ({ src, name, onSave, onClose }: { src: string, name: string, onSave: () => void, onClose: () => void }): preact.JSX.Element {
  const ref = useRef<HTMLDialogElement>(null)
  const closeRef = useRef(onClose)
  closeRef.current = onClose
  useEffect(() => {
    const dialog = ref.current
    if (dialog == null) return
    const closed = (): void => { closeRef.current() }
    dialog.addEventListener('close', closed)
    dialog.showModal()
    dialog.querySelector<HTMLElement>('.lightbox-close')?.focus()
    return () => {
      dialog.removeEventListener('close', closed)
      if (dialog.open) dialog.close()
    }
  }, [])
  return (
    <dialog ref={ref} class='lightbox' aria-label={name} onKeyDown={(e) => {
      // a modal dialog keeps focus from the page, but Tab would still leave for the browser's own controls
      if (e.key !== 'Tab') return
      const stops = [...(ref.current?.querySelectorAll<HTMLElement>('button') ?? [])]
      const at = stops.indexOf(document.activeElement as HTMLElement)
      e.preventDefault()
      stops[(at + (e.shiftKey ? -1 : 1) + stops.length) % stops.length]?.focus()
    }} onClick={(e) => {
      // a click anywhere but on a button closes it
      if ((e.target as HTMLElement).closest('button') == null) ref.current?.close()
    }}>
      <div class='lightbox-bar'>
        <span class='lightbox-name'>{name}</span>
        <button type='button' class='icon-btn' aria-label={`Save ${name}`} title='Save' onClick={onSave}><Icon name='download' /></button>
        <button type='button' class='icon-btn lightbox-close' aria-label='Close' title='Close (Esc)' onClick={() => { ref.current?.close() }}><Icon name='close' /></button>
      </div>
      <img src={src} alt={name} />
    </dialog>
  )
}
