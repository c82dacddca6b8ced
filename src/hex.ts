/**
 * Lower-case hex for message ids on the DM path: a table lookup, several times quicker than
 * uint8arrays' base16 (which goes through multiformats) when it runs for every message of a burst.
 */
const DIGITS = '0123456789abcdef'
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => DIGITS[i >> 4] + DIGITS[i & 15])

export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.byteLength; i++) out += BYTE_HEX[bytes[i]]
  return out
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
