import {
  createKeyward,
  type KeyStore,
  KeywardError,
  type KeywardEvent,
  type KeywardOptions,
  type KeywardUser,
  memoryStore,
} from '@keyward/core'
import { SignJWT } from 'jose'
import { generate } from 'otplib'

export const SECRET = 'test-secret-test-secret-test-secret-0123'
export const ISSUED_AT = Date.parse('2026-11-22T10:00:00.000Z')
/** SECRET as the bytes that sign auth tokens. */
export const SECRET_BYTES = new TextEncoder().encode(SECRET)

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

/** TOTP codes for the limit tests. */
export const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) })

/** `count` distinct codes, none of them valid within a step of `now`. */
export async function wrongCodes(secret: string, now: number, count: number): Promise<string[]> {
  const valid = new Set(await Promise.all([-30_000, 0, 30_000].map((drift) => codeAt(secret, now + drift))))
  const codes: string[] = []
  for (let n = 100_000; codes.length < count; n += 7) {
    const code = String(n)
    if (!valid.has(code)) codes.push(code)
  }
  return codes
}

/** Sends every code at once; tallies the answers by error code, and the Retry-After of refusals. */
export async function burst(verify: (code: string) => Promise<void>, codes: readonly string[]) {
  const results = await Promise.allSettled(codes.map((code) => verify(code)))
  const tally: Record<string, number> = {}
  const retryAfter = new Set<number | undefined>()
  for (const result of results) {
    const outcome =
      result.status === 'fulfilled'
        ? 'accepted'
        : result.reason instanceof KeywardError
          ? result.reason.code
          : String(result.reason)
    tally[outcome] = (tally[outcome] ?? 0) + 1
    if (result.status === 'rejected' && result.reason instanceof KeywardError && outcome === 'RATE_LIMITED')
      retryAfter.add(result.reason.retryAfter)
  }
  return { tally, retryAfter }
}

/** A token like keyward's, with some part changed. */
export function forge(
  overrides: {
    alg?: string
    typ?: string
    iss?: string
    aud?: string
    exp?: number
    iat?: number
    nbf?: number
    /** null: no jti claim at all. */
    jti?: string | null
    /** Claims of another type than keyward signs. */
    sub?: unknown
    key_id?: unknown
  } = {},
) {
  const now = Math.floor(ISSUED_AT / 1000)
  // jose types sub as a string; a forged one need not be.
  const jwt = new SignJWT({ key_id: overrides.key_id ?? null, sub: (overrides.sub ?? 'alice') as string })
    .setProtectedHeader({ alg: overrides.alg ?? 'HS256', typ: overrides.typ ?? 'at+jwt' })
    .setIssuer(overrides.iss ?? 'keyward')
    .setAudience(overrides.aud ?? 'keyward')
    .setIssuedAt(overrides.iat ?? now)
    .setExpirationTime(overrides.exp ?? now + 900)
  if (overrides.nbf !== undefined) jwt.setNotBefore(overrides.nbf)
  if (overrides.jti !== null) jwt.setJti(overrides.jti ?? 'forged')
  return jwt
}

/** Runs `during` with globalThis.crypto gone, as under node --no-experimental-global-webcrypto. */
export const withoutWebCrypto = (during: () => unknown) => withGlobalCrypto(undefined, during)

/** Runs `during` with `crypto` as globalThis.crypto (a polyfill's partial one, say). */
export async function withGlobalCrypto(crypto: object | undefined, during: () => unknown): Promise<void> {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'crypto')
  Object.defineProperty(globalThis, 'crypto', { value: crypto, configurable: true })
  try {
    await during()
  } finally {
    if (descriptor !== undefined) Object.defineProperty(globalThis, 'crypto', descriptor)
  }
}
