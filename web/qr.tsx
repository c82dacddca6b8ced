/**
 * A QR code drawn as SVG with qrcode-generator. Imported lazily (ui.tsx), so the generator stays out
 * of the initial chunk.
 */
import qrcode from 'qrcode-generator'

export default function Qr ({ text, label }: { text: string, label: string }): preact.JSX.Element {
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
  const size = n + margin * 2
  return (
    <svg class='qr' viewBox={`0 0 ${size} ${size}`} role='img' aria-label={label} shape-rendering='crispEdges'>
      <rect width={size} height={size} fill='#fff' />
      <path d={d} fill='#000' />
    </svg>
  )
}
