import {
  createKeyward,
  type KeyStore,
  type KeywardEvent,
  type KeywardOptions,
  type KeywardUser,
  memoryStore,
} from '@keyward/core'

export const SECRET = 'test-secret-test-secret-test-secret-0123'
export const ISSUED_AT = Date.parse('2026-11-22T10:00:00.000Z')

/** A clock the test moves by hand. */
export function manualClock(start = ISSUED_AT) {
  let now = start
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  clock.set = (at: number | string) => {
    now = typeof at === 'string' ? Date.parse(at) : at
  }
  return clock
}

/** A keyward over a memory store, a mutable user directory and a manual clock. */
export function setup(overrides: Partial<KeywardOptions> = {}) {
  const clock = manualClock()
  const users = new Map<string, KeywardUser>([
    ['alice', { id: 'alice', email: 'alice@example.com', permissions: ['agents:read'] }],
    ['bob', { id: 'bob', permissions: [] }],
  ])
  const events: KeywardEvent[] = []
  const store = overrides.store ?? memoryStore()
  const keyward = createKeyward({
    jwtSecret: SECRET,
    users: { get: (id) => users.get(id) ?? null },
    clock,
    store,
    onEvent: (event) => events.push(event),
    ...overrides,
  })
  return { keyward, clock, users, events, store }
}

export const MINUTE = 60_000
export const DAY = 86_400_000

/** A memory store that records every method called on it, for "how many reads/writes" tests. */
export function instrumentedStore(base: KeyStore = memoryStore()) {
  const calls: string[] = []
  const store = Object.fromEntries(
    Object.entries(base).map(([name, method]) => [
      name,
      (...args: unknown[]) => {
        calls.push(name)
        return (method as (...a: unknown[]) => unknown).apply(base, args)
      },
    ]),
  ) as unknown as KeyStore
  const count = (name: keyof KeyStore) => calls.filter((call) => call === name).length
  return { store, calls, count }
}
