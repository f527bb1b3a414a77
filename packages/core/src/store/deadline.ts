import { REQUIRED_STORE_METHODS, type RequiredStoreMethod } from './required-methods.js'
import type { KeyStore } from './types.js'

/**
 * The store with every call a request waits for bounded to `ms` (unless `false`): a call that has
 * not settled by then rejects, so the request fails closed (503) at once. A connection that went
 * silent without closing (a load balancer's idle drop, a failover) otherwise holds each request
 * until the operating system gives up on the socket, minutes later. The call itself is not
 * cancelled: the driver's own timeouts end it (see the store READMEs). Every call answers with a
 * promise, even from a store that throws instead of rejecting, so no caller has to guard for it.
 */
export function withDeadline(store: KeyStore, ms: number | false): KeyStore {
  const bounded = Object.fromEntries(
    REQUIRED_STORE_METHODS.map((name) => {
      const method = store[name] as (...args: unknown[]) => Promise<unknown>
      if (ms === false) return [name, (...args: unknown[]) => called(method, store, args)]
      const late = `keyward: the store did not answer ${name} within ${ms} ms`
      return [name, (...args: unknown[]) => settledWithin(called(method, store, args), ms, late)]
    }),
  ) as Pick<KeyStore, RequiredStoreMethod>
  return {
    ...bounded,
    ...(store.pruneExpired && { pruneExpired: store.pruneExpired.bind(store) }),
    ...(store.subscribe && { subscribe: store.subscribe.bind(store) }),
  }
}

/** The method's promise; a rejected one when it throws instead (a third-party store may). */
function called(method: (...args: unknown[]) => Promise<unknown>, store: KeyStore, args: unknown[]) {
  try {
    return method.apply(store, args)
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * The call's outcome, or a rejection with `late` once `ms` have passed without one. The call is
 * not cancelled, and what it settles with later is handled (never an unhandled rejection). The
 * timer does not keep the process alive. Exported for stores, which bound their own checks with it.
 *
 * The rejection waits for the event loop's next look at I/O: after a stall longer than `ms` (a
 * frozen VM, a long GC pause, a blocked loop), Node runs due timers before it reads the sockets,
 * and an answer that arrived meanwhile would lose to a deadline it met. A refresh token rotated
 * and answered in time was then taken for lost, and its retry for reuse.
 */
export function settledWithin<T>(call: PromiseLike<T>, ms: number, late: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => setImmediate(() => reject(new Error(late))), ms)
    timer.unref?.()
    Promise.resolve(call).then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
