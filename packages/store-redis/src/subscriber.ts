import { decodeStoreEvent, type StoreEvent, settledWithin } from '@keyward/core'
import type { Redis } from 'ioredis'

/**
 * How often the subscriber connection is asked to answer, how long it has to, and how long a
 * connection whose SUBSCRIBE the server refused waits before it is replaced (doubling, with
 * jitter, from `firstRetryMs` up to `maxRetryMs`).
 */
export interface SubscriberChecks {
  readonly everyMs: number
  readonly timeoutMs: number
  readonly firstRetryMs: number
  readonly maxRetryMs: number
}

// As PostgreSQL's listening connection is checked (pool-listener.ts), and as core retries a
// subscription that failed (event-subscription.ts).
const CHECKS: SubscriberChecks = { everyMs: 30_000, timeoutMs: 10_000, firstRetryMs: 500, maxRetryMs: 30_000 }

/** The reply, or a rejection once the connection has been silent for `timeoutMs`. */
const answered = (reply: Promise<unknown>, timeoutMs: number): Promise<unknown> =>
  settledWithin(reply, timeoutMs, `keyward: the subscriber connection did not answer in ${timeoutMs} ms`)

/**
 * Subscribes to `channel` on a connection of its own (a subscribed connection can do nothing
 * else) and hands each event on it to `listener`. ioredis reconnects that connection, and each
 * reconnection subscribes again, here rather than by ioredis's `autoResubscribe`: that one lost
 * the subscription for good when a connection closed right after its ready check, and sends its
 * SUBSCRIBE as a promise nothing awaits, which rejects unhandled when the command queue is
 * flushed at a close (and an unhandled rejection ends the host's process). A SUBSCRIBE whose
 * reply a drop lost is sent again too (harmless twice), whatever the host's client does.
 *
 * A connection that dies without a FIN or RST reaching us (a load balancer's or NAT's idle
 * timeout, a host gone in a failover) emits neither 'error' nor 'close', and one that only
 * listens sends nothing that would find out: so it is sent a PING (allowed while subscribed)
 * every `checks.everyMs`, and dropped when silent for `checks.timeoutMs`; ioredis then reconnects
 * it, and the reconnection subscribes again. Messages published while no connection was
 * subscribed are lost: `onResumed` hears of each time it is subscribed again (keyward then drops
 * the keys it caches).
 *
 * A SUBSCRIBE the server refuses (an ACL change, a busy script) on a connection that stays up
 * gets a new connection, after a backoff of our own: ioredis's retry delay starts over at each
 * 'ready', so a refusal on every connection would otherwise reconnect at its first delay for good.
 *
 * Once subscribed, `onError` hears of each trouble: a connection error (each failed reconnection
 * included), a connection closed without one, a refused SUBSCRIBE, a connection dropped for
 * silence, and the end of reconnecting.
 *
 * Resolves once subscribed; rejects if the first attempt fails or is not answered within
 * `checks.timeoutMs`, like any store call against an unreachable Redis.
 */
export async function subscribeToEvents(
  client: Redis,
  channel: string,
  listener: (event: StoreEvent) => void,
  onError: (error: unknown) => void = () => {},
  overrides: Partial<SubscriberChecks> = {},
  /** Called each time it is subscribed again after a break: messages in between were lost. */
  onResumed: () => void = () => {},
): Promise<() => Promise<void>> {
  const checks = { ...CHECKS, ...overrides }
  // Until subscribed, a failure rejects the first attempt instead; once closed, nothing is news.
  let reporting = false
  // Whether this connection's trouble was told already: its close then adds nothing.
  let told = false
  let closed = false
  const report = (error: unknown) => {
    if (!reporting) return
    told = true
    onError(error)
  }
  const subscriber = client.duplicate({
    lazyConnect: true,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: true,
  })
  // Connection errors are retried by ioredis; without a listener they would only be logged.
  subscriber.on('error', report)
  subscriber.on('message', (from: string, message: string) => {
    // Once closed, nothing more is handed on: a message already on its way arrives before QUIT's reply.
    if (closed || from !== channel) return
    const event = decodeStoreEvent(message)
    if (event === undefined) return
    // The listener runs inside the driver's message handler: a throw must not reach it.
    try {
      listener(event)
    } catch {}
  })
  // Counts the connections that closed, so that a check answered late, after ioredis had already
  // replaced the connection it was sent on, does not drop the healthy one that replaced it.
  let closes = 0
  subscriber.on('close', () => {
    closes += 1
    // A close with no error before it (the server's CLIENT KILL or restart, a proxy's idle
    // timeout) is a trouble too: deletions published until the reconnection subscribes are lost.
    if (!told && !closed) {
      report(new Error('keyward: the subscriber connection closed; it reconnects and subscribes again'))
    }
  })
  // ioredis ends a connection for good only when the client's retryStrategy gives up (or at our
  // own QUIT, when nothing is reported): from then on this instance hears no other's deletions.
  subscriber.on('end', () =>
    report(
      new Error(
        "keyward: the subscriber connection ended, and its client's retryStrategy will not reconnect it",
      ),
    ),
  )
  try {
    // ioredis stops timing a connection once TCP connects: without a limit, a server (or a proxy
    // in front of it) that accepts connections but never answers would keep this waiting for good.
    await answered(
      subscriber.connect().then(() => subscriber.subscribe(channel)),
      checks.timeoutMs,
    )
  } catch (error) {
    subscriber.disconnect()
    throw error
  }
  reporting = true

  let refusals = 0
  let retryTimer: NodeJS.Timeout | undefined
  // A reconnection that gets through TCP and is then never answered (a flow a load balancer or NAT
  // black-holes) waits for its ready check for good: ioredis times TCP only, and the PING check
  // below runs only once ready. So one not ready within `timeoutMs` is dropped for another.
  let readyTimer: NodeJS.Timeout | undefined
  subscriber.on('connect', () => {
    clearTimeout(readyTimer)
    if (closed) return
    readyTimer = setTimeout(() => {
      if (closed || subscriber.status !== 'connect') return
      report(new Error(`keyward: the subscriber connection was not ready in ${checks.timeoutMs} ms`))
      subscriber.disconnect(true)
    }, checks.timeoutMs)
    readyTimer.unref()
  })
  // Every later 'ready' is a reconnection. A SUBSCRIBE that fails with its connection is sent
  // again by the next reconnection; one the server refuses on a connection that stays up gets a
  // new connection, so as not to listen to nothing for good, once the backoff has passed.
  subscriber.on('ready', () => {
    clearTimeout(readyTimer)
    clearTimeout(retryTimer)
    told = false
    if (closed) return
    subscriber.subscribe(channel).then(
      () => {
        refusals = 0
        if (!closed) onResumed()
      },
      (refusal: unknown) => {
        if (closed || subscriber.status !== 'ready') return
        report(refusal)
        const ceiling = Math.min(checks.firstRetryMs * 2 ** refusals, checks.maxRetryMs)
        refusals += 1
        retryTimer = setTimeout(
          () => {
            if (!closed && subscriber.status === 'ready') subscriber.disconnect(true)
          },
          ceiling / 2 + Math.random() * (ceiling / 2),
        )
        retryTimer.unref()
      },
    )
  })
  let checking = false
  // The connection being dropped stays 'ready' until it closes: it is not checked (or dropped) again.
  let dropped = -1
  const checkTimer = setInterval(() => {
    if (checking || closes === dropped || subscriber.status !== 'ready') return
    checking = true
    const checked = closes
    answered(subscriber.ping(), checks.timeoutMs)
      .catch((silence: unknown) => {
        if (closed || closes !== checked) return
        report(silence)
        // Ends the stream (destroyed after the client's disconnectTimeout, as a silent peer never
        // answers the FIN) and lets ioredis reconnect, and the reconnection subscribe again.
        dropped = checked
        subscriber.disconnect(true)
      })
      .finally(() => {
        checking = false
      })
  }, checks.everyMs)
  checkTimer.unref()

  return async () => {
    closed = true
    reporting = false
    clearInterval(checkTimer)
    clearTimeout(retryTimer)
    clearTimeout(readyTimer)
    // QUIT waits for its reply, which a silent connection never sends.
    await answered(subscriber.quit(), checks.timeoutMs).catch(() => subscriber.disconnect())
  }
}
