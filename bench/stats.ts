/** Small helpers for the benchmarks: settings, percentiles and table formatting. */

/** A positive whole number from an environment setting, or `fallback`. */
export function positiveInt (text: string | undefined, fallback: number): number {
  const n = Number(text)
  return Number.isSafeInteger(n) && n > 0 ? n : fallback
}

export interface Summary {
  n: number
  p50: number
  p90: number
  p99: number
  mean: number
  min: number
  max: number
}

/** Nearest-rank percentile of already sorted samples. */
function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function summarize (samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN
  }
}

export function mean (values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** Milliseconds with about three significant digits. */
export function ms (value: number): string {
  if (!Number.isFinite(value)) return '   n/a'
  if (value < 10) return `${value.toFixed(2)} ms`
  if (value < 100) return `${value.toFixed(1)} ms`
  return `${value.toFixed(0)} ms`
}

export function mib (kib: number): string {
  if (!Number.isFinite(kib)) return 'n/a'
  return `${(kib / 1024).toFixed(1)} MiB`
}

export function ratio (value: number, floor: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(floor) || floor <= 0) return 'n/a'
  return `${(value / floor).toFixed(2)}x`
}

export function verdict (value: number, floor: number, goal: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(floor) || floor <= 0) return 'n/a'
  return value / floor <= goal ? 'PASS' : 'MISS'
}

export function pad (text: string, width: number): string {
  return text.length >= width ? text + ' ' : text + ' '.repeat(width - text.length)
}
