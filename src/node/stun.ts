/**
 * The npm `stun` package (CommonJS, ships no types), typed for what MegaChat uses of it: encoding and
 * decoding STUN messages. Node.js only (the bootstrap node's responder, the client's NAT probe).
 */
import { createRequire } from 'node:module'

/** The parts of the package used here and in the tests. */
export interface StunAttribute { type: number, value: any }
export interface StunMessage {
  readonly type: number
  readonly transactionId: Buffer
  getAttribute(type: number): StunAttribute | undefined
  getXorAddress(): { address: string, port: number, family: string } | undefined
}
export interface StunOutgoingMessage extends StunMessage {
  addXorAddress(address: string, port: number): unknown
  toBuffer(): Buffer
}
export interface StunLib {
  createMessage(type: number, transactionId?: Buffer): StunOutgoingMessage
  decode(message: Buffer): StunMessage
  constants: Record<string, number>
}

/** The npm `stun` package (CommonJS, ships no types), typed by {@link StunLib}. */
export const stun: StunLib = createRequire(import.meta.url)('stun')

