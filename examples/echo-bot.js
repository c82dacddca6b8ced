// An echo bot: accepts every message request, answers each direct message with its text, and, given a
// room invite, each message in that room. Identity and history stay in ./echo-bot-data ($ECHO_BOT_DATA).
//   node echo-bot.js <bootstrap multiaddr with /p2p/…> [megachat://room/… invite]
import { createChat } from 'megachat'

const [bootstrap, invite] = process.argv.slice(2)
const chat = await createChat({ dataDir: process.env.ECHO_BOT_DATA ?? 'echo-bot-data', bootstrap: bootstrap != null ? [bootstrap] : [], start: false })
const report = (/** @type {Error} */ err) => { console.error(`echo bot: ${err.message}`) }

chat.addEventListener('message', ({ detail: m }) => {
  // a stranger's messages are a message request: adding them accepts it (two may arrive at once)
  const accepted = m.request === true && chat.contactFor(m.peer) == null
    ? chat.addContact(m.peer).catch((err) => { if (err.name !== 'DuplicateContactError') throw err })
    : Promise.resolve()
  accepted.then(async () => await chat.send(m.peer, m.text)).catch(report)
})
chat.addEventListener('room:message', ({ detail: m }) => {
  if (!m.synced) chat.say(m.roomId, m.text).catch(report) // live messages only, not history
})
await chat.start() // after the listeners: nothing that arrives while it starts is missed
if (invite != null) await chat.joinRoom(invite)
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { chat.stop().then(() => process.exit(0), report) })
console.log(`echo bot ready: ${chat.peerId}`)
