/** Protocol ids, limits and defaults shared by the features. */

export const DM_PROTOCOL = '/megachat/dm/2.0.0'
/** The DHT protocol of the MegaChat network (kept apart from the public IPFS DHT). */
export const DHT_PROTOCOL = '/megachat/kad/1.0.0'

/** Longest direct-message text, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 64 * 1024
/** Longest file offer (src/files/pb/file.proto) a message may carry: name, type, thumbnail, hashes and key. */
export const MAX_OFFER_BYTES = 17 * 1024
/** Longest DM frame on the wire: the text, a file offer, id, timestamp and protobuf overhead. */
export const MAX_DM_FRAME_BYTES = MAX_TEXT_BYTES + MAX_OFFER_BYTES + 256

/** Inbound DM streams one connection may hold open at once. */
export const DM_MAX_INBOUND_STREAMS = 8
/** An inbound DM stream that sends nothing for this long is closed. */
export const DM_IDLE_TIMEOUT_MS = 30_000
/** Most messages a sender has written and not yet seen acknowledged on one stream. */
export const DM_WINDOW = 1024
/** Most bytes of text a sender has written and not yet seen acknowledged on one stream. */
export const DM_WINDOW_BYTES = 1024 * 1024
/** Most messages a receiver holds read but not yet stored; it reads no further until they are. */
export const DM_MAX_UNSTORED = 512
/** A sender waiting this long for the next ack gives the stream up (the connection may not carry). */
export const DM_ACK_TIMEOUT_MS = 10_000
/** Author timestamps before this (2020-01-01) are refused as malformed. */
export const MIN_TIMESTAMP = Date.UTC(2020, 0, 1)
/** Author timestamps further than this ahead of our clock are refused as malformed. */
export const MAX_CLOCK_AHEAD_MS = 24 * 3600_000

/**
 * Messages from someone who is not a contact (a stranger) are a message request until the user accepts
 * (adds them) or blocks them. A request holds at most this many messages...
 */
export const REQUEST_MAX_MESSAGES = 20
/**
 * ...and this much: text in UTF-16 code units plus the bytes of file offers (a picture's offer carries
 * its thumbnail), so that one message of the longest size fits; the rest waits, unacknowledged, in the
 * sender's outbox.
 */
export const REQUEST_MAX_SIZE = MAX_TEXT_BYTES + MAX_OFFER_BYTES
/** Most open message requests; strangers beyond them wait (on their side) until the user answers some. */
export const MAX_REQUESTS = 100

/** How long to look for a contact (DHT lookup plus dials) before giving up for now. */
export const FIND_TIMEOUT_MS = 15_000
/** How often messages still waiting in the outbox are retried. */
export const RETRY_INTERVAL_MS = 30_000
/** Offline contacts are probed (for presence) with a delay that doubles up to this. */
export const MAX_PROBE_DELAY_MS = 10 * 60_000

export const FILE_PROTOCOL = '/megachat/file/1.0.0'
/** Bytes per chunk of a file we send (1 GiB: 1024 chunks, 32 KiB of hashes). */
export const FILE_CHUNK_BYTES = 1024 * 1024
/** Chunk sizes accepted in an offer. */
export const MIN_FILE_CHUNK_BYTES = 16 * 1024
export const MAX_FILE_CHUNK_BYTES = 4 * 1024 * 1024
/** Largest file sent or accepted. */
export const MAX_FILE_BYTES = 64 * 1024 ** 3
/** Most chunks a file may have (64 GiB at 1 MiB): the hashes frame is at most 2 MiB. */
export const MAX_FILE_CHUNKS = 65_536
/** Longest file name in an offer, in UTF-8 bytes; longest MIME type. */
export const MAX_FILE_NAME_BYTES = 255
export const MAX_FILE_TYPE_BYTES = 127
/** Largest thumbnail in an offer. */
export const MAX_THUMBNAIL_BYTES = 16 * 1024
/** Contacts' files up to this size are fetched without asking (default of `--auto-fetch`). */
export const AUTO_FETCH_BYTES = 64 * 1024 * 1024
/** Files fetched at once; more wait their turn. */
export const MAX_CONCURRENT_FETCHES = 3
/** Offers waiting for the user (or for their sender) kept at most; more are refused and counted. */
export const MAX_PENDING_OFFERS = 1000
/**
 * Chunks a receiver lets the sender send ahead of what it has written (its memory bound per transfer):
 * at most this many. A transfer grants what covers FILE_CREDIT_RATE over the round trip it measured when
 * it asked for the file, and at least FILE_MIN_CREDIT_CHUNKS (see creditFor in src/files/protocol.ts).
 */
export const FILE_CREDIT_CHUNKS = 16
export const FILE_MIN_CREDIT_CHUNKS = 4
/** The rate (bytes a second) a transfer's credit is sized for: 16 chunks of 1 MiB cover it over 140 ms. */
export const FILE_CREDIT_RATE = 100 * 1024 * 1024
/** Inbound file streams one connection may hold open at once. */
export const FILE_MAX_INBOUND_STREAMS = 8
/** A file stream's first frame (each side) must come within this; then no frame may take longer than the idle timeout. */
export const FILE_FIRST_FRAME_MS = 10_000
export const FILE_IDLE_TIMEOUT_MS = 30_000
/** Free disk kept free beyond a file being fetched. */
export const FILE_DISK_MARGIN_BYTES = 64 * 1024 * 1024

/** UDP port of the STUN responder that a bootstrap node runs beside its libp2p listeners. */
export const DEFAULT_STUN_PORT = 3478

export const CALL_PROTOCOL = '/megachat/call/1.0.0'
/** A call not answered in this time is a missed call on both sides. */
export const RING_TIMEOUT_MS = 30_000
/** An answered call whose media has not connected in this time has failed. */
export const CALL_CONNECT_TIMEOUT_MS = 30_000
/** Longest SDP (offer or answer) accepted; real ones are 2-10 KiB. */
export const MAX_SDP_BYTES = 32 * 1024
/** Longest call-signalling frame: an SDP plus the other fields. */
export const MAX_CALL_FRAME_BYTES = MAX_SDP_BYTES + 2048
/** How long a signalling stream opened ahead of a call (Calls.prepare) is kept for it. */
export const CALL_PREPARED_MS = 60_000
/** How long an inbound signalling stream may stay silent before its first frame: a stream opened ahead of a call waits for it. */
export const CALL_FIRST_FRAME_MS = CALL_PREPARED_MS + 30_000
/**
 * A connected call's record is stored when it connects and stored again this often while it runs (its end
 * moved on), so that a page that dies mid-call (a reload, a closed tab) keeps it with at most this much of
 * its length lost: a write on the way out does not survive.
 */
export const CALL_RECORD_MS = 15_000
/** Call-signalling streams one connection may hold open at once. */
export const CALL_MAX_INBOUND_STREAMS = 4
/** Frames one signalling stream may carry (a call needs a few dozen: offer, answer, candidates); MEDIA frames apart. */
export const CALL_MAX_FRAMES = 256
/** A side sends its camera and microphone state (a MEDIA frame) at most once in this time; changes meanwhile go out together after it. */
export const CALL_MEDIA_FRAME_MS = 500
/** MEDIA frames a signalling stream may bring ahead of that pace (frames bunch up on the way) before it is refused. */
export const CALL_MEDIA_BURST = 16

/** Bootstrap nodes that run coturn (`--turn`) hand out TURN REST credentials to connected peers on this protocol. */
export const TURN_CREDENTIALS_PROTOCOL = '/megachat/turn-credentials/1.0.0'
/** Longest TURN credentials frame: four URLs of up to 256 characters, a username and a credential. */
export const MAX_TURN_FRAME_BYTES = 2048
/** How long TURN credentials last: calls relayed through TURN must outlive them (coturn checks expiry at each refresh). */
export const TURN_CREDENTIALS_TTL_S = 6 * 3600
/** Default UDP and TCP port of the bootstrap node's coturn (3478, the usual one, is its STUN responder's). */
export const DEFAULT_TURN_PORT = 3479

const encoder = new TextEncoder()
/** Is the text longer than `max` UTF-8 bytes? (Encodes it only when its length leaves room for doubt.) */
export function overUtf8 (text: string, max: number): boolean {
  // a UTF-16 code unit takes at most three UTF-8 bytes, and at least one
  if (text.length * 3 <= max) return false
  if (text.length > max) return true
  return encoder.encode(text).byteLength > max
}

/**
 * libp2p pings every connection every 10 s and aborts one whose ping is not answered within a timeout
 * that follows past pings, 5 s at least by default. A tab whose main thread is busy for a few seconds, or
 * an uplink full of a call's video (home routers queue seconds of it), lost its relayed connections and
 * its bootstrap node that way in the middle of a call's set-up (the NAT lab's symmetric calls, about one
 * in eight). Here a ping has 12 to 14 s, and the next starts 15 s after the last: never while one is
 * still out (the ping protocol allows one stream at a time, and libp2p aborts the connection when a
 * heartbeat cannot open its stream). A dead connection is still found within half a minute. Clients and
 * the bootstrap node use it.
 */
export const CONNECTION_MONITOR = { pingInterval: 15_000, pingTimeout: { minTimeout: 12_000, maxTimeout: 14_000 } }
/**
 * The ping protocol's streams per connection (the ping service's registration, which the connection
 * monitor's heartbeats count against). With @libp2p/ping's default of one outbound stream, a heartbeat
 * that came while the last ping's stream was still closing (a WebRTC data channel closes after a round
 * trip of its own) failed with TooManyOutboundProtocolStreamsError, and the monitor aborted the working
 * connection and every call and DM stream on it: the call bench lost its tabs' WebRTC connection that
 * way in about one run in five. Room for two heartbeats each way (test/adapters.spec.ts pins it).
 */
export const PING_STREAMS = { maxOutboundStreams: 2, maxInboundStreams: 3 }
/**
 * How long identify push waits before telling connected peers of this node's new addresses
 * (@libp2p/identify's default is 1 s). It is pushed when a transport starts listening, a relay
 * reservation above all (src/node/address-push.ts): the bootstrap node answers lookups with what the
 * last push told it, so this is how long a contact who just came online cannot be found at its relay
 * address. Still long enough to make one push of addresses that come together.
 */
export const IDENTIFY_PUSH_DEBOUNCE_MS = 100

/** What a contact's or room's local name may be (the name this user gives it; it never travels). */
export const LOCAL_NAME = /^[\p{L}\p{N}_.-]{1,32}$/u
export const LOCAL_NAME_RULE = '1-32 letters, digits, "_", "." or "-"'
