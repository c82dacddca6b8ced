/**
 * Calls in the interface: the incoming-call screen (who, their safety code, answer or decline) and the
 * call view (remote and local video, duration, mute / camera / screen / devices, hang-up, and the
 * connection quality from getStats). The other side's camera and microphone state comes from what it
 * says (CallInfo.remoteCamera, remoteMic): a received track keeps showing the last frame when the
 * sender stops its camera, so their avatar takes its place then. Both show the model's current call; all call logic is in
 * src/calls (signalling and states) and src/calls/rtc.ts (the RTCPeerConnection).
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { duration, shortId } from '../messages.js'
import { Avatar, Icon, errorText } from './ui.js'
import type { CallInfo } from '../../src/index.js'
import type { CallStats, RtcCall } from '../../src/calls/rtc.js'
import type { ChatModel } from '../model.js'
import type { IconName } from './ui.js'

const STATS_MS = 1000

/**
 * A ring while a call comes in: two short tones every 3 s, made with Web Audio (no sound file to
 * load). Browsers allow sound only after the user has interacted with the page; before that it stays
 * silent and the screen alone says someone calls.
 */
function useRingtone (): void {
  useEffect(() => {
    let audio: AudioContext
    try {
      audio = new AudioContext()
    } catch {
      return
    }
    const ring = (): void => {
      if (audio.state !== 'running') return
      const gain = audio.createGain()
      gain.gain.value = 0.08
      gain.connect(audio.destination)
      for (const [start, freq] of [[0, 440], [0, 480], [0.5, 440], [0.5, 480]]) {
        const osc = audio.createOscillator()
        osc.frequency.value = freq
        osc.connect(gain)
        osc.start(audio.currentTime + start)
        osc.stop(audio.currentTime + start + 0.4)
      }
    }
    audio.resume().then(ring, () => {})
    const timer = setInterval(ring, 3000)
    return () => {
      clearInterval(timer)
      void audio.close()
    }
  }, [])
}

/** Whoever calls: their contact name, or "Unknown caller" and a short peer ID. */
function caller (model: ChatModel, call: CallInfo): { name: string, known: boolean } {
  const contact = model.contacts.value.find(c => c.peerId === call.peer)
  return contact != null ? { name: contact.name, known: true } : { name: 'Unknown caller', known: false }
}

/** The call going on, if any: ringing in, or under way. */
export function CallLayer ({ model }: { model: ChatModel }): preact.JSX.Element | null {
  const call = model.call.value
  if (call == null) return null
  if (call.state === 'incoming') return <IncomingCall key={call.id} model={model} call={call} />
  return <CallView key={call.id} model={model} call={call} />
}

function IncomingCall ({ model, call }: { model: ChatModel, call: CallInfo }): preact.JSX.Element {
  const { name, known } = caller(model, call)
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const answerRef = useRef<HTMLButtonElement>(null)
  useEffect(() => { answerRef.current?.focus() }, [])
  useRingtone()
  const act = (what: () => Promise<void>): void => {
    setBusy(true)
    what().catch(err => { setError(errorText(err)); setBusy(false) })
  }
  const kind = call.video ? 'Video call' : 'Voice call'
  return (
    <div class='call-overlay incoming' role='alertdialog' aria-modal='true' aria-labelledby='incoming-title' aria-describedby='incoming-kind' data-call-id={call.id}>
      <div class='incoming-card'>
        <div class='ring'><Avatar name={known ? name : call.peer.slice(-4)} /></div>
        <h2 id='incoming-title' data-testid='caller'>{name}</h2>
        <p id='incoming-kind' class='muted'>{kind} · incoming</p>
        {!known && (
          <p class='warn-line' data-testid='unknown-caller'>
            Not in your contacts: <code title={call.peer}>{shortId(call.peer)}</code>
          </p>
        )}
        <p class='incoming-safety' title='Compare this code with the caller'>
          <span><Icon name='shield' size={14} /> Safety code</span>
          <span class='safety-code'>{model.chat.safetyCode(call.peer)}</span>
        </p>
        {error !== '' && <p class='error' role='alert'>{error}</p>}
        <div class='incoming-actions'>
          <CallAction label='Decline' caption='Decline' icon='hangup' class='danger' disabled={busy}
            onClick={() => { act(async () => { await model.declineCall() }) }} />
          {call.video && (
            <CallAction label='Answer without video' caption='Voice only' icon='phone' disabled={busy}
              onClick={() => { act(async () => { await model.acceptCall(false) }) }} />
          )}
          <CallAction label={call.video ? 'Answer with video' : 'Answer'} caption={call.video ? 'Video' : 'Answer'} icon={call.video ? 'video' : 'phone'}
            class='accept' disabled={busy} buttonRef={answerRef}
            onClick={() => { act(async () => { await model.acceptCall(call.video) }) }} />
        </div>
      </div>
    </div>
  )
}

/** A round button of the incoming-call screen with its caption under it (the label makes both one target). */
function CallAction ({ label, caption, icon, class: cls = '', disabled, onClick, buttonRef }: {
  label: string
  caption: string
  icon: IconName
  class?: string
  disabled: boolean
  onClick: () => void
  buttonRef?: preact.Ref<HTMLButtonElement>
}): preact.JSX.Element {
  return (
    <label class='action'>
      <button type='button' ref={buttonRef} class={`round-btn ${cls}`} aria-label={label} title={label} disabled={disabled} onClick={onClick}>
        <Icon name={icon} size={24} />
      </button>
      <span aria-hidden='true'>{caption}</span>
    </label>
  )
}

/** Plays a MediaStream in a <video>; the element keeps playing the same stream object as tracks change. */
function StreamVideo ({ stream, muted, class: cls, label }: { stream?: MediaStream, muted: boolean, class: string, label: string }): preact.JSX.Element {
  const ref = useRef<HTMLVideoElement>(null)
  useEffect(() => {
    const el = ref.current
    if (el == null) return
    if (el.srcObject !== (stream ?? null)) el.srcObject = stream ?? null
    el.play().catch(() => {}) // a stream without tracks yet: it plays once they come
  }, [stream])
  return <video ref={ref} class={cls} autoPlay playsInline muted={muted} aria-label={label} />
}

function stateText (call: CallInfo, now: number): string {
  switch (call.state) {
    case 'calling': return 'Calling…'
    case 'ringing': return 'Ringing…'
    case 'incoming': return 'Incoming…'
    case 'connecting': return 'Connecting…'
    case 'connected': return duration(now - (call.connectedAt ?? now))
    default: return 'Call ended'
  }
}

function qualityText (s: CallStats): string {
  const parts: string[] = []
  if (s.rttMs != null) parts.push(`RTT ${Math.round(s.rttMs)} ms`)
  // the rates need two samples: until then, none rather than a misleading 0
  if (s.inKbps != null && s.outKbps != null) parts.push(`↓ ${kbps(s.inKbps)}`, `↑ ${kbps(s.outKbps)}`)
  parts.push(`loss ${(s.loss * 100).toFixed(1)}%`)
  if (s.localCandidate != null) parts.push(s.localCandidate === 'relay' || s.remoteCandidate === 'relay' ? 'via TURN' : 'direct')
  return parts.join(' · ')
}

function kbps (n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)} Mb/s` : `${Math.round(n)} kb/s`
}

function CallView ({ model, call }: { model: ChatModel, call: CallInfo }): preact.JSX.Element {
  const { name, known } = caller(model, call)
  const session = model.callSession.value
  const media = model.media.value
  const [now, setNow] = useState(Date.now())
  const [stats, setStats] = useState<CallStats | undefined>(undefined)
  const [error, setError] = useState('')
  const [devicesOpen, setDevicesOpen] = useState(false)

  // a tick for the clock and the quality line
  useEffect(() => {
    if (session == null) return
    let last: CallStats | undefined
    const timer = setInterval(() => {
      setNow(Date.now())
      if (!session.isClosed) session.stats(last).then((s) => { last = s; setStats(s) }, () => {})
    }, STATS_MS)
    return () => { clearInterval(timer) }
  }, [session])

  const run = (what: () => Promise<void>): void => {
    setError('')
    what().catch(err => { setError(errorText(err)) })
  }
  // video comes in, and they say they send it (older clients say nothing)
  const remoteVideo = media?.remoteVideo === true && call.remoteCamera !== false
  const showLocal = media != null && (media.cameraOn || media.sharing)
  const title = known ? name : shortId(call.peer)

  return (
    <div class='call-overlay call' role='dialog' aria-modal='true' aria-label={`Call with ${title}`} data-call-id={call.id} data-state={call.state}>
      <div class='call-stage'>
        <StreamVideo stream={session?.remote} muted={false} class={`remote${remoteVideo ? '' : ' hidden'}`} label={`Video of ${title}`} />
        {!remoteVideo && (
          <div class='call-avatar'>
            <div class={call.state === 'connected' ? '' : 'ring'}><Avatar name={known ? name : call.peer.slice(-4)} /></div>
            {call.video && call.state === 'connected' && call.remoteCamera === false && <p class='call-avatar-note'>Camera off</p>}
          </div>
        )}
        {showLocal && <StreamVideo stream={session?.local} muted class={`local${media?.sharing === true ? '' : ' mirror'}`} label='Your video' />}
      </div>
      <header class='call-top'>
        <div>
          <div class='call-who'>
            <h2 class='call-name'>{title}</h2>
            <span aria-live='polite'>
              {call.remoteMic === false && (
                <span class='remote-muted' role='img' aria-label={`${title}'s microphone is off`} title={`${title}'s microphone is off`}>
                  <Icon name='mic-off' size={14} /><span aria-hidden='true'>Muted</span>
                </span>
              )}
            </span>
          </div>
          <p class='call-state' data-testid='call-state' aria-live='polite'>{stateText(call, now)}</p>
        </div>
        {stats != null && call.state === 'connected' && <p class='call-quality' data-testid='call-quality'>{qualityText(stats)}</p>}
      </header>
      {error !== '' && <p class='call-error' role='alert'>{error}</p>}
      {devicesOpen && session != null && <Devices session={session} onError={setError} onClose={() => { setDevicesOpen(false) }} />}
      <div class='call-controls' role='toolbar' aria-label='Call controls'>
        <button type='button' class={`round-btn${media?.micOn === false ? ' off' : ''}`} aria-pressed={media?.micOn === false} disabled={session == null}
          aria-label={media?.micOn === false ? 'Unmute' : 'Mute'} title={media?.micOn === false ? 'Unmute' : 'Mute'}
          onClick={() => { session?.setMic(!session.micOn) }}>
          <Icon name={media?.micOn === false ? 'mic-off' : 'mic'} size={22} />
        </button>
        <button type='button' class={`round-btn${media?.cameraOn === true ? '' : ' off'}`} aria-pressed={media?.cameraOn !== true} disabled={session == null}
          aria-label={media?.cameraOn === true ? 'Turn camera off' : 'Turn camera on'} title={media?.cameraOn === true ? 'Turn camera off' : 'Turn camera on'}
          onClick={() => { run(async () => { await session?.setCamera(!session.cameraOn) }) }}>
          <Icon name={media?.cameraOn === true ? 'video' : 'video-off'} size={22} />
        </button>
        <button type='button' class={`round-btn${media?.sharing === true ? ' on' : ''}`} aria-pressed={media?.sharing === true} disabled={session == null}
          aria-label={media?.sharing === true ? 'Stop sharing your screen' : 'Share your screen'} title={media?.sharing === true ? 'Stop sharing' : 'Share screen'}
          onClick={() => { run(async () => { await (session?.sharing === true ? session.stopShare() : session?.shareScreen()) }) }}>
          <Icon name='screen' size={22} />
        </button>
        <button type='button' class={`round-btn${devicesOpen ? ' on' : ''}`} aria-expanded={devicesOpen} disabled={session == null}
          aria-label='Camera and microphone' title='Camera and microphone' onClick={() => { setDevicesOpen(!devicesOpen) }}>
          <Icon name='gear' size={22} />
        </button>
        <button type='button' class='round-btn danger' aria-label='Hang up' title='Hang up' onClick={() => { run(async () => { await model.hangup() }) }}>
          <Icon name='hangup' size={24} />
        </button>
      </div>
    </div>
  )
}

/** Pick the microphone and camera in use. */
function Devices ({ session, onError, onClose }: { session: RtcCall, onError: (text: string) => void, onClose: () => void }): preact.JSX.Element {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([])
  useEffect(() => {
    navigator.mediaDevices.enumerateDevices().then(setDevices, (err) => { onError(errorText(err)) })
  }, [])
  const select = (kind: 'audioinput' | 'videoinput', label: string): preact.JSX.Element => {
    const list = devices.filter(d => d.kind === kind)
    return (
      <label class='field'>
        <span>{label}</span>
        <select value={session.deviceOf(kind) ?? ''} disabled={list.length === 0}
          onChange={(e) => { session.useDevice(kind, e.currentTarget.value).catch(err => { onError(errorText(err)) }) }}>
          {list.length === 0 && <option value=''>none found</option>}
          {list.map((d, i) => <option key={d.deviceId} value={d.deviceId}>{d.label !== '' ? d.label : `${label} ${i + 1}`}</option>)}
        </select>
      </label>
    )
  }
  return (
    <div class='call-devices' role='group' aria-label='Devices'>
      {select('audioinput', 'Microphone')}
      {select('videoinput', 'Camera')}
      <button type='button' class='btn small' onClick={onClose}>Done</button>
    </div>
  )
}
