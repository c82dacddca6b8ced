/**
 * A QR code drawn as SVG with qrcode-generator. Imported lazily (ui.tsx), so the generator stays out
 * of the initial chunk.
 */
import { useMemo } from 'preact/hooks'
import qrcode from 'qrcode-generator'

/** The modules of a QR code for `text` as one SVG path, and the side of the square with its quiet zone. */
function qrPath (text: string): { d: string, size: number } {
  const qr = qrcode(0, 'M')
  qr.addData(text)
  qr.make()
  const n = qr.getModuleCount()
  const margin = 4 // the quiet zone scanners expect
  let d = ''
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) d += `M${c + margin} ${r + margin}h1v1h-1z`
    }
  }
  return { d, size: n + margin * 2 }
}

export default function Qr ({ text, label }: { text: string, label: string }): preact.JSX.Element {
  // made once per text: making it takes about 20 ms, and the screens that show it redraw on every change
  const { d, size } = useMemo(() => qrPath(text), [text])
  return (
    <svg class='qr' viewBox={`0 0 ${size} ${size}`} role='img' aria-label={label} shape-rendering='crispEdges'>
      <rect width={size} height={size} fill='#fff' />
      <path d={d} fill='#000' />
    </svg>
  )
}
