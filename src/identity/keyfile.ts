/**
 * The identity key file format, as pure functions over bytes (no file system here, so the browser
 * can keep the same blob in IndexedDB).
 *
 * Plain:      {"v":1,"type":"Ed25519","key":"<base64 protobuf private key>"}
 * Protected:  {"v":1,"type":"Ed25519","kdf":{"name":"scrypt","N":..,"r":8,"p":1,"salt":"<b64>"},
 *              "cipher":"xchacha20-poly1305","nonce":"<b64>","sealed":"<b64>"}
 * The salt is random per file and the KDF is slow on purpose; a wrong passphrase fails the AEAD tag.
 */
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { fromString, toString } from 'uint8arrays'
import { CorruptDataError, PassphraseRequiredError, WrongPassphraseError } from '../errors.js'
import type { PrivateKey } from '@libp2p/interface'

export interface KdfParams { name: 'scrypt', N: number, r: number, p: number, salt: string }

export interface KeyFileOptions {
  /** scrypt cost (N). Default 2^17: about half a second and 128 MiB, once per start. Tests lower it. */
  scryptN?: number
}

const b64 = (b: Uint8Array): string => toString(b, 'base64')
const unb64 = (s: unknown): Uint8Array => {
  if (typeof s !== 'string') throw new CorruptDataError('identity key file is corrupted (missing field)')
  return fromString(s, 'base64')
}

async function deriveKey (passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  return scryptAsync(new TextEncoder().encode(passphrase.normalize('NFKC')), unb64(kdf.salt), {
    N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32, maxmem: 2 ** 31
  })
}

export async function encodeKeyFile (key: PrivateKey, passphrase?: string, options: KeyFileOptions = {}): Promise<Uint8Array> {
  const raw = privateKeyToProtobuf(key)
  let doc: Record<string, unknown>
  if (passphrase == null || passphrase === '') {
    doc = { v: 1, type: key.type, key: b64(raw) }
  } else {
    const kdf: KdfParams = { name: 'scrypt', N: options.scryptN ?? 2 ** 17, r: 8, p: 1, salt: b64(crypto.getRandomValues(new Uint8Array(16))) }
    const nonce = crypto.getRandomValues(new Uint8Array(24))
    const sealed = xchacha20poly1305(await deriveKey(passphrase, kdf), nonce).encrypt(raw)
    doc = { v: 1, type: key.type, kdf, cipher: 'xchacha20-poly1305', nonce: b64(nonce), sealed: b64(sealed) }
  }
  return new TextEncoder().encode(JSON.stringify(doc) + '\n')
}

/** True when the file needs a passphrase to open. */
export function isProtected (file: Uint8Array): boolean {
  return parse(file).sealed != null
}

export async function decodeKeyFile (file: Uint8Array, passphrase?: string): Promise<PrivateKey> {
  const doc = parse(file)
  try {
    if (doc.sealed == null) return privateKeyFromProtobuf(unb64(doc.key))
  } catch (err: any) {
    if (err instanceof CorruptDataError) throw err
    throw new CorruptDataError('identity key file is corrupted (bad key)')
  }
  if (passphrase == null || passphrase === '') throw new PassphraseRequiredError('identity key is protected by a passphrase; set MEGACHAT_PASSPHRASE or enter it when asked')
  const kdf = doc.kdf as KdfParams | undefined
  if (kdf?.name !== 'scrypt' || doc.cipher !== 'xchacha20-poly1305' ||
      !Number.isInteger(kdf.N) || kdf.N < 2 || kdf.N > 2 ** 22 || (kdf.N & (kdf.N - 1)) !== 0 || kdf.r !== 8 || kdf.p !== 1 ||
      unb64(doc.nonce).byteLength !== 24 || unb64(kdf.salt).byteLength < 16) {
    throw new CorruptDataError('identity key file is corrupted (unknown protection)')
  }
  let raw: Uint8Array
  try {
    raw = xchacha20poly1305(await deriveKey(passphrase, kdf), unb64(doc.nonce)).decrypt(unb64(doc.sealed))
  } catch (err: any) {
    if (err instanceof CorruptDataError) throw err
    throw new WrongPassphraseError('wrong passphrase for the identity key')
  }
  try {
    return privateKeyFromProtobuf(raw)
  } catch {
    throw new CorruptDataError('identity key file is corrupted (bad key)')
  }
}

function parse (file: Uint8Array): Record<string, any> {
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder().decode(file))
  } catch {
    throw new CorruptDataError('identity key file is corrupted (not JSON)')
  }
  if (doc == null || typeof doc !== 'object' || (doc as any).v !== 1) throw new CorruptDataError('identity key file is corrupted or from a newer version')
  return doc as Record<string, any>
}
