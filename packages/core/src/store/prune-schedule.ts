import type { Clock } from '../lib/clock.js'
import type { KeyStore } from './types.js'

/** Soon enough that a process living minutes (a deploy, a crash loop) still prunes; after start-up's own work. */
const FIRST_PRUNE_MS = 60_000
const PRUNE_EVERY_MS = 3_600_000

/**
 * Deletes what the store holds past its end (expired keys and refresh tokens, ended counter
 * windows, pending TOTP enrolments a day old), if the store can: a minute after start, then an
 * hour after each prune ends, so that a prune that runs long is never joined by a second. The
 * returned function stops a prune in flight at its next step (its signal) and resolves once it
 * has settled, so that a host closing its client next finds nothing of keyward's still on it.
 */
export function schedulePruning(
  store: KeyStore,
  clock: Clock,
  onError: (error: unknown) => void,
): () => Promise<void> {
  if (!store.pruneExpired) return async () => {}
  const prune = store.pruneExpired.bind(store)
  const stopping = new AbortController()
  let inFlight: Promise<void> | undefined
  let timer: NodeJS.Timeout

  const after = (delay: number) => {
    timer = setTimeout(() => {
      // A store's prune that throws instead of rejecting is reported the same way.
      inFlight = Promise.resolve()
        .then(() => prune(new Date(clock()), stopping.signal))
        .catch(onError)
        .finally(() => {
          if (!stopping.signal.aborted) after(PRUNE_EVERY_MS)
        })
    }, delay)
    timer.unref()
  }
  after(FIRST_PRUNE_MS)

  return async () => {
    clearTimeout(timer)
    stopping.abort()
    await inFlight
  }
}
