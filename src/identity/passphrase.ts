/**
 * What a passphrase does to the identity key, the same for the key file on disk (identity/index.ts)
 * and the key blob in the browser's IndexedDB (platform.browser.ts). No storage here: `openKey` takes
 * the stored file (or nothing) and says what to store.
 *
 * - No key yet: a new one, protected by `passphrase` or by what `choosePassphrase` returns.
 * - A protected key: opened with `passphrase`, or with what `askPassphrase` returns (asked again
 *   after a wrong one, up to MAX_PASSPHRASE_TRIES in all).
 * - An unprotected key: protected from now on by `passphrase`, or by what `choosePassphrase('protect')`
 *   returns; without either it stays as it is.
 * An empty passphrase counts as none; a chosen one must not be empty (`newPassphraseProblem`).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { InvalidInputError, WrongPassphraseError } from '../errors.js'
import { decodeKeyFile, encodeKeyFile, isProtected } from './keyfile.js'
import type { KeyFileOptions } from './keyfile.js'
import type { PrivateKey } from '@libp2p/interface'

/** How many times a person may type the passphrase of a protected key before it is refused. */
export const MAX_PASSPHRASE_TRIES = 3

export interface PassphraseOptions extends KeyFileOptions {
  /** Non-interactive (MEGACHAT_PASSPHRASE): makes, opens or protects the key without asking. */
  passphrase?: string
  /**
   * Asked when the key is protected and no `passphrase` was given; `again` is true after a wrong
   * answer.
   */
  askPassphrase?: (again: boolean) => Promise<string>
  /**
   * Asked for a passphrase that will protect the key from now on (`--passphrase`): for a new key
   * (`'new'`) or for one that has none yet (`'protect'`). It must confirm the choice (typed twice)
   * and never return an empty one.
   */
  choosePassphrase?: (purpose: 'new' | 'protect') => Promise<string>
}

export interface OpenedKey {
  privateKey: PrivateKey
  /** made just now */
  created: boolean
  /** the stored key needs a passphrase to open (from now on, when `file` is set) */
  protected: boolean
  /** an unprotected key was given a passphrase just now */
  protectedNow: boolean
  /** The key file to store in place of the old one (a new key, or a newly protected one); absent when nothing changes. */
  file?: Promise<Uint8Array>
}

export interface OpenKeyOptions extends PassphraseOptions {
  /** makes a new key (default: @libp2p/crypto's Ed25519) */
  generate?: () => Promise<PrivateKey>
}

/** undefined when `passphrase` may protect a key, else the reason in plain words. */
export function newPassphraseProblem (passphrase: string): string | undefined {
  if (passphrase === '') return 'an empty passphrase would leave the key unprotected: type one, or start without --passphrase to keep the key unencrypted'
  return undefined
}

const given = (passphrase: string | undefined): passphrase is string => passphrase != null && passphrase !== ''

export async function openKey (stored: Uint8Array | undefined, options: OpenKeyOptions = {}): Promise<OpenedKey> {
  if (stored == null) {
    const passphrase = given(options.passphrase) ? options.passphrase : await chosen(options, 'new')
    const privateKey = await (options.generate ?? (async () => await generateKeyPair('Ed25519')))()
    return { privateKey, created: true, protected: given(passphrase), protectedNow: false, file: encodeKeyFile(privateKey, passphrase, options) }
  }
  if (isProtected(stored)) {
    if (given(options.passphrase) || options.askPassphrase == null) {
      return { privateKey: await decodeKeyFile(stored, options.passphrase), created: false, protected: true, protectedNow: false }
    }
    for (let tries = 1; ; tries++) {
      try {
        const privateKey = await decodeKeyFile(stored, await options.askPassphrase(tries > 1))
        return { privateKey, created: false, protected: true, protectedNow: false }
      } catch (err: any) {
        if (err.name !== WrongPassphraseError.name || tries >= MAX_PASSPHRASE_TRIES) throw err
      }
    }
  }
  const privateKey = await decodeKeyFile(stored)
  const passphrase = given(options.passphrase) ? options.passphrase : await chosen(options, 'protect')
  if (!given(passphrase)) return { privateKey, created: false, protected: false, protectedNow: false }
  return { privateKey, created: false, protected: true, protectedNow: true, file: encodeKeyFile(privateKey, passphrase, options) }
}

async function chosen (options: OpenKeyOptions, purpose: 'new' | 'protect'): Promise<string | undefined> {
  if (options.choosePassphrase == null) return undefined
  const passphrase = await options.choosePassphrase(purpose)
  const problem = newPassphraseProblem(passphrase)
  if (problem != null) throw new InvalidInputError(problem)
  return passphrase
}
