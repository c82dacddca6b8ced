/**
 * Where a Node.js client keeps file bytes: `<data>/files/` (mode 0700). The browser build swaps this file
 * for storage.browser.ts (package.json "browser" map).
 *
 *   <id>.part          a file being fetched, written chunk by chunk at its offset
 *   <safe name>        a finished file, under safeFileName(offer name), made unique (`name (1).ext`)
 *   .meta/<id>.json    what an id stands for: {"done": path} for a finished file, or, for a file we
 *                      send, {"sent": path, size, mtimeMs}: it is not copied, and is served from where it
 *                      is as long as its size and modification time are unchanged
 *
 * Ids are hex made by the engine; names from the network only ever pass safeFileName(), and every path
 * written is checked to be directly inside the folder.
 */
import { constants, openAsBlob } from 'node:fs'
import { chmod, copyFile, link, mkdir, mkdtemp, open, readFile, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { allocUnsafe } from 'uint8arrays/alloc'
import { InvalidInputError } from '../errors.js'
import { numberedName, safeFileName } from './names.js'
import type { FileSource, FileStorage } from './types.js'
import type { FileHandle } from 'node:fs/promises'

/** The file we offered changed on disk (or went): it is not served any more. */
export class FileChangedError extends Error {
  static override name = 'FileChangedError'
  override name = 'FileChangedError'
}

interface Meta {
  done?: string
  sent?: string
  size?: number
  mtimeMs?: number
}

const ID = /^[0-9a-f]{32}$/
/** A file served stays open this long after its last read. */
const READ_IDLE_MS = 10_000
/**
 * A file we send is checked for changes (size, modification time) at most this often while it is read:
 * a changed file is refused promptly, and a changed chunk fails its hash at the receiver anyway.
 */
const CHANGE_CHECK_MS = 1000

interface Reader {
  handle: Promise<FileHandle>
  timer?: ReturnType<typeof setTimeout>
  /** when the file was last found unchanged */
  checked: number
}

export class NodeFileStorage implements FileStorage {
  readonly dir: string
  private readonly handles = new Map<string, Promise<FileHandle>>()
  /** the size of each partial file open for writing */
  private readonly sizes = new Map<string, number>()
  /** files open for reading (served), closed after READ_IDLE_MS unused */
  private readonly readers = new Map<string, Reader>()
  private readonly metas = new Map<string, Meta>()
  private readonly temporary: boolean

  constructor (dir: string, temporary = false) {
    this.dir = resolve(dir)
    this.temporary = temporary
  }

  private part (id: string): string {
    if (!ID.test(id)) throw new InvalidInputError('bad file id')
    return join(this.dir, `${id}.part`)
  }

  private metaPath (id: string): string {
    if (!ID.test(id)) throw new InvalidInputError('bad file id')
    return join(this.dir, '.meta', `${id}.json`)
  }

  private async meta (id: string): Promise<Meta | undefined> {
    const known = this.metas.get(id)
    if (known != null) return known
    try {
      const meta = JSON.parse(await readFile(this.metaPath(id), 'utf8')) as Meta
      this.metas.set(id, meta)
      return meta
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  private async setMeta (id: string, meta: Meta): Promise<void> {
    await writeFile(this.metaPath(id), JSON.stringify(meta), { mode: 0o600 })
    this.metas.set(id, meta)
  }

  private async handle (id: string): Promise<FileHandle> {
    let h = this.handles.get(id)
    if (h == null) {
      h = open(this.part(id), constants.O_RDWR | constants.O_CREAT, 0o600)
      this.handles.set(id, h)
      h.catch(() => { this.handles.delete(id) })
    }
    return await h
  }

  private async closeHandle (id: string): Promise<void> {
    const h = this.handles.get(id)
    this.handles.delete(id)
    this.sizes.delete(id)
    await (await h?.catch(() => undefined))?.close()
    await this.closeReader(id)
  }

  private async closeReader (id: string): Promise<void> {
    const r = this.readers.get(id)
    if (r == null) return
    this.readers.delete(id)
    clearTimeout(r.timer)
    await (await r.handle.catch(() => undefined))?.close()
  }

  /** A kept-open handle to read a finished or sent file (a file served is read a chunk at a time). */
  private reader (id: string, path: string): Reader {
    let r = this.readers.get(id)
    if (r == null) {
      const entry: Reader = { handle: open(path, 'r'), checked: 0 }
      entry.handle.catch(() => { if (this.readers.get(id) === entry) this.readers.delete(id) })
      entry.timer = setTimeout(() => { void this.closeReader(id) }, READ_IDLE_MS)
      entry.timer.unref?.()
      this.readers.set(id, entry)
      r = entry
    } else {
      // one timer per open file, restarted by each read (not a new one per chunk)
      r.timer?.refresh()
    }
    return r
  }

  async written (id: string): Promise<number> {
    try {
      return (await stat(this.part(id))).size
    } catch (err: any) {
      if (err.code === 'ENOENT') return 0
      throw err
    }
  }

  async append (id: string, offset: number, bytes: Uint8Array | Uint8Array[]): Promise<void> {
    const h = await this.handle(id)
    // the size is looked up once per open file, then followed here (only this process writes it)
    const size = this.sizes.get(id) ?? (await h.stat()).size
    if (size > offset) await h.truncate(offset)
    else if (size < offset) throw new InvalidInputError(`partial file is ${size} bytes, not ${offset}`)
    this.sizes.delete(id)
    const pieces = Array.isArray(bytes) ? bytes : [bytes]
    const length = pieces.reduce((n, p) => n + p.byteLength, 0)
    // one system call for all the pieces; what a short write leaves is written piece by piece
    let done = (await h.writev(pieces, offset)).bytesWritten
    let at = 0
    for (const piece of pieces) {
      const end = at + piece.byteLength
      while (done < end) {
        const { bytesWritten } = await h.write(piece, done - at, end - done, offset + done)
        done += bytesWritten
      }
      at = end
    }
    this.sizes.set(id, offset + length)
  }

  async finish (id: string, name: string): Promise<string> {
    const h = await this.handle(id)
    await h.sync()
    await this.closeHandle(id)
    const safe = safeFileName(name)
    for (let n = 0; ; n++) {
      const target = this.inside(numberedName(safe, n))
      try {
        // a hard link never replaces a file that is there already (EEXIST): the name is taken atomically
        await link(this.part(id), target)
      } catch (err: any) {
        if (err.code === 'EEXIST') continue
        throw err
      }
      await unlink(this.part(id))
      await this.setMeta(id, { done: target })
      return target
    }
  }

  /** `name` as a path directly inside the folder (or an error: it never leaves it). */
  private inside (name: string): string {
    const path = join(this.dir, name)
    if (dirname(path) !== this.dir || basename(path) !== name) throw new InvalidInputError('unsafe file name')
    return path
  }

  async read (id: string, offset: number, length: number): Promise<Uint8Array> {
    const meta = await this.meta(id)
    const path = meta?.sent ?? meta?.done ?? this.part(id)
    const r = meta == null ? undefined : this.reader(id, path)
    const h = r == null ? await this.handle(id) : await r.handle
    try {
      if (meta?.sent != null && r != null && Date.now() - r.checked >= CHANGE_CHECK_MS) {
        const now = await h.stat()
        if (now.size !== meta.size || now.mtimeMs !== meta.mtimeMs) throw new FileChangedError('the file changed since it was offered')
        r.checked = Date.now()
      }
      // every byte is read into it below (or this throws): no need to zero it first
      const out = allocUnsafe(length)
      let done = 0
      while (done < length) {
        const { bytesRead } = await h.read(out, done, length - done, offset + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
      if (done !== length) throw new FileChangedError('the file is shorter than it was')
      return out
    } catch (err: any) {
      if (meta != null) await this.closeReader(id)
      if (err.code === 'ENOENT') throw new FileChangedError('the file is gone')
      throw err
    }
  }

  async keep (id: string, source: FileSource): Promise<void> {
    if (source.path == null) throw new InvalidInputError('a file to send needs its path here')
    const path = resolve(source.path)
    const s = await stat(path)
    if (!s.isFile()) throw new InvalidInputError(`${source.path} is not a file`)
    await this.setMeta(id, { sent: path, size: s.size, mtimeMs: s.mtimeMs })
  }

  async blob (id: string): Promise<Blob | undefined> {
    const meta = await this.meta(id)
    const path = meta?.done ?? meta?.sent
    if (path == null) return undefined
    try {
      return await openAsBlob(path)
    } catch (err: any) {
      if (err.code === 'ENOENT') return undefined
      throw err
    }
  }

  /** Node: a copy of a finished file at a path the user chose; returns where. */
  async copyTo (id: string, path: string): Promise<string> {
    const meta = await this.meta(id)
    const from = meta?.done ?? meta?.sent
    if (from == null) throw new InvalidInputError('that file is not here (yet)')
    let target = resolve(path)
    if ((await stat(target).catch(() => undefined))?.isDirectory() === true) target = join(target, basename(from))
    await copyFile(from, target, constants.COPYFILE_EXCL)
    return target
  }

  async remove (id: string): Promise<void> {
    await this.closeHandle(id)
    await rm(this.part(id), { force: true })
    const meta = await this.meta(id)
    // a file we sent is the user's own, and a finished one is theirs now: only the record goes
    if (meta != null) await rm(this.metaPath(id), { force: true })
    this.metas.delete(id)
  }

  async available (): Promise<number | undefined> {
    const s = await statfs(this.dir)
    return s.bavail * s.bsize
  }

  async close (): Promise<void> {
    for (const id of [...this.handles.keys(), ...this.readers.keys()]) await this.closeHandle(id)
    if (this.temporary) await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * The files folder of a data directory, `<dataDir>/files` (made 0700), or without one a temporary folder
 * removed by close().
 */
export async function openFileStorage (dataDir?: string): Promise<FileStorage> {
  const dir = dataDir != null ? join(dataDir, 'files') : await mkdtemp(join(tmpdir(), 'megachat-files-'))
  await mkdir(join(dir, '.meta'), { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  return new NodeFileStorage(dir, dataDir == null)
}
