/**
 * Stands in for kad-dht's table of precomputed key prefixes (vite.config.ts puts it in place of
 * `routing-table/generated-prefix-list-browser.js`). That table is 16384 numbers, 50 kB gzipped: a
 * fifth of the app's initial JavaScript, parsed before anything else could run, and used only when the
 * DHT refreshes its routing table, to pick a random key in a given bucket. Here it starts empty and is
 * filled from its own chunk once the tab is up (`loadKadPrefixes`, called by main.tsx). A refresh
 * before that reads `undefined`, which kad-dht already treats as the prefix 0 (as for every index past
 * the table's end): that one walk goes to a random key rather than to the chosen bucket, and no harm done.
 */
const prefixes: number[] = []
export default prefixes

let loading: Promise<void> | undefined

export async function loadKadPrefixes (): Promise<void> {
  loading ??= import('virtual:kad-prefix-table').then(m => {
    for (const p of m.default) prefixes.push(p)
  })
  await loading
}
