import type { KeyStore, StoreEvent } from './types.js'

const FIRST_RETRY_MS = 500
const MAX_RETRY_MS = 30_000

/**
 * Subscribes to the store's cross-instance events, retrying with backoff while the store is
 * unreachable (an instance may start during an outage). Until it succeeds, the cache TTL is
 * what bounds how long a key deleted elsewhere keeps working here. Each failed attempt goes to
 * `onError`, and so does each trouble the store meets once subscribed. `onResumed` hears of each
 * time events are heard from after a time they were not: once subscribed (at last), and each
 * time the store listens again after a break.
 *
 * The returned function resolves once no subscription is left: an attempt still in flight is
 * waited for (and what it opened closed), so that a host closing its client next finds nothing
 * of keyward's still on it. Called again, it stops nothing twice.
 */
export function subscribeWithRetry(
  store: KeyStore,
  listener: (event: StoreEvent) => void,
  onError: (error: unknown) => void,
  onResumed: () => void,
): () => Promise<void> {
  if (!store.subscribe) return async () => {}
  const subscribe = store.subscribe.bind(store)
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> | undefined
  let unsubscribe: (() => Promise<void>) | undefined
  const reportWhileOpen = (error: unknown) => {
    if (!closed) onError(error)
  }
  const resumedWhileOpen = () => {
    if (!closed) onResumed()
  }

  // A store's subscribe that throws instead of rejecting is retried the same way: on a retry it
  // runs in a timer, where a throw would end the host's process.
  const subscribing = (): Promise<() => Promise<void>> => {
    try {
      return subscribe(listener, reportWhileOpen, resumedWhileOpen)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  const attempt = (delay: number) => {
    inFlight = subscribing().then(
      async (stop) => {
        if (closed) return void (await stop().catch(() => {}))
        unsubscribe = stop
        // Events published until now were not heard: while earlier attempts failed, and while this
        // one was being made, as keys were cached already.
        onResumed()
      },
      (error: unknown) => {
        if (closed) return
        onError(error)
        timer = setTimeout(() => attempt(Math.min(delay * 2, MAX_RETRY_MS)), delay)
        timer.unref()
      },
    )
  }
  attempt(FIRST_RETRY_MS)

  // Once: a store's stop called again may not be harmless (ioredis's quit of an ended connection
  // starts a 2 s timer that holds the process).
  let stopping: Promise<void> | undefined
  const stop = async () => {
    closed = true
    clearTimeout(timer)
    await inFlight
    await unsubscribe?.()
  }
  return () => {
    stopping ??= stop()
    return stopping
  }
}
