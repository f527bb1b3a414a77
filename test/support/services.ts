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

export function serviceUrl(name: Service): string | undefined {
  const url = process.env[name]
  if (url) return url
  if (process.env.KEYWARD_REQUIRE_SERVICES === '1') {
    throw new Error(`${name} is not set but KEYWARD_REQUIRE_SERVICES=1: this suite must not be skipped`)
  }
  return undefined
}

/** `describe` that runs only when the service is configured, and says how to run it otherwise. */
export function describeWith(name: Service, title: string, body: (url: string) => void): void {
  const url = serviceUrl(name)
  if (url === undefined) {
    console.warn(`[keyward] skipping "${title}": ${name} is not set. Run it with: ${HOW_TO[name]}`)
    describe.skip(`${title} (needs ${name})`, () => {})
    return
  }
  describe(title, () => body(url))
}
