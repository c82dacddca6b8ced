/**
 * File names from the network made safe to use as one name inside the files folder: never a path, never
 * hidden, never a device name, never text that shows as something else.
 */

import { MAX_FILE_NAME_BYTES } from '../constants.js'

/** Longest name we write, in UTF-8 bytes (file systems take 255). */
export const MAX_SAFE_NAME_BYTES = 200

const enc = new TextEncoder()
/** Windows device names, with or without an extension. */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i
/** control characters, bidi and other invisible format characters (\p{Cf}), unpaired surrogates, separators */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu
/** characters that are path separators or not allowed somewhere (Windows) */
const RESERVED_CHARS = /[/\\:*?"<>|]/g

/**
 * One file name: path separators and characters Windows refuses become `_`, control, bidi and other
 * format characters go, leading dots and spaces go (so no `..`, no hidden file), trailing dots and
 * spaces go (Windows), device names (CON, NUL, COM1 …) get a leading `_`, and the name is cut to
 * MAX_SAFE_NAME_BYTES keeping its extension. Never empty: 'file'.
 */
export function safeFileName (name: string): string {
  let s = name.normalize('NFC').replace(UNSAFE, '').replace(RESERVED_CHARS, '_')
  s = s.replace(/^[.\s]+/u, '').replace(/[.\s]+$/u, '')
  if (s.length === 0) s = 'file'
  if (RESERVED.test(s)) s = `_${s}`
  return cut(s, MAX_SAFE_NAME_BYTES)
}

/** Cuts a name to `max` UTF-8 bytes, keeping an extension of up to 16 characters, at a code point boundary. */
function cut (name: string, max: number): string {
  if (enc.encode(name).byteLength <= max) return name
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : ''
  let base = [...name.slice(0, name.length - ext.length)]
  const room = max - enc.encode(ext).byteLength
  while (base.length > 0 && enc.encode(base.join('')).byteLength > room) base = base.slice(0, -1)
  return base.join('') + ext
}

/** The n-th alternative of a name taken already: `name (1).ext`. */
export function numberedName (name: string, n: number): string {
  if (n === 0) return name
  const dot = name.lastIndexOf('.')
  const [base, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  return cut(`${base} (${n})`, MAX_SAFE_NAME_BYTES - enc.encode(ext).byteLength) + ext
}

/** A name as offered: at most MAX_FILE_NAME_BYTES of UTF-8, cut at a code point, keeping its extension. */
export function cutName (name: string): string {
  return cut(name, MAX_FILE_NAME_BYTES)
}
