/**
 * Files in the web app: the seam to the transfer engine (chat.sendFile, chat.files, the file-* events and
 * the `file` field of a stored message, as src/files/types.ts describes them), and the small helpers the
 * interface shows them with.
 */
import type { Chat } from '../src/index.js'
import type { FileEvents, FileTransfer } from '../src/files/types.js'

/** The Chat, as the web app's file code uses it. */
export type FileChat = Chat

const AUTO_FETCH_KEY = 'megachat:auto-fetch-bytes'

/** Applies this browser's automatic download size (kept in localStorage) to the chat; until the user sets one, the engine's default stands. */
export function withFiles (chat: Chat): FileChat {
  const saved = Number(localStorage.getItem(AUTO_FETCH_KEY) ?? NaN)
  if (Number.isSafeInteger(saved) && saved >= 0) chat.files.autoFetchBytes = saved
  return chat
}

export function setAutoFetch (chat: FileChat, bytes: number): void {
  chat.files.autoFetchBytes = bytes
  try {
    localStorage.setItem(AUTO_FETCH_KEY, String(bytes))
  } catch {}
}

/** Calls `fn` with each file-offer, file-progress, file-done and file-error event's transfer. */
export function onFileEvents (chat: Chat, fn: (t: FileTransfer) => void): void {
  const names: Array<keyof FileEvents> = ['file-offer', 'file-progress', 'file-done', 'file-error']
  for (const name of names) chat.addEventListener(name as any, ((evt: CustomEvent<FileTransfer>) => { fn(evt.detail) }) as any)
}

/** The transfer id a stored message (DM or room) carries when it is a file's offer. */
export function fileOf (m: object): string | undefined {
  const file = (m as { file?: unknown }).file
  return typeof file === 'string' && file !== '' ? file : undefined
}

// ---- how files read

/** "12 s left", "3 min left", "2 h left"; '' when the rate is 0 */
export function timeLeft (t: FileTransfer): string {
  if (t.rate <= 0 || t.bytes >= t.size) return ''
  const s = (t.size - t.bytes) / t.rate
  if (s < 60) return `${Math.max(1, Math.round(s))} s left`
  if (s < 3600) return `${Math.round(s / 60)} min left`
  return `${Math.round(s / 3600)} h left`
}

/** Whether a file is a picture the browser shows inline. */
export function isImage (t: { type: string }): boolean {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(t.type)
}

/** Offers the user a Blob as a download under `name`. */
export function saveBlob (blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  // the download has its own copy of the reference once it started
  setTimeout(() => { URL.revokeObjectURL(url) }, 60_000)
}
