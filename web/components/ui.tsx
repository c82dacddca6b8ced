/**
 * Small shared pieces of the interface: icons, the copy button, the modal dialog, the wait for an idle
 * moment and the lazily loaded QR code.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ComponentChildren } from 'preact'

const PATHS = {
  plus: 'M12 5v14M5 12h14',
  gear: 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  qr: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 14h2v2h-2zM14 18h2v2h-2zM18 18h2v2h-2z',
  back: 'M15 18l-6-6 6-6',
  send: 'M4 12l16-8-6 16-3-7-7-1z',
  close: 'M6 6l12 12M18 6L6 18',
  info: 'M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01',
  link: 'M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1',
  shield: 'M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z',
  phone: 'M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8.1 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z',
  hangup: 'M10.7 13.3a16 16 0 0 0 3.4 2.6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.4 19.4 0 0 1-3.3-2.6M5.2 13.2a19.8 19.8 0 0 1-3.1-8.6A2 2 0 0 1 4.1 2.4h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8.1 10.2M23 1L1 23',
  video: 'M23 7l-7 5 7 5zM3 5h11a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z',
  'video-off': 'M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.7 0H14a2 2 0 0 1 2 2v3.3l1 1 6-4.3v10M1 1l22 22',
  mic: 'M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3zM19 10v2a7 7 0 0 1-14 0v-2M12 19v4M8 23h8',
  'mic-off': 'M1 1l22 22M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V4a3 3 0 0 0-5.9-.6M17 16.9A7 7 0 0 1 5 12v-2M19 10v2a7 7 0 0 1-.1 1.2M12 19v4M8 23h8',
  screen: 'M2 3h20v14H2zM8 21h8M12 17v4',
  paperclip: 'M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5',
  file: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6',
  download: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3'
} as const

export type IconName = keyof typeof PATHS

export function Icon ({ name, size = 18 }: { name: IconName, size?: number }): preact.JSX.Element {
  return (
    <svg class='icon' width={size} height={size} viewBox='0 0 24 24' aria-hidden='true' focusable='false'
      fill='none' stroke='currentColor' stroke-width='2' stroke-linecap='round' stroke-linejoin='round'>
      <path d={PATHS[name]} />
    </svg>
  )
}

/** Copies `text` to the clipboard and says so for a moment. */
export function CopyButton ({ text, label, class: cls = 'btn' }: { text: string, label: string, class?: string }): preact.JSX.Element {
  const [done, setDone] = useState<'' | 'ok' | 'failed'>('')
  useEffect(() => {
    if (done === '') return
    const t = setTimeout(() => { setDone('') }, 1500)
    return () => { clearTimeout(t) }
  }, [done])
  const copy = (): void => {
    navigator.clipboard.writeText(text).then(() => { setDone('ok') }, () => { setDone('failed') })
  }
  return (
    <button type='button' class={cls} onClick={copy} aria-label={label} title={label}>
      <Icon name='copy' size={16} />
      <span aria-live='polite'>{done === 'ok' ? 'Copied' : done === 'failed' ? 'Copy failed' : 'Copy'}</span>
    </button>
  )
}

/**
 * A modal <dialog>: focus goes to its first field, Escape and the close button close it, and focus
 * returns where it was.
 */
export function Dialog ({ title, onClose, children, wide }: { title: string, onClose: () => void, children: ComponentChildren, wide?: boolean }): preact.JSX.Element {
  const ref = useRef<HTMLDialogElement>(null)
  const closeRef = useRef(onClose)
  closeRef.current = onClose
  const titleId = `dialog-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`
  useEffect(() => {
    const dialog = ref.current
    if (dialog == null) return
    const before = document.activeElement as HTMLElement | null
    const closed = (): void => { closeRef.current() }
    dialog.addEventListener('close', closed)
    dialog.showModal()
    const first = dialog.querySelector<HTMLElement>('.dialog-body input:not([readonly]), .dialog-body textarea, .dialog-body button, .dialog-body input')
    first?.focus()
    return () => {
      dialog.removeEventListener('close', closed)
      if (dialog.open) dialog.close()
      before?.focus()
    }
  }, [])
  return (
    <dialog ref={ref} class={`dialog${wide === true ? ' wide' : ''}`} aria-labelledby={titleId}
      onClick={(e) => { if (e.target === ref.current) ref.current?.close() }}>
      <div class='dialog-inner'>
        <header class='dialog-header'>
          <h2 id={titleId}>{title}</h2>
          <button type='button' class='icon-btn' aria-label='Close' onClick={() => { ref.current?.close() }}>
            <Icon name='close' />
          </button>
        </header>
        <div class='dialog-body'>{children}</div>
      </div>
    </dialog>
  )
}

let markStarted: () => void = () => {}
/** Resolves once the tab is up (main.tsx calls `started()`: connected, or given up waiting). */
const startedPromise = new Promise<void>(resolve => { markStarted = resolve })
export function started (): void { markStarted() }

/**
 * Runs `fn` once the tab is up (see `started`) and then idle, within `timeout` ms of being up at the
 * latest (at once where there is no requestIdleCallback: Safari); returns a cancel function. Work
 * that is not needed to get going waits for this: while the first connection is made, the page looks
 * idle between network round trips, and anything run then delays the next step of the handshake.
 */
export function whenIdle (fn: () => void, timeout = 1000): () => void {
  let cancelled = false
  let idle: number | undefined
  void startedPromise.then(() => {
    if (cancelled) return
    if (typeof requestIdleCallback !== 'function') fn()
    else idle = requestIdleCallback(fn, { timeout })
  })
  return () => {
    cancelled = true
    if (idle != null) cancelIdleCallback(idle)
  }
}

type QrComponent = (props: { text: string, label: string }) => preact.JSX.Element

/**
 * qrcode-generator is loaded only when a QR code is first shown (its own chunk), and then only once the
 * page is idle (within a second at the latest): the welcome screen shows a QR code while the tab is
 * still connecting, and loading, making and drawing it would slow the first connection down.
 */
export function QrCode ({ text, label }: { text: string, label: string }): preact.JSX.Element {
  const [Qr, setQr] = useState<QrComponent | undefined>(undefined)
  const [failed, setFailed] = useState(false)
  useEffect(() => {
    return whenIdle(() => { import('./qr.js').then(m => { setQr(() => m.default) }, () => { setFailed(true) }) })
  }, [])
  if (Qr == null) return <div class='qr qr-loading' role='img' aria-label={failed ? 'The QR code could not be loaded' : `${label} (loading)`} />
  return <Qr text={text} label={label} />
}

export function Avatar ({ name, kind = 'person' }: { name: string, kind?: 'person' | 'room' }): preact.JSX.Element {
  // a stable hue per name, so people are told apart at a glance
  let hash = 0
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)!) % 360
  const initial = kind === 'room' ? '#' : (name.codePointAt(0) != null ? String.fromCodePoint(name.codePointAt(0)!).toUpperCase() : '?')
  return <span class={`avatar ${kind}`} style={{ '--hue': hash }} aria-hidden='true'>{initial}</span>
}

/** An error's one line, as a sentence (the library's messages start in lower case). */
export function errorText (err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.charAt(0).toUpperCase() + text.slice(1)
}
