/**
 * Real PostgreSQL and Redis for the suites that need them, from DATABASE_URL and REDIS_URL.
 * Without them a suite is skipped with a message saying how to run it; with
 * KEYWARD_REQUIRE_SERVICES=1 (set by .ci/run) a missing service fails the run instead.
 */
import { describe } from 'vitest'

type Service = 'DATABASE_URL' | 'REDIS_URL'

const HOW_TO: Record<Service, string> = {
  DATABASE_URL: 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/test pnpm test',
  REDIS_URL: 'REDIS_URL=redis://127.0.0.1:6379 pnpm test',
}

/** What a suite needs, for its skip message: its name, what is missing, and how to get it. */
export interface Need {
  readonly name: string
  readonly missing: string
  readonly howTo: string
}

const serviceNeed = (name: Service): Need => ({
  name,
  missing: `${name} is not set`,
  howTo: `Run it with: ${HOW_TO[name]}`,
})

/** The value, or undefined when it is missing; under KEYWARD_REQUIRE_SERVICES=1 a missing one fails instead. */
export function needed<T>(value: T | undefined, need: Need): T | undefined {
  if (value !== undefined) return value
  if (process.env.KEYWARD_REQUIRE_SERVICES === '1') {
    throw new Error(`${need.missing} but KEYWARD_REQUIRE_SERVICES=1: this suite must not be skipped`)
  }
  return undefined
}

/** `describe` that runs only with what it needs, and says how to get it otherwise. */
export function describeNeeding<T>(
  need: Need,
  value: T | undefined,
  title: string,
  body: (value: T) => void,
): void {
  const found = needed(value, need)
  if (found === undefined) {
    console.warn(`[keyward] skipping "${title}": ${need.missing}. ${need.howTo}`)
    describe.skip(`${title} (needs ${need.name})`, () => {})
    return
  }
  describe(title, () => body(found))
}

export function serviceUrl(name: Service): string | undefined {
  return needed(process.env[name] || undefined, serviceNeed(name))
}

/** `describe` that runs only when the service is configured, and says how to run it otherwise. */
export function describeWith(name: Service, title: string, body: (url: string) => void): void {
  describeNeeding(serviceNeed(name), process.env[name] || undefined, title, body)
}
