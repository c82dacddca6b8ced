/**
 * Placeholder so that the web build compiles and runs until the browser storage (OPFS) lands: the web
 * helper writes the real storage.browser.ts. It must export `openFileStorage` (types.ts OpenFileStorage).
 * Every method here fails with one line, so the web app runs, and files are refused, until then.
 */
import type { FileStorage } from './types.js'

export async function openFileStorage (_dataDir?: string): Promise<FileStorage> {
  const no = async (): Promise<never> => { throw new Error('files are not supported in the browser yet') }
  return { written: no, append: no, finish: no, read: no, keep: no, blob: no, remove: no, available: async () => undefined }
}
