/**
 * Two keyward instances on one store, as two processes of one app would be: for PostgreSQL
 * and Redis each has a client of its own; for memory and PGlite they share the one there is.
 * The clock is injected and frozen at the real time (Redis expires counters on its own clock), so
 * only the store's events, never a cache TTL, can tell one instance of the other's deletions.
 */
import { createKeyward, type KeyStore, type Keyward, type KeywardEvent } from '@keyward/core'
import { JWT_SECRET, manualClock } from '../../contract/support/fixture.js'

export interface SharedStore {
  /** One store object per instance, over the same data. */
  readonly stores: readonly [KeyStore, KeyStore]
  /** Whether a deletion reaches the other instance's cache in the same call (memory) or by a message. */
  readonly eventsAreSynchronous: boolean
  teardown(): Promise<void>
}

export interface Instances {
  readonly a: Keyward
  readonly b: Keyward
  readonly both: readonly [Keyward, Keyward]
  readonly clock: ReturnType<typeof manualClock>
  readonly events: KeywardEvent[]
  readonly shared: SharedStore
  close(): Promise<void>
}

/** How long a deletion may take to reach the other instance over a real connection. */
export const PROPAGATION_BOUND_MS = 10_000

/** Each instance's maxKeysPerUser: above what the other tests issue to one user. */
export const KEY_LIMIT = 250

export async function startInstances(shared: SharedStore): Promise<Instances> {
  const clock = manualClock(Math.floor(Date.now() / 1000) * 1000)
  const events: KeywardEvent[] = []
  const start = (store: KeyStore) =>
    createKeyward({
      jwtSecret: JWT_SECRET,
      store,
      clock,
      maxKeysPerUser: KEY_LIMIT,
      users: { get: (id) => ({ id, permissions: ['agents:read'] }) },
      onEvent: (event) => events.push(event),
    })
  const a = start(shared.stores[0])
  const b = start(shared.stores[1])
  const instances: Instances = {
    a,
    b,
    both: [a, b],
    clock,
    events,
    shared,
    async close() {
      await Promise.all([a.close(), b.close()])
      await shared.teardown()
    },
  }
  await expectHearEachOther(instances)
  return instances
}

/** Polls `check` until it returns true, for at most `timeoutMs` (for waits on real I/O). */
async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Subscriptions to the store's events start in the background, and a deletion published before
 * one is up is missed. Wait, within a bound, until a key cached on each instance and deleted on
 * the other stops working there, with a new key for each try.
 */
async function expectHearEachOther({ a, b }: Instances): Promise<void> {
  for (const [deleter, listener] of [
    [a, b],
    [b, a],
  ] as const) {
    const heard = await pollUntil(async () => {
      const { key, id } = await deleter.issueKey('probe', { name: 'probe' })
      if (!(await listener.verifyKey(key)).ok)
        throw new Error('a new key does not verify on the other instance')
      await deleter.deleteKey('probe', { id })
      return pollUntil(async () => !(await listener.verifyKey(key)).ok, 250)
    }, PROPAGATION_BOUND_MS)
    if (!heard)
      throw new Error(`the instances did not hear each other's deletions within ${PROPAGATION_BOUND_MS} ms`)
  }
}
