/**
 * The OPFS storage's worker (storage.browser.ts starts it): it holds the FileSystemSyncAccessHandles and
 * does every write, so that a write lands in place at its offset and is flushed before the call returns.
 */

/** What a FileSystemSyncAccessHandle offers (declared here: TypeScript's DOM library leaves it to workers). */
interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number
  write(buffer: Uint8Array, options: { at: number }): number
  truncate(size: number): void
  getSize(): number
  flush(): void
  close(): void
}

/**
 * The worker's code: stringified into a Blob URL, so it must not use anything from outside this function
 * (no imports, no module constants). Requests are handled one at a time, in order.
 */
export function opfsWorker (folder: string, copyChunk: number): void {
  const scope = globalThis as any
  const dir: Promise<FileSystemDirectoryHandle> = (async () => {
    let d = await navigator.storage.getDirectory()
    for (const level of folder.split('/')) d = await d.getDirectoryHandle(level, { create: true })
    return d
  })()
  /** open sync handles of partial files, by name (a file has at most one) */
  const open = new Map<string, SyncHandle>()

  const fail = (name: string, message: string): Error => Object.assign(new Error(message), { name })

  async function handle (name: string): Promise<SyncHandle> {
    let h = open.get(name)
    if (h == null) {
      const fh: any = await (await dir).getFileHandle(name, { create: true })
      h = await fh.createSyncAccessHandle() as SyncHandle
      open.set(name, h)
    }
    return h
  }

  function closeHandle (name: string): void {
    open.get(name)?.close()
    open.delete(name)
  }

  async function fileOf (name: string): Promise<File | undefined> {
    try {
      return await (await (await dir).getFileHandle(name)).getFile()
    } catch (err: any) {
      if (err?.name === 'NotFoundError') return undefined
      throw err
    }
  }

  async function writeRecord (name: string, text: string): Promise<void> {
    const h = await handle(name)
    try {
      const bytes = new TextEncoder().encode(text)
      h.truncate(0)
      h.write(bytes, { at: 0 })
      h.flush()
    } finally {
      closeHandle(name)
    }
  }

  function writeAll (h: SyncHandle, bytes: Uint8Array, at: number): void {
    let done = 0
    while (done < bytes.byteLength) {
      const n = h.write(done === 0 ? bytes : bytes.subarray(done), { at: at + done })
      if (n <= 0) throw fail('FileStorageError', 'the browser wrote nothing')
      done += n
    }
  }

  async function removeEntry (name: string): Promise<void> {
    closeHandle(name)
    try {
      await (await dir).removeEntry(name)
    } catch (err: any) {
      if (err?.name !== 'NotFoundError') throw err
    }
  }

  const ops: Record<string, (m: any) => Promise<{ value?: unknown, spare?: ArrayBuffer, transfer?: Transferable[] }>> = {
    async size (m) {
      const h = open.get(m.name)
      if (h != null) return { value: h.getSize() }
      return { value: (await fileOf(m.name))?.size ?? 0 }
    },
    async append (m) {
      const h = await handle(m.name)
      const size = h.getSize()
      if (size < m.offset) throw fail('FileStorageError', `the partial file has ${size} bytes, not the ${m.offset} this chunk continues`)
      if (size > m.offset) h.truncate(m.offset)
      try {
        writeAll(h, m.bytes, m.offset)
        h.flush()
      } catch (err) {
        // a write that failed part way (quota) leaves the file as it was
        h.truncate(m.offset)
        h.flush()
        throw err
      }
      return { spare: m.bytes.buffer, transfer: [m.bytes.buffer] }
    },
    async read (m) {
      for (const name of m.names as string[]) {
        const h = open.get(name)
        if (h != null) {
          const length = Math.max(0, Math.min(m.length, h.getSize() - m.offset))
          const buf = new Uint8Array(length)
          const n = h.read(buf, { at: m.offset })
          return { value: buf.subarray(0, n), transfer: [buf.buffer] }
        }
        const file = await fileOf(name)
        if (file == null) continue
        const buf = new Uint8Array(await file.slice(m.offset, m.offset + m.length).arrayBuffer())
        return { value: buf, transfer: [buf.buffer] }
      }
      throw fail('NotFoundError', 'no such file')
    },
    async finish (m) {
      closeHandle(m.part)
      const d = await dir
      const part: any = await d.getFileHandle(m.part)
      await removeEntry(m.final)
      await part.move(m.final)
      await writeRecord(`${m.final}.json`, m.record)
      return {}
    },
    async keep (m) {
      const blob = m.blob as Blob
      await removeEntry(m.name)
      const h = await handle(m.name)
      try {
        // read into one buffer, again and again, where the Blob's stream allows it (a byte stream)
        let reader: ReadableStreamBYOBReader | undefined
        try {
          reader = blob.stream().getReader({ mode: 'byob' })
        } catch {}
        if (reader != null) {
          let buffer = new ArrayBuffer(copyChunk)
          let at = 0
          for (;;) {
            const { done, value } = await reader.read(new Uint8Array(buffer, 0, copyChunk))
            if (done || value == null) break
            writeAll(h, value, at)
            at += value.byteLength
            buffer = value.buffer
          }
        } else {
          for (let at = 0; at < blob.size; at += copyChunk) {
            writeAll(h, new Uint8Array(await blob.slice(at, at + copyChunk).arrayBuffer()), at)
          }
        }
        h.flush()
        closeHandle(m.name)
      } catch (err) {
        await removeEntry(m.name)
        throw err
      }
      await writeRecord(`${m.name}.json`, m.record)
      return {}
    },
    async remove (m) {
      for (const name of m.names as string[]) await removeEntry(name)
      return {}
    }
  }

  let queue: Promise<void> = Promise.resolve()
  scope.addEventListener('message', (evt: MessageEvent) => {
    const m = evt.data
    queue = queue.then(async () => {
      try {
        const { value, spare, transfer } = await ops[m.op](m)
        scope.postMessage({ n: m.n, value, spare }, transfer ?? [])
      } catch (err: any) {
        scope.postMessage({ n: m.n, error: { name: err?.name ?? 'Error', message: err?.message ?? String(err) } })
      }
    })
  })
}
