/**
 * The terminal client's entry point, dist/cli/megachat.mjs once built (rolldown.config.ts): V8 keeps the
 * client's compiled code in the user's cache directory, so that a later start skips compiling it, then the
 * client runs. Node.js checks each cached entry against the source, and NODE_DISABLE_COMPILE_CACHE=1 turns
 * it off.
 */
import module from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

module.enableCompileCache?.(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'megachat'))
await import('./main.js')
