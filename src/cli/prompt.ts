import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

/** Asks a question on the terminal without echoing the answer (for passphrases). */
export async function askHidden (question: string): Promise<string> {
  if (process.stdin.isTTY !== true) throw new Error('a passphrase is needed: set MEGACHAT_PASSPHRASE (no terminal to ask on)')
  let muted = false
  const output = new Writable({
    write (chunk, encoding, callback) {
      if (!muted) process.stderr.write(chunk, encoding)
      callback()
    }
  })
  const rl = createInterface({ input: process.stdin, output, terminal: true })
  return await new Promise<string>((resolve) => {
    rl.question(question, (answer) => {
      rl.close()
      process.stderr.write('\n')
      resolve(answer)
    })
    muted = true
  })
}
