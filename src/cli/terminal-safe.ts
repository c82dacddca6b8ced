/**
 * Text from the network made safe to print on a terminal: control characters and escape sequences are
 * shown, never obeyed. A message could otherwise clear the screen, set the window title, move the cursor
 * to draw a fake "bob:" line in colour, or turn the rest of a line around with a bidi override.
 *
 * C0 and C1 controls and DEL become `\xHH` (ESC is `\x1b`, so an escape sequence shows as harmless text);
 * bidi controls and line/paragraph separators become `\uHHHH`; lone surrogates become U+FFFD. In a
 * message body a line break starts an indented line, so no remote line can pass for one of ours; in a
 * name (one line) it is shown as `\x0a` like the rest.
 */

/** DEL, C1, bidi marks, embeddings, overrides and isolates, U+2028/2029; beside C0 and lone surrogates below */
const OTHERS = '\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069'
const LONE_SURROGATE = '|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]'
/** in a message body tab and line feed are let through; in a name nothing of C0 is */
const UNSAFE = new RegExp(`[\\0-\\x08\\x0b-\\x1f${OTHERS}]${LONE_SURROGATE}`, 'g')
const UNSAFE_IN_NAME = new RegExp(`[\\0-\\x1f${OTHERS}]${LONE_SURROGATE}`, 'g')
/** How a message's second and later lines start. */
export const CONTINUATION = '\n    '

function visible (c: string): string {
  const code = c.charCodeAt(0)
  if (code >= 0xd800 && code <= 0xdfff) return '\ufffd'
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/** A message body: controls shown, line breaks kept but indented. */
export function safeText (text: string): string {
  return text.replace(UNSAFE, visible).replaceAll('\n', CONTINUATION)
}

/** A name, room name or other one-line value: every control shown, line breaks and tabs too. */
export function safeName (text: string): string {
  return text.replace(UNSAFE_IN_NAME, visible)
}
