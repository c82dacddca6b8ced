/** How times read in lists and conversations. */

export function shortTime (ts: number): string {
  const d = new Date(ts)
  if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' })
}

export function dayLabel (ts: number): string {
  const d = new Date(ts)
  const today = new Date()
  const yesterday = new Date(today.getTime() - 86_400_000)
  if (d.toDateString() === today.toDateString()) return 'Today'
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday'
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', ...(d.getFullYear() !== today.getFullYear() ? { year: 'numeric' } : {}) })
}

export function lastSeen (ts?: number): string {
  if (ts == null) return 'offline'
  const mins = Math.round((Date.now() - ts) / 60_000)
  if (mins < 1) return 'last seen just now'
  if (mins < 60) return `last seen ${mins} min ago`
  if (mins < 24 * 60) return `last seen ${Math.round(mins / 60)} h ago`
  return `last seen ${new Date(ts).toLocaleDateString()}`
}
