/** Peer IDs as people read them in a line of text. */

/** A full Ed25519 peer ID (12D3KooW…) anywhere in a text. */
export const PEER_ID_IN_TEXT = /12D3KooW[1-9A-HJ-NP-Za-km-z]{44}/g

/** A peer ID shortened to its start and end, `12D3…a1b2c3`: enough to tell people apart in a list. */
export function shortPeerId (id: string): string {
  return id.length > 14 ? `${id.slice(0, 4)}…${id.slice(-6)}` : id
}

/** Every full peer ID in a text (a multiaddr, a diagnosis line) shortened with `short` (default shortPeerId). */
export function shortPeerIds (text: string, short: (id: string) => string = shortPeerId): string {
  return text.replace(PEER_ID_IN_TEXT, id => short(id))
}
