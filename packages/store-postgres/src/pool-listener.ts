import { settledWithin } from '@keyward/core'
import type { Notification, Pool, PoolClient } from 'pg'
import { checkouts } from './pool-checkout.js'

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 10_000

/** How often the listening connection is asked to answer, and how long it has to. */
export interface ListenerChecks {
  readonly everyMs: number
  readonly timeoutMs: number
}

const CHECKS: ListenerChecks = { everyMs: 30_000, timeoutMs: 10_000 }

/** The query's answer, or a rejection once the connection has been silent for `timeoutMs`. */
const answered = (connection: PoolClient, text: string, timeoutMs: number): Promise<unknown> =>
  settledWithin(
    connection.query(text),
    timeoutMs,
    `keyward: the listening connection did not answer in ${timeoutMs} ms`,
  )

/**
 * LISTEN on a connection checked out of the host's pool for as long as the subscription
 * lives. If that connection drops, a new one is checked out and LISTEN issued again, with
 * exponential backoff (and jitter, so a fleet does not reconnect in step). A connection that
 * dies without a FIN or RST reaching us (a load balancer's or NAT's idle timeout, a host gone in
 * a failover) emits neither 'error' nor 'end', and one that only listens sends nothing that
 * would find out: so it is asked to answer every `checks.everyMs`, and replaced when silent.
 * Notifications sent while no connection was listening are lost: `onResumed` hears of each time
 * it listens again (keyward then drops the keys it caches), and `onError` of each drop and each
 * failed reconnection.
 *
 * Resolves once LISTEN is active; rejects if the first attempt fails or takes longer than
 * `checks.timeoutMs` for the checkout or for LISTEN, like any store call against an unreachable
 * database.
 */
export async function listenOnPool(
  pool: Pool,
  channel: string,
  onPayload: (payload: string) => void,
  onError: (error: unknown) => void = () => {},
  checks: ListenerChecks = CHECKS,
  /** Called each time it listens again after a drop: notifications in between were lost. */
  onResumed: () => void = () => {},
): Promise<() => Promise<void>> {
  const pooled = checkouts(pool, checks.timeoutMs)
  let closed = false
  let current: PoolClient | undefined
  let retryTimer: NodeJS.Timeout | undefined
  let retryMs = FIRST_RETRY_MS
  const discarded = new WeakSet<PoolClient>()

  const onNotification = (message: Notification) => {
    // Once closed, nothing more is handed on: a reconnection's LISTEN, answered after the close,
    // may bring a notification in the same read, before its connection is discarded.
    if (closed || message.channel !== channel || message.payload === undefined) return
    onPayload(message.payload)
  }

  const discard = (connection: PoolClient, error?: unknown) => {
    if (discarded.has(connection)) return
    discarded.add(connection)
    connection.removeListener('notification', onNotification)
    if (current === connection) current = undefined
    // Destroy rather than return it to the pool: it may be broken, and it carries our LISTEN.
    connection.release(error instanceof Error ? error : true)
  }

  const scheduleRetry = () => {
    if (closed || retryTimer !== undefined) return
    // A pool the host has ended will never hand out a connection again, and cannot end while a
    // checkout still pending is not given back.
    if (pool.ending) return pooled.close()
    const delay = retryMs / 2 + Math.random() * (retryMs / 2)
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      connect().then(
        () => {
          if (!closed) onResumed()
        },
        (error: unknown) => {
          if (closed) return
          onError(error)
          scheduleRetry()
        },
      )
    }, delay)
    retryTimer.unref()
  }

  // Only a drop of the live connection reconnects from here; a failure while connecting is the
  // caller's to handle (the first attempt rejects, later ones retry).
  const lost = (connection: PoolClient, error?: unknown) => {
    const wasListening = current === connection
    discard(connection, error)
    if (!wasListening || closed) return
    onError(error ?? new Error('keyward: the listening connection ended'))
    scheduleRetry()
  }

  const connect = async () => {
    // An idle connection of the pool may be as silent as the one it replaces.
    const connection = await pooled.next()
    // 'error' must always have a listener on a checked-out client, or a drop would crash the host.
    connection.on('error', (error: unknown) => lost(connection, error))
    connection.on('end', () => lost(connection))
    connection.on('notification', onNotification)
    try {
      await answered(connection, `LISTEN ${channel}`, checks.timeoutMs)
    } catch (error) {
      discard(connection, error)
      throw error
    }
    if (closed) return discard(connection)
    current = connection
    retryMs = FIRST_RETRY_MS
  }

  try {
    await connect()
  } catch (error) {
    pooled.close()
    throw error
  }

  let checking = false
  const checkTimer = setInterval(() => {
    const connection = current
    if (connection === undefined || checking) return
    checking = true
    answered(connection, 'SELECT 1', checks.timeoutMs)
      .catch((error: unknown) => lost(connection, error))
      .finally(() => {
        checking = false
      })
  }, checks.everyMs)
  checkTimer.unref()

  return async () => {
    closed = true
    pooled.close()
    clearInterval(checkTimer)
    clearTimeout(retryTimer)
    if (current !== undefined) discard(current)
  }
}
