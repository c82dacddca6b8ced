/**
 * Previews of pictures sent as files, made in the browser before sending (FileSource.thumbnail). A chunk
 * of its own: loaded the first time a picture is sent.
 */

export const THUMBNAIL_SIDE = 320
export const THUMBNAIL_BYTES = 16 * 1024

/**
 * A preview of a picture: WebP, at most 320 px on its longer side and 16 KiB (smaller and at a lower
 * quality until it fits); undefined for what the browser cannot decode.
 */
export async function makeThumbnail (blob: Blob): Promise<Uint8Array | undefined> {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') return undefined
  let full: ImageBitmap
  try {
    full = await createImageBitmap(blob)
  } catch {
    return undefined
  }
  try {
    for (const side of [THUMBNAIL_SIDE, 200, 120]) {
      const scale = Math.min(1, side / Math.max(full.width, full.height))
      const width = Math.max(1, Math.round(full.width * scale))
      const height = Math.max(1, Math.round(full.height * scale))
      const canvas = new OffscreenCanvas(width, height)
      const ctx = canvas.getContext('2d')
      if (ctx == null) return undefined
      ctx.imageSmoothingQuality = 'high'
      ctx.drawImage(full, 0, 0, width, height)
      for (const quality of [0.8, 0.6, 0.4]) {
        const out = await canvas.convertToBlob({ type: 'image/webp', quality })
        // a browser without a WebP encoder gives PNG: no preview rather than a wrong one
        if (out.type !== 'image/webp') return undefined
        if (out.size <= THUMBNAIL_BYTES) return new Uint8Array(await out.arrayBuffer())
      }
    }
    return undefined
  } finally {
    full.close()
  }
}
