/**
 * Files and pictures: the shapes shared by the transfer engine (src/files/), the Chat facade, the terminal
 * client and the web app. How a file travels:
 *
 *  1. The sender cuts the file into chunks of `chunkSize` bytes (the last one shorter) and hashes each
 *     with SHA-256; `manifest` is the SHA-256 of those hashes laid end to end. The offer, a `FileOffer`,
 *     travels as a message of the conversation (a DM message, or a sealed room message), so it is stored,
 *     ordered, acknowledged and retried like any message.
 *  2. The receiver pulls the bytes over `/megachat/file/1.0.0` from a peer that has them (the sender, or in
 *     a room any member who has the file): first the chunk hashes, checked against `manifest`, then the
 *     chunks from the first one it has not verified yet, each checked against its hash before it is written.
 *  3. In a room the bytes on the wire are ciphertext under `key`, a per-file key carried only inside the
 *     sealed offer, each chunk sealed with a nonce made from its index: the same chunk always seals to the
 *     same bytes, so a member that has the file (kept in plaintext, to be opened) serves exactly what the
 *     author hashed. Chunk hashes are over what travels (ciphertext in rooms), so a member checks what it
 *     relays before it opens it.
 */

/** What the offer says about a file. Everything in it comes from the network until checked. */
export interface FileOffer {
  /** 16 random bytes, chosen by the sender; hex in `FileTransfer.id`. */
  id: Uint8Array
  /** The sender's file name: never used as a path before `safeFileName()`. */
  name: string
  /** Bytes of the file as the user will get it (plaintext). */
  size: number
  /** MIME type as the sender's platform saw it; '' when unknown. */
  type: string
  /** Bytes per chunk (the last one may be shorter). */
  chunkSize: number
  /** SHA-256 of the chunk hashes laid end to end. */
  manifest: Uint8Array
  /** Images: a small JPEG or WebP preview (at most 16 KiB), shown before the file arrives. */
  thumbnail?: Uint8Array
  /** Rooms only: the 32-byte key the chunks are sealed with. */
  key?: Uint8Array
}

/** Where a transfer stands, as the UI shows it. */
export type FileState =
  | 'offered' // received an offer; waiting for the user (too large, or from a non-contact) or for the sender
  | 'fetching' // bytes are coming in
  | 'paused' // interrupted (disconnect, restart); resumes from the last verified chunk
  | 'done' // every chunk verified and written; the file is in the files folder
  | 'serving' // our own file, offered and available to the other side
  | 'cancelled'
  | 'failed'

export interface FileTransfer {
  /** hex of `FileOffer.id` */
  id: string
  /** the conversation: a contact's peer ID, or a room's id */
  conversation: string
  room: boolean
  /** who offered it (peer ID string); our own peer ID for files we send */
  from: string
  direction: 'in' | 'out'
  name: string
  size: number
  type: string
  thumbnail?: Uint8Array
  state: FileState
  /** verified bytes so far (in), or bytes served to the furthest receiver so far (out) */
  bytes: number
  /** bytes per second over the last few seconds; 0 when idle */
  rate: number
  /** Node: absolute path of the finished (or, for ours, original) file. Browser: undefined. */
  path?: string
  /** one line for the user when state is 'failed' */
  error?: string
}

export interface FileProgressEvent { transfer: FileTransfer }

/** Events the Chat facade dispatches (and `--json` prints as file-offer, file-progress, file-done, file-error). */
export interface FileEvents {
  'file-offer': CustomEvent<FileTransfer>
  /** at most a few times a second per transfer */
  'file-progress': CustomEvent<FileTransfer>
  'file-done': CustomEvent<FileTransfer>
  'file-error': CustomEvent<FileTransfer>
}

/** A file to send: a Blob (browser File, or Node's `fs.openAsBlob(path)`) and its name. */
export interface FileSource {
  name: string
  type?: string
  blob: Blob
  /** Node: the file's path, kept so that it can be served again after a restart without a copy. */
  path?: string
  /** Images: a preview the caller made (the web app: WebP, at most 320 px and 16 KiB). */
  thumbnail?: Uint8Array
}

/**
 * The files of every conversation, as `chat.files`. Sending is `chat.sendFile(contactOrRoom, source)`;
 * the offer is a message of the conversation whose `file` field is the transfer's id.
 */
export interface Files {
  /** Transfers, newest last; of one conversation (peer ID or room id) when given. */
  list(conversation?: string): FileTransfer[]
  get(id: string): FileTransfer | undefined
  /** Starts or resumes fetching an offered file (the user's "save"/"accept"); Node may name where it goes. */
  fetch(id: string, options?: { path?: string }): Promise<void>
  /** Stops a transfer either way; a partial file is deleted. */
  cancel(id: string): Promise<void>
  /** A finished or own file's bytes (the web app shows images and saves files from it). */
  blob(id: string): Promise<Blob | undefined>
  /** Contacts' files up to this many bytes are fetched without asking (0: never). */
  autoFetchBytes: number
}

/**
 * Where a platform keeps file bytes. Node: `<data>/files/` on disk. Browser: the origin private file
 * system. Offsets are in bytes; every method rejects with a clear error (quota, missing) and writes
 * nothing outside its own folder; ids are hex strings made here, never names from the network.
 */
export interface FileStorage {
  /** Bytes already written to the partial file `id` (0 when there is none). */
  written(id: string): Promise<number>
  /**
   * Appends to the partial file, which must be `offset` long (truncated to it first if longer): `bytes`
   * whole, or the pieces a chunk arrived in, written one after the other without joining them first.
   */
  append(id: string, offset: number, bytes: Uint8Array | Uint8Array[]): Promise<void>
  /**
   * Makes the partial file the finished one under a free, sanitised version of `name`, of MIME type
   * `type` (the offer's: the browser gives it to the file's Blob); returns its path (Node) or name.
   */
  finish(id: string, name: string, type?: string): Promise<string>
  /**
   * Reads bytes of a finished, partial or kept (sent) file we hold (to serve it, or show it). Node: a sent
   * file that changed on disk since keep() rejects with FileChangedError (`err.name`).
   */
  read(id: string, offset: number, length: number): Promise<Uint8Array>
  /** Browser: keeps a copy of a file the user sends (a File does not survive a reload). Node: notes its path, size and modification time (no copy). */
  keep(id: string, source: FileSource): Promise<void>
  /** The finished file as a Blob (browser: for <img> and saving). */
  blob(id: string): Promise<Blob | undefined>
  remove(id: string): Promise<void>
  /** Free bytes the platform lets us use, when it can say. */
  available(): Promise<number | undefined>
  /** Node: copies a finished (or own) file to a path the user chose; returns where it went. */
  copyTo?(id: string, path: string): Promise<string>
  /** Lets go of open files (and a temporary folder); called when the chat stops. */
  close?(): Promise<void>
}

/**
 * Each platform's storage module (storage.ts, and storage.browser.ts through package.json's "browser"
 * map) exports `openFileStorage(dataDir?: string): Promise<FileStorage>`: Node `<dataDir>/files/`,
 * the browser an OPFS folder for that data directory (its IndexedDB name).
 */
export type OpenFileStorage = (dataDir?: string) => Promise<FileStorage>
