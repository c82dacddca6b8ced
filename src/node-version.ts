/**
 * The Node.js MegaChat runs on. libp2p 3 and its dependencies need Node.js 22 or newer (on Node 20 a
 * client fails at start with "Promise.withResolvers is not a function"); the project brings its own
 * Node 24 as the `node` devDependency, which `npm start` and the bins use in a clone of the project.
 */
export const MIN_NODE_MAJOR = 22

/** One line saying why this Node.js cannot run MegaChat, or undefined when it can. */
export function unsupportedNode (version: string = process.versions.node): string | undefined {
  const major = Number.parseInt(version, 10)
  if (major >= MIN_NODE_MAJOR) return undefined
  return `MegaChat needs Node.js ${MIN_NODE_MAJOR} or newer, and this is Node.js ${version}: run it with the project's own Node (npm start or npx megachat in the project) or a newer Node.js`
}
