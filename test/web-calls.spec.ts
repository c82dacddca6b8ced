/**
 * Calls end to end: two Chromium profiles with a fake camera and microphone run the built web app,
 * call each other through the interface, and the media really flows (getStats counters rising).
 * Needs WebRTC, so it runs inside the test network namespace (npm test makes it). Screenshots of the
 * incoming-call screen and of a live call go to test-output/web/.
 */
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CHROMIUM, FAKE_MEDIA_ARGS, WEB_DIR, addContactInUi, openProfile, pollPage, serveBuiltApp } from './browser.js'
import { Cleanup, WEBRTC, fakeMedia, startBootstrap, startChat } from './fixtures.js'
import type { BootstrapNode } from '../bootstrap-node/index.js'
import type { Page } from 'playwright-core'

const OUTPUT = resolve('test-output/web')
/** the call view's quality line when media comes in: "↓ 488 kb/s", not "↓ 0 kb/s" */
const RECEIVING = /↓ (0\.[1-9]|[1-9])/
const WAIT_MS = 30_000

describe('calls in the web app (two Chromium profiles, fake camera and microphone)', function () {
  this.timeout(120_000)
  const cleanup = new Cleanup()
  const pageLog: string[] = []
  let boot: BootstrapNode
  let url: string
  let alice: Page
  let bob: Page
  let aliceId: string
  let bobId: string

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.warn(`      (skipped: no Chromium at ${CHROMIUM})`)
      this.skip()
    }
    if (!WEBRTC) {
      console.warn('      (skipped: calls need WebRTC, which needs the test network namespace: run them through npm test)')
      this.skip()
    }
    if (!existsSync(join(WEB_DIR, 'index.html'))) throw new Error('dist/web/index.html is missing: run `npm run web:build` first (npm test does)')
    await mkdir(OUTPUT, { recursive: true })
    const app = cleanup.add(await serveBuiltApp())
    boot = cleanup.add(await startBootstrap())
    const ws = boot.addresses().find(a => a.includes('/ws/'))
    assert.ok(ws != null)
    url = `${app.url}?bootstrap=${encodeURIComponent(ws)}`
    ;[alice, bob] = await Promise.all(['alice', 'bob'].map(async name => {
      const { page } = await openProfile(cleanup, name, { args: FAKE_MEDIA_ARGS, log: pageLog })
      await page.goto(url)
      await page.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
      return page
    }))
    aliceId = await alice.evaluate(() => (window as any).megachat.peerId.toString())
    bobId = await bob.evaluate(() => (window as any).megachat.peerId.toString())
    await addContactInUi(alice, bobId, 'bob')
    await addContactInUi(bob, aliceId, 'alice')
  })

  after(async () => {
    await cleanup.run()
  })

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && pageLog.length > 0) {
      console.error(`      page log (last 40 lines):\n${pageLog.slice(-40).map(l => `        ${l}`).join('\n')}`)
    }
    // no test leaves a call behind
    for (const p of [alice, bob]) {
      await p?.evaluate(async () => { for (const c of (window as any).megachat.calls()) await (window as any).megachat.hangup(c.id) }).catch(() => {})
      await p?.locator('.call-overlay').waitFor({ state: 'detached', timeout: WAIT_MS }).catch(() => {})
    }
  })

  const overlay = (p: Page): ReturnType<Page['locator']> => p.locator('.call-overlay')

  async function callState (p: Page, state: string): Promise<string> {
    const view = p.locator(`.call-overlay.call[data-state="${state}"]`)
    await view.waitFor({ timeout: WAIT_MS })
    return await view.getAttribute('data-call-id') ?? ''
  }

  /** Presses a call button in the open conversation with `name`. */
  async function call (p: Page, name: string, video: boolean): Promise<void> {
    await p.locator(`.list button[data-name="${name}"]`).click()
    await p.getByRole('button', { name: `${video ? 'Video' : 'Voice'} call ${name}` }).click()
  }

  async function ringsAt (p: Page, caller: string): Promise<void> {
    await p.locator('.call-overlay.incoming').waitFor({ timeout: WAIT_MS }).catch(async (err: Error) => {
      // say why, when the caller is one of ours: its last call and any notice
      const why = caller === 'alice' ? await alice.evaluate(async () => JSON.stringify({ notice: (window as any).megachatModel.callNotice, calls: (window as any).megachat.calls() })) : ''
      throw new Error(`${err.message}\ncaller: ${why}`)
    })
    assert.equal((await p.locator('[data-testid="caller"]').textContent())?.trim(), caller)
  }

  /** alice calls bob with video, bob answers with his camera on; resolves once both are connected */
  async function videoCallConnected (): Promise<void> {
    await call(alice, 'bob', true)
    await ringsAt(bob, 'alice')
    await bob.getByRole('button', { name: 'Answer with video' }).click()
    await callState(alice, 'connected')
    await callState(bob, 'connected')
  }

  /** getStats figures of the page's current call */
  async function stats (p: Page): Promise<{ framesDecoded: number, audioPacketsReceived: number, localCandidate?: string, remoteCandidate?: string, frameWidth?: number }> {
    return await p.evaluate(async () => await (window as any).megachatModel.session.stats())
  }

  /** Waits until a counter of the page's call stats (frames decoded, audio packets) is above `above`. */
  async function rises (p: Page, field: 'framesDecoded' | 'audioPacketsReceived', above: number, who: string): Promise<void> {
    await pollPage(p, async ({ field, above }) => (await (window as any).megachatModel.session.stats())[field] > above, { field, above }, `${who}'s ${field} above ${above}`, WAIT_MS)
  }

  /** The call's history line in the open conversation. */
  async function historyLine (p: Page, id: string): Promise<{ outcome: string | null, text: string }> {
    const entry = p.locator(`.call-entry[data-id="call-${id}"]`)
    await entry.waitFor({ timeout: WAIT_MS })
    return { outcome: await entry.getAttribute('data-outcome'), text: (await entry.textContent()) ?? '' }
  }

  it('a video call connects: each side decodes the other\'s video and receives audio, directly', async () => {
    // opening the conversation opens the call's signalling stream ahead; the call then takes it
    const prepared = async (): Promise<boolean> => await alice.evaluate(() => { const chat = (window as any).megachat; return (window as any).megachatInternals.calls.isPrepared(chat.resolve('bob')) as boolean })
    await alice.locator('.list button[data-name="bob"]').click()
    await pollPage(alice, () => { const chat = (window as any).megachat; return (window as any).megachatInternals.calls.isPrepared(chat.resolve('bob')) as boolean }, undefined, 'a call stream prepared for bob', WAIT_MS)
    await call(alice, 'bob', true)
    await alice.locator('.call-overlay.call').waitFor({ timeout: WAIT_MS })
    assert.equal(await prepared(), false, 'the call took the prepared stream')
    await ringsAt(bob, 'alice')
    // the caller's view plays the remote stream from the start: its tracks are in it before the answer,
    // so that none is added to a playing video element (which starts over) as the call connects
    const remoteTracks = async (): Promise<string[]> => await alice.evaluate(() => ((window as any).megachatModel.session.remote as MediaStream).getTracks().map(t => `${t.kind} ${t.id}`).sort())
    const ringing = await remoteTracks()
    assert.deepEqual(ringing.map(t => t.split(' ')[0]), ['audio', 'video'])
    // the caller's safety code is on the incoming screen
    assert.equal((await bob.locator('.incoming-safety .safety-code').textContent())?.trim(), await bob.evaluate((id) => (window as any).megachat.safetyCode(id), aliceId))
    await bob.screenshot({ path: join(OUTPUT, 'call-incoming.png') })
    await bob.getByRole('button', { name: 'Answer with video' }).click()
    const id = await callState(alice, 'connected')
    assert.equal(await callState(bob, 'connected'), id)

    assert.deepEqual(await remoteTracks(), ringing, 'the same remote tracks once connected')
    // one transport for audio and video (max-bundle): the caller gathered candidates for one media section only
    const withCandidates = await alice.evaluate(() => ((window as any).megachatModel.session.pc as RTCPeerConnection).localDescription?.sdp.split('\r\nm=').slice(1)
      .filter(section => section.includes('\r\na=candidate:')).length)
    assert.equal(withCandidates, 1, 'candidates in one media section of the offer')

    const first = await Promise.all([stats(alice), stats(bob)])
    // counters keep rising: frames decoded and audio packets received, on both sides
    for (const [i, [p, who]] of ([[alice, 'alice'], [bob, 'bob']] as const).entries()) {
      await rises(p, 'framesDecoded', first[i].framesDecoded + 10, who)
      await rises(p, 'audioPacketsReceived', first[i].audioPacketsReceived + 10, who)
    }
    const later = await Promise.all([stats(alice), stats(bob)])
    for (const s of later) {
      assert.ok((s.frameWidth ?? 0) > 0, `video frames have a size: ${JSON.stringify(s)}`)
      // media straight between the two: host candidates, no TURN relay
      assert.equal(s.localCandidate, 'host')
      assert.equal(s.remoteCandidate, 'host')
    }
    // the remote video element is playing real frames
    await alice.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('video.remote')
      return v != null && v.videoWidth > 0 && !v.classList.contains('hidden')
    }, undefined, { timeout: WAIT_MS })
    // the whole picture is drawn inside the window: the video box fits it, and the picture (contain) in the box
    const drawn = await alice.evaluate(() => {
      const v = document.querySelector<HTMLVideoElement>('video.remote') as HTMLVideoElement
      const box = v.getBoundingClientRect()
      const scale = Math.min(box.width / v.videoWidth, box.height / v.videoHeight)
      return { top: box.top, bottom: box.bottom, left: box.left, right: box.right, picture: { width: v.videoWidth * scale, height: v.videoHeight * scale }, window: { width: innerWidth, height: innerHeight } }
    })
    assert.ok(drawn.top >= 0 && drawn.left >= 0 && drawn.bottom <= drawn.window.height && drawn.right <= drawn.window.width, `the remote video fits the window: ${JSON.stringify(drawn)}`)
    assert.ok(drawn.picture.height <= drawn.window.height && drawn.picture.width <= drawn.window.width, `the picture is letterboxed, not cut: ${JSON.stringify(drawn)}`)
    // the quality line shows the media coming in: a received bitrate above zero
    await alice.locator('[data-testid="call-quality"]', { hasText: RECEIVING }).waitFor({ timeout: WAIT_MS })
    await alice.screenshot({ path: join(OUTPUT, 'call-live.png') })

    // hang-up from the caller ends both; every track and the connection are stopped
    await alice.evaluate(() => { (window as any).lastSession = (window as any).megachatModel.session })
    await alice.getByRole('button', { name: 'Hang up' }).click()
    await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
    await overlay(bob).waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.deepEqual(await alice.evaluate(() => {
      const s = (window as any).lastSession
      return [s.pc.connectionState, s.local.getTracks().every((t: MediaStreamTrack) => t.readyState === 'ended')]
    }), ['closed', true])
    const mine = await historyLine(alice, id)
    assert.equal(mine.outcome, 'answered')
    assert.match(mine.text, /Outgoing video call · \d+:\d\d/)
    assert.match((await historyLine(bob, id)).text, /Incoming video call/)
  })

  it('during a call: screen sharing replaces the camera, the camera goes off and on, the microphone is switched', async () => {
    await videoCallConnected()
    // the fake camera is 640x480; the fake screen is the size of the browser's window: the shape of the
    // frames bob's decoder puts out tells which one alice sends (the encoder may scale, not reshape)
    /** bob's decoded frames: 4:3 (the camera) or not (the screen) */
    const bobSeesCamera = async (camera: boolean): Promise<number> => await pollPage(bob, async (camera): Promise<number | false> => {
      const s = await (window as any).megachatModel.session.stats()
      if (s.frameWidth == null) return false
      const ratio = s.frameWidth / s.frameHeight
      return (Math.abs(ratio - 4 / 3) < 0.02) === camera ? ratio : false
    }, camera, camera ? "bob's frames from alice's camera (4:3)" : "bob's frames from alice's screen", WAIT_MS) as number
    await bobSeesCamera(true)
    await alice.getByRole('button', { name: 'Share your screen' }).click()
    const seen = await bobSeesCamera(false)
    // what alice sends is the screen: the same shape as bob's frames
    const screen = await alice.evaluate(() => {
      const session = (window as any).megachatModel.session
      const track = session.pc.getSenders().find((x: RTCRtpSender) => x.track?.kind === 'video')?.track as MediaStreamTrack
      return { sharing: session.sharing as boolean, surface: (track.getSettings() as any).displaySurface as string | undefined, ratio: (track.getSettings().width ?? 0) / (track.getSettings().height ?? 1) }
    })
    assert.equal(screen.sharing, true)
    assert.ok(screen.surface != null, 'the video sender carries a display capture')
    assert.ok(Math.abs(screen.ratio - seen) < 0.05, `bob's frames (${seen.toFixed(3)}) are shaped as alice's screen (${screen.ratio.toFixed(3)})`)
    await alice.getByRole('button', { name: 'Stop sharing your screen' }).click()
    await bobSeesCamera(true)

    // camera off: nothing is sent and the camera is released; on again: frames flow again
    await alice.getByRole('button', { name: 'Turn camera off' }).click()
    await alice.getByRole('button', { name: 'Turn camera on' }).waitFor({ timeout: WAIT_MS })
    assert.deepEqual(await alice.evaluate(() => {
      const s = (window as any).megachatModel.session
      return [s.pc.getSenders().some((x: RTCRtpSender) => x.track?.kind === 'video'), s.local.getVideoTracks().length]
    }), [false, 0])
    await alice.getByRole('button', { name: 'Turn camera on' }).click()
    const frames = (await stats(bob)).framesDecoded
    await rises(bob, 'framesDecoded', frames + 10, 'bob')

    // another microphone, from the devices panel
    await alice.getByRole('button', { name: 'Camera and microphone' }).click()
    const mic = alice.locator('.call-devices select').first()
    const other = await mic.locator('option', { hasText: 'Fake Audio Input 1' }).getAttribute('value') ?? ''
    await mic.selectOption(other)
    await alice.waitForFunction(() => (window as any).megachatModel.session.pc.getSenders().some((x: RTCRtpSender) => x.track?.label === 'Fake Audio Input 1'), undefined, { timeout: WAIT_MS })
    const packets = (await stats(bob)).audioPacketsReceived
    await rises(bob, 'audioPacketsReceived', packets + 20, 'bob')

    // on a phone-sized screen the controls stay reachable
    await bob.setViewportSize({ width: 390, height: 780 })
    try {
      assert.ok(await bob.getByRole('button', { name: 'Hang up' }).isVisible())
      await bob.locator('[data-testid="call-quality"]', { hasText: RECEIVING }).waitFor({ timeout: WAIT_MS })
      await bob.screenshot({ path: join(OUTPUT, 'call-phone.png') })
    } finally {
      await bob.setViewportSize({ width: 1100, height: 720 })
    }
  })

  it('the other side sees the camera go off (their avatar, not a frozen picture) and the microphone muted', async () => {
    await videoCallConnected()
    const remoteVideoShown = (): boolean => {
      const v = document.querySelector<HTMLVideoElement>('video.remote')
      return v != null && v.videoWidth > 0 && !v.classList.contains('hidden')
    }
    const bobMuted = alice.getByRole('img', { name: 'bob\'s microphone is off' })
    await alice.waitForFunction(remoteVideoShown, undefined, { timeout: WAIT_MS })
    assert.equal(await alice.locator('.call-avatar').count(), 0)
    assert.equal(await bobMuted.count(), 0)

    // bob turns his camera off: alice sees his avatar in place of his last frame (Chromium keeps the
    // received track live and unmuted, so only bob's word tells her)
    await bob.getByRole('button', { name: 'Turn camera off' }).click()
    await alice.locator('.call-avatar').waitFor({ timeout: WAIT_MS })
    assert.equal(await alice.locator('video.remote.hidden').count(), 1)
    // bob mutes: alice sees it
    await bob.getByRole('button', { name: 'Mute' }).click()
    await bobMuted.waitFor({ timeout: WAIT_MS })
    await alice.screenshot({ path: join(OUTPUT, 'call-remote-camera-mic-off.png') })

    // and both back on
    await bob.getByRole('button', { name: 'Unmute' }).click()
    await bobMuted.waitFor({ state: 'detached', timeout: WAIT_MS })
    await bob.getByRole('button', { name: 'Turn camera on' }).click()
    await alice.locator('.call-avatar').waitFor({ state: 'detached', timeout: WAIT_MS })
    await alice.waitForFunction(remoteVideoShown, undefined, { timeout: WAIT_MS })
  })

  it('a voice call, hung up by the callee, ends on both sides', async () => {
    await call(alice, 'bob', false)
    await ringsAt(bob, 'alice')
    assert.equal(await bob.getByRole('button', { name: 'Answer without video' }).count(), 0, 'a voice call has one answer button')
    await bob.getByRole('button', { name: 'Answer', exact: true }).click()
    const id = await callState(bob, 'connected')
    await callState(alice, 'connected')
    // voice only: nobody sends video, and the avatar shows in its place
    await bob.locator('.call-avatar').waitFor({ timeout: WAIT_MS })
    await bob.getByRole('button', { name: 'Mute' }).click()
    await bob.getByRole('button', { name: 'Unmute' }).waitFor({ timeout: WAIT_MS })
    await bob.getByRole('button', { name: 'Hang up' }).click()
    await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.match((await historyLine(alice, id)).text, /Outgoing voice call/)
  })

  it('declined: the caller sees it declined, and nothing rings any more', async () => {
    await call(alice, 'bob', true)
    await ringsAt(bob, 'alice')
    const id = await alice.locator('.call-overlay.call').getAttribute('data-call-id') ?? ''
    await bob.getByRole('button', { name: 'Decline' }).click()
    await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
    await overlay(bob).waitFor({ state: 'detached', timeout: WAIT_MS })
    assert.equal((await historyLine(alice, id)).outcome, 'declined')
    assert.match((await historyLine(alice, id)).text, /They declined your video call/)
    // the conversation lists say who declined, without a "You:" in front that would say the opposite
    await alice.locator('.list button[data-name="bob"] .item-preview', { hasText: 'They declined your video call' }).waitFor({ timeout: WAIT_MS })
    await bob.locator('.list button[data-name="alice"] .item-preview', { hasText: 'You declined the video call' }).waitFor({ timeout: WAIT_MS })
    assert.equal((await alice.locator('.list button[data-name="bob"] .item-preview').textContent())?.trim(), 'They declined your video call')
  })

  it('no answer: a missed call on both sides, counted unread for the callee', async () => {
    for (const p of [alice, bob]) await p.evaluate(() => { (window as any).megachatInternals.calls.ringTimeout = 3000 })
    try {
      await alice.locator('.list button[data-name="bob"]').click()
      await bob.getByRole('button', { name: 'Settings' }).click() // bob looks elsewhere while it rings
      await call(alice, 'bob', true)
      await ringsAt(bob, 'alice')
      const id = await bob.locator('.call-overlay.incoming').getAttribute('data-call-id') ?? ''
      await overlay(bob).waitFor({ state: 'detached', timeout: WAIT_MS })
      await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
      assert.match((await historyLine(alice, id)).text, /No answer/)
      await bob.locator('.list button[data-name="alice"] .badge').waitFor({ timeout: WAIT_MS })
      await bob.locator('.list button[data-name="alice"]').click()
      const theirs = await historyLine(bob, id)
      assert.equal(theirs.outcome, 'missed')
      assert.match(theirs.text, /Missed video call/)
      await bob.screenshot({ path: join(OUTPUT, 'call-missed.png') })
    } finally {
      for (const p of [alice, bob]) await p.evaluate(() => { (window as any).megachatInternals.calls.ringTimeout = 30_000 })
    }
  })

  it('calling a contact who is offline fails with a clear message', async () => {
    const gone = await startChat({ bootstrapNode: boot })
    const goneId = gone.peerId.toString()
    await gone.stop()
    await addContactInUi(alice, goneId, 'gone')
    await alice.getByRole('button', { name: 'Video call gone' }).click()
    const notice = alice.locator('[data-testid="call-notice"]')
    await notice.waitFor({ timeout: WAIT_MS })
    assert.match(await notice.textContent() ?? '', /offline/)
    await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
    await alice.locator('.call-entry[data-outcome="failed"]').waitFor({ timeout: WAIT_MS })
  })

  it('when both call each other at once, they end up in one call', async () => {
    await alice.locator('.list button[data-name="bob"]').click()
    await bob.locator('.list button[data-name="alice"]').click()
    // Both press their call button at the same instant: each page clicks at a time agreed beforehand.
    // (Two Playwright clicks one after the other let the first call ring before the second click on a
    // busy machine, and the ringing overlay then covers the button.)
    await Promise.all([alice.getByRole('button', { name: 'Video call bob' }).waitFor(), bob.getByRole('button', { name: 'Video call alice' }).waitFor()])
    const at = Date.now() + 500
    const clickAt = async (page: Page, name: string): Promise<void> => {
      await page.evaluate(async ([label, when]) => {
        const button = document.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`)
        if (button == null) throw new Error(`no button ${label}`)
        await new Promise(resolve => setTimeout(resolve, Math.max(0, when - Date.now())))
        button.click()
      }, [name, at] as const)
    }
    await Promise.all([clickAt(alice, 'Video call bob'), clickAt(bob, 'Video call alice')])
    const [a, b] = await Promise.all([callState(alice, 'connected'), callState(bob, 'connected')])
    assert.equal(a, b)
    assert.equal(await alice.locator('.call-overlay').count(), 1)
    assert.equal(await bob.locator('.call-overlay').count(), 1)
    assert.deepEqual(await alice.evaluate(() => (window as any).megachat.calls().map((c: any) => c.id)), [a])
  })

  it('a reload during a call ends it on the other side', async () => {
    await call(alice, 'bob', false)
    await ringsAt(bob, 'alice')
    await bob.getByRole('button', { name: 'Answer', exact: true }).click()
    await callState(alice, 'connected')
    await bob.reload()
    await overlay(alice).waitFor({ state: 'detached', timeout: WAIT_MS })
    await bob.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
  })

  it('a reload during a call keeps the call in the reloading side\'s own history, once', async () => {
    await call(alice, 'bob', false)
    await ringsAt(bob, 'alice')
    await bob.getByRole('button', { name: 'Answer', exact: true }).click()
    const id = await callState(alice, 'connected')
    await callState(bob, 'connected')
    // the call has been going on a little: sound comes through
    await rises(alice, 'audioPacketsReceived', 10, 'alice')
    await alice.reload()
    await alice.locator('#status[data-state="ready"]').waitFor({ timeout: WAIT_MS })
    await overlay(bob).waitFor({ state: 'detached', timeout: WAIT_MS })
    const kept = await alice.evaluate(async (id) => ((await (window as any).megachat.callHistory('bob')) as Array<{ id: string, outcome: string, connectedAt?: number, endedAt: number }>)
      .filter(r => r.id === id), id)
    assert.equal(kept.length, 1, `the call once in alice's history: ${JSON.stringify(kept)}`)
    assert.equal(kept[0].outcome, 'answered')
    assert.ok(kept[0].connectedAt != null && kept[0].endedAt >= kept[0].connectedAt, JSON.stringify(kept[0]))
    await alice.locator('.list button[data-name="bob"]').click()
    assert.match((await historyLine(alice, id)).text, /Outgoing voice call/)
    assert.equal(await alice.locator(`.call-entry[data-id="call-${id}"]`).count(), 1)
    await bob.locator('.list button[data-name="alice"]').click()
    assert.equal((await historyLine(bob, id)).outcome, 'answered')
  })

  it('a call from a peer ID that is not a contact is shown as an unknown caller', async () => {
    const stranger = cleanup.add(await startChat({ bootstrapNode: boot, callMedia: fakeMedia() }))
    let made = 'the call is being made'
    stranger.call(bobId).then(() => { made = 'the offer was sent' }, (err: Error) => { made = `${err.name}: ${err.message}` })
    await ringsAt(bob, 'Unknown caller').catch(async (err: Error) => {
      const known = await boot.libp2p.peerStore.get(peerIdFromString(bobId)).then(p => p.addresses.map(a => a.multiaddr.toString()), (e: Error) => e.name)
      const connections = boot.libp2p.getConnections(peerIdFromString(bobId)).map(c => `${c.status} ${c.remoteAddr.toString()}`)
      throw new Error(`${err.message}\nthe stranger's call: ${made}; its calls: ${JSON.stringify(stranger.calls())}; ` +
        `the bootstrap node's addresses of bob: ${JSON.stringify(known)}, its connections to bob: ${JSON.stringify(connections)}`)
    })
    const shown = await bob.locator('[data-testid="unknown-caller"]').textContent() ?? ''
    assert.match(shown, /Not in your contacts/)
    assert.ok(shown.includes(stranger.peerId.toString().slice(-4)), `the caller's peer ID is shown: ${shown}`)
    await bob.getByRole('button', { name: 'Decline' }).click()
    await overlay(bob).waitFor({ state: 'detached', timeout: WAIT_MS })
  })
})
