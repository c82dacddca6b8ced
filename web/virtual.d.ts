/** kad-dht's own prefix table, loaded lazily by kad-prefixes.ts (the id is resolved in vite.config.ts) */
declare module 'virtual:kad-prefix-table' {
  const prefixes: number[]
  export default prefixes
}
