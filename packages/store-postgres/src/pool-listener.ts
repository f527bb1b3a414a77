import type { Notification, Pool, PoolClient } from 'pg'

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 10_000

/**
 * LISTEN on a connection checked out of the host's pool for as long as the subscription
 * lives. If that connection drops, a new one is checked out and LISTEN issued again, with
 * exponential backoff (and jitter, so a fleet does not reconnect in step). Notifications sent
 * while no connection was listening are lost: the key cache's TTL bounds what that costs.
 *
 * Resolves once LISTEN is active; rejects if the first attempt fails, like any store call
 * against an unreachable database.
 */
export async function listenOnPool(
  pool: Pool,
  channel: string,
  onPayload: (payload: string) => void,
): Promise<() => Promise<void>> {
  let closed = false
  let current: PoolClient | undefined
  let retryTimer: NodeJS.Timeout | undefined
  let retryMs = FIRST_RETRY_MS
  const discarded = new WeakSet<PoolClient>()

  const onNotification = (message: Notification) => {
    if (message.channel === channel && message.payload !== undefined) onPayload(message.payload)
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
    // A pool the host has ended will never hand out a connection again.
    if (closed || pool.ending || retryTimer !== undefined) return
    const delay = retryMs / 2 + Math.random() * (retryMs / 2)
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS)
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      connect().catch(scheduleRetry)
    }, delay)
    retryTimer.unref()
  }

  const connect = async () => {
    const connection = await pool.connect()
    // 'error' must always have a listener on a checked-out client, or a drop would crash the host.
    // Only a drop of the live connection reconnects from here; a failure while connecting is
    // the caller's to handle (the first attempt rejects, later ones retry).
    const lost = (error?: unknown) => {
      const wasListening = current === connection
      discard(connection, error)
      if (wasListening) scheduleRetry()
    }
    connection.on('error', lost)
    connection.on('end', () => lost())
    connection.on('notification', onNotification)
    try {
      await connection.query(`LISTEN ${channel}`)
    } catch (error) {
      discard(connection, error)
      throw error
    }
    if (closed) return discard(connection)
    current = connection
    retryMs = FIRST_RETRY_MS
  }

  await connect()

  return async () => {
    closed = true
    clearTimeout(retryTimer)
    if (current !== undefined) discard(current)
  }
}
