/**
 * Parts of the interface that the start does not need (the call screen, the dialogs, the settings, a
 * conversation's details): each is a chunk of its own (Vite splits the bundle at each `import()`), so
 * the tab parses less before it starts. A part loads when it is first drawn, and earlier through
 * `preload()`: App preloads them all on idle once the tab is up, so that a click does not wait on one.
 */
import { h } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { ComponentType } from 'preact'

export interface LazyComponent<P> {
  (props: P): preact.JSX.Element | null
  /** Starts loading the part's code (once; again after a failure); resolves when it is there. */
  preload: () => Promise<void>
}

/**
 * A component whose code `load` brings. Until it is there the component draws `fallback` (nothing by
 * default), told whether loading failed (the network went away: the next draw tries again).
 */
export function lazy<P extends object> (load: () => Promise<ComponentType<P>>, fallback: (props: P, failed: boolean) => preact.JSX.Element | null = notLoaded): LazyComponent<P> {
  let loaded: ComponentType<P> | undefined
  let loading: Promise<ComponentType<P>> | undefined
  const get = async (): Promise<ComponentType<P>> => {
    loading ??= load().then(c => { loaded = c; return c }, (err: Error) => { loading = undefined; throw err })
    return await loading
  }
  const Lazy = (props: P): preact.JSX.Element | null => {
    const [component, setComponent] = useState(() => loaded)
    const [failed, setFailed] = useState(false)
    useEffect(() => {
      if (component == null) get().then(c => { setComponent(() => c) }, () => { setFailed(true) })
    }, [])
    return component != null ? h(component, props) : fallback(props, failed)
  }
  Lazy.preload = async (): Promise<void> => { await get() }
  return Lazy
}

function notLoaded (_props: unknown, failed: boolean): preact.JSX.Element | null {
  return failed ? <p class='error' role='alert'>This part of MegaChat could not be loaded: reload the page.</p> : null
}
