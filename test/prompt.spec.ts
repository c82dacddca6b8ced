/**
 * The terminal's passphrase questions (src/cli/prompt.ts) without a terminal: answers are written to
 * a stream as a person would type them, and what the person would read is collected.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { isProtected, KEY_FILE, loadIdentity } from '../src/identity/index.js'
import { askPassphrase, choosePassphrase, HiddenPrompt } from '../src/cli/prompt.js'
import { Cleanup, tempDir } from './fixtures.js'

const FAST = { scryptN: 2 ** 10 }

/** A prompt fed `typed` (one answer a line), and what it printed. */
function typing (...typed: string[]): { prompt: HiddenPrompt, shown: () => string, end: () => void } {
  const input = new PassThrough()
  const output = new PassThrough()
  let text = ''
  output.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  const prompt = new HiddenPrompt({ input, output, terminal: false })
  for (const line of typed) input.write(line + '\n')
  return { prompt, shown: () => text, end: () => { input.end() } }
}

const count = (text: string, what: string): number => text.split(what).length - 1

describe('passphrase prompt', function () {
  this.timeout(10_000)
  const cleanup = new Cleanup()
  afterEach(async () => { await cleanup.run() })

  it('asks for a new passphrase twice and returns it when both agree', async () => {
    const { prompt, shown } = typing('tr0ub4dor', 'tr0ub4dor')
    assert.equal(await choosePassphrase(prompt, 'new'), 'tr0ub4dor')
    prompt.close()
    assert.equal(count(shown(), 'Choose a passphrase: '), 1)
    assert.equal(count(shown(), 'Type it again: '), 1)
    assert.match(shown(), /cannot be opened, and nobody can recover it/)
    assert.ok(!shown().includes('tr0ub4dor'), 'the passphrase is never shown')
  })

  it('says when the two differ and asks again: a typo does not become the passphrase', async () => {
    const { prompt, shown } = typing('correct horse', 'correct hrose', 'correct horse', 'correct horse')
    assert.equal(await choosePassphrase(prompt, 'new'), 'correct horse')
    prompt.close()
    assert.match(shown(), /The two passphrases differ; nothing was saved\. Try again\./)
    assert.equal(count(shown(), 'Choose a passphrase: '), 2)
  })

  it('refuses an empty passphrase in plain words and asks again', async () => {
    const { prompt, shown } = typing('', 'battery staple', 'battery staple')
    assert.equal(await choosePassphrase(prompt, 'protect'), 'battery staple')
    prompt.close()
    assert.match(shown(), /no passphrase yet; choose one to protect it/)
    assert.match(shown(), /An empty passphrase would leave the key unprotected: type one, or start without --passphrase to keep the key unencrypted\./)
    assert.equal(count(shown(), 'Type it again: '), 1, 'an empty first answer is not confirmed')
  })

  it('fails with PassphraseRequiredError when the input ends before an answer', async () => {
    const { prompt, end } = typing('only once')
    end()
    await assert.rejects(choosePassphrase(prompt, 'new'), { name: 'PassphraseRequiredError' })
    prompt.close()
  })

  it('says "wrong passphrase" before asking again for a protected key', async () => {
    const { prompt, shown } = typing('first', 'second')
    assert.equal(await askPassphrase(prompt, false), 'first')
    assert.ok(!shown().includes('Wrong'))
    assert.equal(await askPassphrase(prompt, true), 'second')
    prompt.close()
    assert.match(shown(), /Wrong passphrase; try again\.\nPassphrase for your identity key: /)
  })

  it('with loadIdentity: a typo in the confirmation leaves the key under the passphrase meant, and a typo later can be retyped', async () => {
    const dir = join(cleanup.dir(await tempDir('megachat-prompt-')), 'data')
    const first = typing('my secret', 'my secert', 'my secret', 'my secret')
    const made = await loadIdentity(dir, { ...FAST, choosePassphrase: async (purpose) => await choosePassphrase(first.prompt, purpose) })
    first.prompt.close()
    assert.equal(isProtected(await readFile(join(dir, KEY_FILE))), true)

    const later = typing('my secert', 'my secret')
    const opened = await loadIdentity(dir, { ...FAST, askPassphrase: async (again) => await askPassphrase(later.prompt, again) })
    later.prompt.close()
    assert.equal(opened.peerId.toString(), made.peerId.toString())
    assert.match(later.shown(), /Wrong passphrase; try again\./)
  })
})
