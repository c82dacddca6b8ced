/** Sizes as people read them, in one convention everywhere (terminal, web app, bootstrap node): binary units with IEC names. */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB']

/** "940 bytes", "1.5 KiB", "64 MiB", "3.2 GiB": one decimal below 10, whole numbers above. */
export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`
  let n = bytes
  let i = -1
  // 1023.7 KiB reads as 1 MiB, not 1024 KiB
  while (i < UNITS.length - 1 && (i < 0 || roundSize(n) >= 1024)) {
    n /= 1024
    i++
  }
  return `${roundSize(n)} ${UNITS[i]}`
}

function roundSize (n: number): number {
  return n < 10 ? Math.round(n * 10) / 10 : Math.round(n)
}
