/**
 * FileStorage in the browser, over the origin private file system (OPFS). The layout, in a folder of
 * the OPFS root (`<dataDir>/files/` from openFileStorage, `files/` unless told otherwise):
 *
 *   <id>.part   a file being received: verified chunks laid end to end
 *   <id>        a finished file (received and verified, or one the user sent and we keep to serve)
 *   <id>.json   its record: `{ "name": …, "type": … }` (the sanitised name the user sees, the MIME type)
 *
 * Ids are hex strings (checked here); no name from the network is ever used as an OPFS name.
 *
 * Every write goes through a dedicated worker that holds FileSystemSyncAccessHandles: they write in place
 * at an offset and `flush()` before the call returns (what the receiver acknowledges is on disk), whereas
 * the main thread's `createWritable()` copies the whole file to a swap file each time it is opened with
 * `keepExistingData`, which would make every append cost the file's size. Bytes travel to the worker one
 * chunk at a time, and `keep()` hands the worker the Blob itself, which it reads slice by slice: a file is
 * never all in memory on either side.
 */
import { opfsWorker } from './opfs-worker.js'
import type { FileSource, FileStorage } from './types.js'

/** The browser's storage quota for this site is used up; the message is one line for the user. */
export class StorageFullError extends Error {
  static override name = 'StorageFullError'
  override name = 'StorageFullError'
}

/** No such file in this browser's storage (never received, removed, or the site's data was cleared). */
export class FileNotFoundError extends Error {
  static override name = 'FileNotFoundError'
  override name = 'FileNotFoundError'
}

/** A write that does not continue the partial file (it is shorter than the offset), or storage the browser lacks. */
export class FileStorageError extends Error {
  static override name = 'FileStorageError'
  override name = 'FileStorageError'
}

export interface OpfsStorageInit {
  /** the folder under the OPFS root, '/' between levels; default 'files' */
  folder?: string
  /** bytes `keep()` reads from the sent Blob and writes at a time; default 1 MiB */
  copyChunk?: number
}

/** An OPFS storage, with `close()` to stop its worker. */
export interface OpfsFileStorage extends FileStorage {
  close(): Promise<void>
}

/**
 * The platform's storage, as src/files/storage.ts's `openFileStorage` is Node's (package.json's "browser"
 * map swaps the two): the folder `<dataDir>/files` of the OPFS root (the web app's dataDir is its
 * IndexedDB name), or `files` without one.
 */
export async function openFileStorage (dataDir?: string): Promise<OpfsFileStorage> {
  const folder = dataDir != null && dataDir !== '' ? `${dataDir.replace(/[^\w.-]+/g, '_')}/files` : DEFAULT_FOLDER
  return opfsFileStorage({ folder })
}

const ID = /^[0-9a-f]{1,64}$/
const DEFAULT_FOLDER = 'files'
const COPY_CHUNK = 1024 * 1024
const MAX_NAME = 200

/**
 * A file name fit to show and to offer as a download name: no path separators, control or bidi
 * characters, no leading dots, at most 200 characters (the extension kept); 'file' when nothing is left.
 */
export function displayName (name: string): string {
  // eslint-disable-next-line no-control-regex
  let clean = name.normalize('NFC').replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069/\\:*?"<>|]+/g, '_').trim().replace(/^\.+/, '')
  if (clean.length > MAX_NAME) {
    const dot = clean.lastIndexOf('.')
    const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : ''
    clean = clean.slice(0, MAX_NAME - ext.length) + ext
  }
  return clean === '' ? 'file' : clean
}

interface FileRecord { name: string, type: string }

interface Reply { n: number, value?: unknown, spare?: ArrayBuffer, error?: { name: string, message: string } }

/** ArrayBuffers that go to the worker with each chunk and come back with its reply, used again: no garbage per chunk */
const POOL = 4

export function opfsFileStorage (init: OpfsStorageInit = {}): OpfsFileStorage {
  if (typeof navigator === 'undefined' || navigator.storage?.getDirectory == null || typeof Worker === 'undefined') {
    throw new FileStorageError('this browser has no origin private file system: files cannot be stored')
  }
  const folder = init.folder ?? DEFAULT_FOLDER
  const copyChunk = init.copyChunk ?? COPY_CHUNK
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  const spares: ArrayBuffer[] = []
  let next = 0
  let closed = false
  // started with the first file operation, not with the app: most sessions handle no file at all
  let worker: Worker | undefined
  const started = (): Worker => {
    if (worker != null) return worker
    const url = URL.createObjectURL(new Blob([`(${opfsWorker.toString()})(${JSON.stringify(folder)}, ${copyChunk})`], { type: 'text/javascript' }))
    const w = new Worker(url)
    URL.revokeObjectURL(url)
    w.addEventListener('message', (evt: MessageEvent<Reply>) => {
      const p = pending.get(evt.data.n)
      if (p == null) return
      pending.delete(evt.data.n)
      if (evt.data.spare != null && spares.length < POOL) spares.push(evt.data.spare)
      if (evt.data.error != null) p.reject(storageError(evt.data.error))
      else p.resolve(evt.data.value)
    })
    w.addEventListener('error', (evt) => {
      evt.preventDefault()
      const err = new FileStorageError(`the file storage stopped: ${evt.message}`)
      for (const p of pending.values()) p.reject(err)
      pending.clear()
    })
    worker = w
    return w
  }

  async function call<T> (op: string, args: object, transfer: Transferable[] = []): Promise<T> {
    if (closed) throw new FileStorageError('the file storage is closed')
    const n = next++
    const w = started()
    return await new Promise<T>((resolve, reject) => {
      pending.set(n, { resolve: resolve as (v: unknown) => void, reject })
      w.postMessage({ n, op, ...args }, transfer)
    })
  }

  let dir: Promise<FileSystemDirectoryHandle> | undefined
  const folderHandle = async (): Promise<FileSystemDirectoryHandle> => {
    dir ??= (async () => {
      let d = await navigator.storage.getDirectory()
      for (const level of folder.split('/')) d = await d.getDirectoryHandle(level, { create: true })
      return d
    })()
    return await dir
  }

  async function record (id: string): Promise<FileRecord | undefined> {
    try {
      const file = await (await (await folderHandle()).getFileHandle(`${id}.json`)).getFile()
      const r = JSON.parse(await file.text())
      return { name: typeof r.name === 'string' ? r.name : 'file', type: typeof r.type === 'string' ? r.type : '' }
    } catch {
      return undefined
    }
  }

  return {
    async written (id) {
      return await call<number>('size', { name: `${checkId(id)}.part` })
    },

    async append (id, offset, bytes) {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new FileStorageError(`bad offset ${offset}`)
      // copied into a buffer of the pool, which moves to the worker and back (the caller's bytes stay the caller's)
      const pieces = Array.isArray(bytes) ? bytes : [bytes]
      const length = pieces.reduce((n, p) => n + p.byteLength, 0)
      const i = spares.findIndex(b => b.byteLength >= length)
      const buffer = i >= 0 ? spares.splice(i, 1)[0] : new ArrayBuffer(length)
      const copy = new Uint8Array(buffer, 0, length)
      let at = 0
      for (const piece of pieces) {
        copy.set(piece, at)
        at += piece.byteLength
      }
      await call('append', { name: `${checkId(id)}.part`, offset, bytes: copy }, [buffer])
    },

    async finish (id, name, type) {
      const shown = displayName(name)
      await call('finish', { part: `${checkId(id)}.part`, final: id, record: JSON.stringify({ name: shown, type: type ?? (await record(id))?.type ?? '' }) })
      askToPersist()
      return shown
    },

    async read (id, offset, length) {
      checkId(id)
      return await call<Uint8Array>('read', { names: [id, `${id}.part`], offset, length })
    },

    async keep (id, source: FileSource) {
      const r: FileRecord = { name: displayName(source.name), type: source.type ?? source.blob.type ?? '' }
      await call('keep', { name: checkId(id), blob: source.blob, record: JSON.stringify(r) })
      askToPersist()
    },

    async blob (id) {
      checkId(id)
      let file: File
      try {
        file = await (await (await folderHandle()).getFileHandle(id)).getFile()
      } catch (err: any) {
        if (err?.name === 'NotFoundError') return undefined
        throw storageError(err)
      }
      const r = await record(id)
      // a File made of the stored one: no bytes are copied
      return new File([file], r?.name ?? 'file', { type: r?.type ?? '' })
    },

    async remove (id) {
      checkId(id)
      await call('remove', { names: [`${id}.part`, id, `${id}.json`] })
    },

    async available () {
      try {
        const { quota, usage } = await navigator.storage.estimate()
        return quota == null ? undefined : Math.max(0, quota - (usage ?? 0))
      } catch {
        return undefined
      }
    },

    async close () {
      if (closed) return
      closed = true
      worker?.terminate()
      const err = new FileStorageError('the file storage is closed')
      for (const p of pending.values()) p.reject(err)
      pending.clear()
    }
  }
}

let persistAsked = false

/**
 * Asks the browser once to keep this site's storage under pressure (it may otherwise evict the files
 * the user received); it decides itself, usually without a prompt, and the answer changes nothing here.
 */
function askToPersist (): void {
  if (persistAsked) return
  persistAsked = true
  navigator.storage.persist?.().catch(() => {})
}

function checkId (id: string): string {
  if (!ID.test(id)) throw new FileStorageError('bad file id')
  return id
}

function storageError (e: { name?: string, message?: string }): Error {
  switch (e.name) {
    case 'QuotaExceededError':
      return new StorageFullError('not enough storage space: this browser allows this site no more (free some space, or delete files from other conversations)')
    case 'NotFoundError':
      return new FileNotFoundError('the file is not in this browser\'s storage')
    case 'FileStorageError':
      return new FileStorageError(e.message)
    default:
      return new FileStorageError(`file storage failed: ${e.message ?? e.name ?? 'unknown error'}`)
  }
}
