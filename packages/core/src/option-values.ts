/** Checks of one option's value each, for resolveOptions: what is refused, and the message that names it. */
import { KeywardConfigError, shownValue } from './errors.js'
import { type Duration, type DurationInput, parseDuration } from './lib/duration.js'
import { REQUIRED_STORE_METHODS } from './store/required-methods.js'

const MIN_SECRET_BYTES = 32
/** The longest lifetime: 100 years of 365.25 days, a month counted as a twelfth of such a year. */
const MAX_LIFETIME_DAYS = 36_525
const averageDays = ({ months, milliseconds }: Duration) =>
  (months * MAX_LIFETIME_DAYS) / 1200 + milliseconds / 86_400_000

const toBytes = (value: string | Uint8Array): Uint8Array =>
  typeof value === 'string' ? new TextEncoder().encode(value) : value

/** An HMAC-SHA-256 secret: at least 32 bytes (RFC 7518 3.2: no shorter than the hash). */
export function signingSecret(option: string, value: string | Uint8Array): Uint8Array {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
    const what = `a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes`
    throw new KeywardConfigError(option, value === undefined ? `is required: ${what}` : `must be ${what}`)
  }
  const secret = toBytes(value)
  if (secret.byteLength < MIN_SECRET_BYTES)
    throw new KeywardConfigError(
      option,
      `must be at least ${MIN_SECRET_BYTES} bytes (got ${secret.byteLength})`,
    )
  return secret
}

/** A list of keys or secrets, each checked by `check` and named by its place in the list. */
export function keyList<T>(
  option: string,
  values: ReadonlyArray<string | Uint8Array> | undefined,
  check: (option: string, value: string | Uint8Array) => T,
): T[] {
  if (values === undefined) return []
  if (!Array.isArray(values)) throw new KeywardConfigError(option, 'must be an array of keys')
  return values.map((value, index) => check(`${option}[${index}]`, value))
}

/** An AES-256 key: exactly 32 bytes. */
export function sealingKey(option: string, value: string | Uint8Array): Uint8Array {
  if (typeof value !== 'string' && !(value instanceof Uint8Array))
    throw new KeywardConfigError(option, 'must be a string or a Uint8Array of 32 bytes')
  const key = toBytes(value)
  if (key.byteLength !== 32)
    throw new KeywardConfigError(option, `must be exactly 32 bytes (got ${key.byteLength})`)
  return key
}

export function duration(option: string, input: DurationInput | undefined, fallback: string): Duration {
  // null is refused rather than taken for "the default": a JavaScript caller may mean "no limit" by it.
  const parsed = input === null ? undefined : parseDuration(input ?? fallback)
  if (!parsed)
    throw new KeywardConfigError(
      option,
      `must be a lifetime such as "3mo", "90d", "15m" or "30s" (got ${shownValue(input)})`,
    )
  // A longer one would put expiry dates where a Date or PostgreSQL (year 9999) cannot follow,
  // and every issuance would fail at the store instead of here.
  if (averageDays(parsed) > MAX_LIFETIME_DAYS)
    throw new KeywardConfigError(option, `must be at most 100 years (got ${JSON.stringify(input)})`)
  return parsed
}

export function fixedMs(option: string, input: DurationInput | undefined, fallback: string): number {
  const parsed = duration(option, input, fallback)
  if (parsed.months > 0)
    throw new KeywardConfigError(option, 'must be a fixed length (s, m, h, d or w), not months')
  return parsed.milliseconds
}

export function positiveInteger(option: string, value: number | undefined, fallback: number): number {
  const resolved = value === undefined ? fallback : value
  if (!Number.isSafeInteger(resolved) || resolved < 1)
    throw new KeywardConfigError(option, `must be a positive integer (got ${shownValue(value)})`)
  return resolved
}

/** An option that groups others: an object when given (or `false`, where that turns it off). */
export function group(option: string, value: unknown, orFalse = false): void {
  if (value === undefined || (orFalse && value === false)) return
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KeywardConfigError(
      option,
      `must be an object${orFalse ? ' or false' : ''} (got ${shownValue(value)})`,
    )
}

/** A clock that answers a finite number when asked (a Date or a string is not epoch milliseconds). */
export function isEpochMsClock(clock: unknown): boolean {
  if (typeof clock !== 'function') return false
  const now: unknown = clock()
  return typeof now === 'number' && Number.isFinite(now)
}

export const isHttpUrl = (value: unknown): boolean =>
  typeof value === 'string' && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)

export function checkStore(store: unknown): void {
  if (store === undefined) return
  if (typeof store !== 'object' || store === null)
    throw new KeywardConfigError('store', 'must implement the KeyStore interface')
  const missing = REQUIRED_STORE_METHODS.filter(
    (method) => typeof (store as Record<string, unknown>)[method] !== 'function',
  )
  if (missing.length > 0)
    throw new KeywardConfigError(
      'store',
      `must implement the KeyStore interface (missing ${missing.join(', ')})`,
    )
}

/** Each cache allocates its table for `max` entries as it is made (three of them). */
const MAX_CACHE_ENTRIES = 1_000_000

export function cacheEntries(value: number | undefined): number {
  const max = positiveInteger('cache.max', value, 10_000)
  if (max > MAX_CACHE_ENTRIES)
    throw new KeywardConfigError('cache.max', `must be at most 1,000,000 (got ${value})`)
  return max
}

export function nonEmpty(option: string, value: string | undefined, fallback: string): string {
  const resolved = value ?? fallback
  if (typeof resolved !== 'string' || resolved.trim() === '')
    throw new KeywardConfigError(option, 'must be a non-empty string')
  return resolved
}
