/** The NAT probe's report, the same from the Node.js probe (nat-probe.ts) and the browser's (nat-probe.browser.ts). */

/** 'open': no NAT; 'cone': one public mapping for every destination; 'symmetric': a new one per destination. */
export type NatMapping = 'open' | 'cone' | 'symmetric' | 'unknown'

/** What one STUN server said: the public `address:port` it saw us at, or why there is none. */
export interface NatSeen {
  server: string
  mapped?: string
  error?: string
}

export interface NatReport {
  mapping: NatMapping
  seen: NatSeen[]
  /** one line for a person: what it is and what it means for connections and calls */
  summary: string
}

/** Tells the NAT's kind from what the STUN servers saw from one socket (`local`: the socket's own addresses). */
export function natReport (seen: NatSeen[], local: string[]): NatReport {
  const answers = [...new Set(seen.flatMap(s => s.mapped != null ? [s.mapped] : []))]
  const answered = seen.filter(s => s.mapped != null).length
  if (answered === 0) {
    return {
      mapping: 'unknown',
      seen,
      summary: seen.length === 0
        ? 'no STUN server to ask (your bootstrap nodes serve one): the kind of NAT is not known'
        : 'no STUN server answered: UDP may be blocked here, so direct connections and calls may not work'
    }
  }
  if (answers.some(a => local.includes(a))) {
    return { mapping: 'open', seen, summary: `no NAT: others see you at your own address (${answers[0]}); direct connections work` }
  }
  if (answers.length > 1) {
    return {
      mapping: 'symmetric',
      seen,
      summary: `a symmetric NAT: a new public port for every destination (${answers.join(', ')}). No direct path can be punched: calls need a TURN server (a bootstrap node run with --turn)`
    }
  }
  if (answered < 2) {
    return { mapping: 'unknown', seen, summary: `behind a NAT (seen at ${answers[0]}); one STUN server answered, and two are needed to tell its kind` }
  }
  return { mapping: 'cone', seen, summary: `a NAT that keeps one public address for every destination (${answers[0]}): direct connections and calls can be punched through` }
}
