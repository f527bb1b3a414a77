import { settledWithin } from '@keyward/core'
import type { Pool, PoolClient } from 'pg'

export interface Checkouts {
  /**
   * A connection of the pool, or a rejection once `timeoutMs` have passed without one. A checkout
   * the pool has not answered by then is not abandoned: the next call waits for the same one.
   */
  next(): Promise<PoolClient>
  /** No more checkouts: one still pending is released, destroyed, whenever it arrives. */
  close(): void
}

/**
 * Checkouts from the host's pool, one at a time, none waited for without end. A pool without
 * `connectionTimeoutMillis` waits for good on a server that accepts connections and never answers,
 * and cannot cancel that wait: so a caller gets a rejection in bounded time, and its next call
 * waits on the checkout already pending rather than opening another beside it, each of which
 * would hold one more of the host's connections.
 */
export function checkouts(pool: Pool, timeoutMs: number): Checkouts {
  const late = `keyward: the pool gave no connection to listen on in ${timeoutMs} ms`
  let pending: Promise<PoolClient> | undefined
  let closed = false

  return {
    async next() {
      if (closed) throw new Error('keyward: the listener is closed')
      const checkout = pending ?? pool.connect()
      pending = checkout
      // A checkout that failed is forgotten, so that the next call opens another.
      checkout.catch(() => {
        if (pending === checkout) pending = undefined
      })
      const connection = await settledWithin(checkout, timeoutMs, late)
      // Closed while we waited: `close` has released it.
      if (pending !== checkout) throw new Error('keyward: the listener is closed')
      pending = undefined
      return connection
    },
    close() {
      closed = true
      const left = pending
      pending = undefined
      left?.then(
        (connection) => connection.release(true),
        () => {},
      )
    },
  }
}
