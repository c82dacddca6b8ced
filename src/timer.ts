/**
 * A repeating task with jitter: each round runs after the interval ±25 %. Many nodes started together
 * (a room's members, clients after a bootstrap node restarts) then spread their rounds out instead of
 * all hitting the DHT and the bootstrap node at once.
 *
 * Not @libp2p/utils' repeatingTask: it has one fixed interval, and changing it from inside a run (the
 * way to draw a new jitter each round) schedules the next run twice, once in setInterval() and once
 * when the run ends.
 */
export class JitteredInterval {
  private timer?: ReturnType<typeof setTimeout>
  private stopped = false

  constructor (private readonly task: () => void, private readonly interval: number) {
    this.schedule()
  }

  private schedule (): void {
    if (this.stopped) return
    const delay = this.interval * (0.75 + Math.random() * 0.5)
    this.timer = setTimeout(() => {
      this.task()
      this.schedule()
    }, delay)
    this.timer.unref?.()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
  }
}
