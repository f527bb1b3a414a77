import {
  createKeyward,
  type KeyStore,
  type Keyward,
  type KeywardEvent,
  type KeywardOptions,
  type KeywardUser,
  memoryStore,
} from '@keyward/core'

export const JWT_SECRET = 'contract-secret-contract-secret-012345'
export const START = Date.parse('2026-11-22T10:00:00.000Z')
export const SECOND = 1_000
export const MINUTE = 60 * SECOND
export const DAY = 24 * 60 * MINUTE

/** A clock the tests move by hand: no test waits for real time. */
export function manualClock(start = START) {
  let now = start
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  return clock
}

/** The memory store, with a switch that makes every call fail as an outage would. */
export function switchableStore(base: KeyStore = memoryStore()) {
  const state = { down: false }
  const store = new Proxy(base, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
        return value.apply(target, args)
      }
    },
  })
  return { store, state }
}

export interface Fixture {
  readonly keyward: Keyward
  readonly clock: ReturnType<typeof manualClock>
  readonly users: Map<string, KeywardUser>
  readonly events: KeywardEvent[]
  readonly outage: { down: boolean }
}

/** alice may read agents; bob has no permissions. */
export function createFixture(options: Partial<KeywardOptions> = {}): Fixture {
  const clock = manualClock()
  const users = new Map<string, KeywardUser>([
    ['alice', { id: 'alice', email: 'alice@example.com', permissions: ['agents:read'] }],
    ['bob', { id: 'bob', email: 'bob@example.com', permissions: [] }],
  ])
  const events: KeywardEvent[] = []
  const { store, state } = switchableStore()
  const keyward = createKeyward({
    jwtSecret: JWT_SECRET,
    users: { get: (id) => users.get(id) ?? null },
    store,
    clock,
    onEvent: (event) => events.push(event),
    ...options,
  })
  return { keyward, clock, users, events, outage: state }
}

/**
 * Two engines over one store: `issuer` issues the keys and `served` guards with them. The served
 * engine's cache has never seen a key, so its first request with one reads the store (counted in
 * `reads`): the guard's path through a promise, where a request repeated on its connection is
 * answered from memory, without the full guard (its calls counted in `guards`).
 */
export function coldEngine() {
  const store = memoryStore()
  const reads = { count: 0 }
  const counted = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (name !== 'findKeyByDigest') return value
      return (digest: string) => {
        reads.count++
        return target.findKeyByDigest(digest)
      }
    },
  })
  // The full guard's calls (`guards`), which a request admitted from memory alone never makes.
  const guards = { count: 0 }
  const served = new Proxy(createFixture({ store: counted }).keyward, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (name !== 'guard') return value
      return (...args: Parameters<Keyward['guard']>) => {
        guards.count++
        return target.guard(...args)
      }
    },
  })
  return { issuer: createFixture({ store }).keyward, served, reads, guards }
}

/** The memory store, whose next key read can be held: a request kept waiting inside the guard. */
export function heldReads(base: KeyStore = memoryStore()) {
  let held: { reached: () => void; released: Promise<void> } | undefined
  const store = new Proxy(base, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (name !== 'findKeyByDigest') return value
      return async (digest: string) => {
        const hold = held
        held = undefined
        if (hold !== undefined) {
          hold.reached()
          await hold.released
        }
        return target.findKeyByDigest(digest)
      }
    },
  })
  return {
    store,
    /** Holds the next key read until `release()`; `reached` settles once a request is held. */
    holdNext() {
      let reached = () => {}
      let release = () => {}
      const arrived = new Promise<void>((resolve) => {
        reached = resolve
      })
      held = { reached, released: new Promise<void>((resolve) => (release = resolve)) }
      return { reached: arrived, release }
    },
  }
}
