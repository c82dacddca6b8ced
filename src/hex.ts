/**
 * Lower-case hex for message ids on the DM path: a table lookup, several times quicker than
 * uint8arrays' base16 (which goes through multiformats) when it runs for every message of a burst.
 */
const DIGITS = Array.from('0123456789abcdef', c => c.charCodeAt(0))
/** most bytes turned into one string's character codes at once (longer input goes in pieces) */
const PIECE = 1024
/** the character codes of the string being made, reused (a string per byte pair made garbage) */
const codes: number[] = []

/** Bytes `start` to `end` of `bytes` (all of it by default) as lower-case hex. */
export function toHex (bytes: Uint8Array, start = 0, end = bytes.byteLength): string {
  if (end - start > PIECE) {
    let out = ''
    for (let at = start; at < end; at += PIECE) out += toHex(bytes, at, Math.min(end, at + PIECE))
    return out
  }
  codes.length = 2 * (end - start)
  for (let i = start, j = 0; i < end; i++, j += 2) {
    codes[j] = DIGITS[bytes[i] >> 4]
    codes[j + 1] = DIGITS[bytes[i] & 15]
  }
  return String.fromCharCode.apply(null, codes)
}

function nibble (code: number): number {
  if (code >= 48 && code <= 57) return code - 48 // 0-9
  if (code >= 97 && code <= 102) return code - 87 // a-f
  if (code >= 65 && code <= 70) return code - 55 // A-F
  throw new SyntaxError('not a hex string')
}

/** Hex (either case, even length) to bytes; throws SyntaxError for anything else. */
export function fromHex (hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length >> 1)
  hexInto(hex, out, 0)
  return out
}

/** Writes hex (as fromHex reads it) into `out` from `at`; returns the bytes written. */
export function hexInto (hex: string, out: Uint8Array, at: number): number {
  if (hex.length % 2 !== 0) throw new SyntaxError('not a hex string')
  const n = hex.length >> 1
  for (let i = 0; i < n; i++) out[at + i] = nibble(hex.charCodeAt(2 * i)) << 4 | nibble(hex.charCodeAt(2 * i + 1))
  return n
}
