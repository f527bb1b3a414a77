import { LRUCache } from 'lru-cache'
import type { Clock } from '../lib/clock.js'
import type { ResolvedOptions } from '../options.js'
import { storeCall } from '../store/store-call.js'
import type { CounterHit, KeyStore } from '../store/types.js'
import { addressGroup } from './address-group.js'

export interface Limited {
  /** Whole seconds until the client may try again (at least 1). */
  readonly retryAfter: number
  readonly limit: number
  /** Whole seconds, rounded up: RateLimit-Policy's `w` is an integer. */
  readonly windowSeconds: number
}

const DAY_MS = 86_400_000
/**
 * How long wrong TOTP codes are remembered without a right one in between. Far longer than a day,
 * or the count would restart daily and "consecutive" failures would never add up to the account
 * lock, nor the delays keep doubling against a patient guesser.
 */
const CONSECUTIVE_FAILURES_MS = 30 * DAY_MS

/**
 * A store's counter answer, checked. A count that is no number (a Redis client set to answer
 * integers as strings) or an end that is no date would turn the limits off, not on: a block that
 * ends at NaN never blocks. So it counts as the store failing.
 */
function checkedHit(hit: CounterHit, method: string): CounterHit {
  if (typeof hit.count === 'number' && hit.count >= 1 && Number.isFinite(hit.resetAt?.getTime?.())) return hit
  throw new Error(`keyward: the store's ${method} answered a counter whose count or resetAt is malformed`)
}

const wholeSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
const secondsUntil = (at: number, now: number) => wholeSeconds(at - now)

/**
 * Failed-attempt limits. Counters live in the store, so limits hold across instances; the
 * verdict "this address is blocked" is also kept in process, so the guard's hot path checks a
 * Map and never the store. For addresses only failures are counted: a key holder never pays for
 * someone else's failures on another address; an IPv6 address counts as its /56 (addressGroup).
 * TOTP attempts are counted before their code is checked (see `totpAttempt`).
 */
export class RateLimiter {
  // Bounded, so a flood from many addresses cannot grow it without limit.
  readonly #blockedUntil = new LRUCache<string, number>({ max: 100_000 })

  constructor(
    private readonly store: KeyStore,
    private readonly clock: Clock,
    private readonly config: ResolvedOptions['rateLimit'],
    /** Told when the store could not count a failed attempt. */
    private readonly countingFailed: (error: unknown) => void = () => {},
  ) {}

  /** When the last block made so far ends: from then on no address is blocked. */
  #blocksEndAt = 0

  /**
   * Whether an address may be blocked now: the guard asks this before it reads the address. One
   * number, read on every request. It turns false by itself when the last block ends, even if the
   * blocked address never comes back to clear its entry.
   */
  mayBlock(now: number): boolean {
    return now < this.#blocksEndAt
  }

  /** Hot path: is this address blocked right now? No store access. */
  addressBlocked(ip: string | undefined, now: number): Limited | undefined {
    const perAddress = this.config.perAddress
    if (ip === undefined || perAddress === false || !this.mayBlock(now)) return undefined
    const group = addressGroup(ip)
    const until = this.#blockedUntil.get(group)
    if (until === undefined) return undefined
    if (until <= now) {
      this.#blockedUntil.delete(group)
      return undefined
    }
    return {
      retryAfter: secondsUntil(until, now),
      limit: perAddress.max,
      windowSeconds: wholeSeconds(perAddress.windowMs),
    }
  }

  /**
   * Counts one failed attempt from this address. A counting failure never turns a 401 into a 503:
   * the attempt is counted in this process instead (the limit then holds per instance) and the
   * store's error is reported, so that a store that reads but cannot write (a read-only failover)
   * never leaves guessing unlimited and unseen.
   */
  async addressFailed(ip: string | undefined): Promise<void> {
    const perAddress = this.config.perAddress
    if (ip === undefined || perAddress === false) return
    const now = this.clock()
    const group = addressGroup(ip)
    let hit: CounterHit
    try {
      hit = await this.#increment(`addr:${group}`, perAddress.windowMs, new Date(now))
    } catch (error) {
      this.countingFailed(error)
      hit = this.#countLocally(group, perAddress.windowMs, now)
    }
    if (hit.count >= perAddress.max) {
      const until = hit.resetAt.getTime()
      this.#blockedUntil.set(group, until)
      this.#blocksEndAt = Math.max(this.#blocksEndAt, until)
    }
  }

  // Only while the store cannot count; bounded like the verdicts.
  readonly #localCounts = new LRUCache<string, CounterHit>({ max: 100_000 })

  #countLocally(group: string, windowMs: number, now: number): CounterHit {
    const current = this.#localCounts.get(group)
    const hit =
      current !== undefined && current.resetAt.getTime() > now
        ? { count: current.count + 1, resetAt: current.resetAt }
        : { count: 1, resetAt: new Date(now + windowMs) }
    this.#localCounts.set(group, hit)
    return hit
  }

  /**
   * TOTP codes are six digits: guessable, so limited per account. A fast refusal while a lock is
   * on; it only reads, and `totpAttempt` decides.
   */
  async totpBlocked(userId: string): Promise<Limited | undefined> {
    const now = this.clock()
    const at = new Date(now)
    const { totp, perAccount } = this.config
    const [lock, accountLock] = await Promise.all([
      storeCall(() => this.#peek(`totp-lock:${userId}`, at)),
      perAccount === false ? null : storeCall(() => this.#peek(`account-lock:${userId}`, at)),
    ])
    const until = Math.max(lock?.resetAt.getTime() ?? 0, accountLock?.resetAt.getTime() ?? 0)
    if (until <= now) return undefined
    return {
      retryAfter: secondsUntil(until, now),
      limit: totp.max,
      windowSeconds: wholeSeconds(totp.baseDelayMs),
    }
  }

  /**
   * Counts a TOTP attempt before its code is checked, and refuses it past the limits. Counting
   * first, with the store's atomic increment, means a burst of concurrent requests gets no more
   * codes checked than the same requests sent one after another: a check-then-count let every
   * request of a burst through before the first failure was counted.
   *
   * The first `totp.max - 1` attempts since the last success are checked. From then on an
   * attempt is checked only if it opens a lock window: the first increment of an ended window
   * starts a new one (count 1) and is the attempt checked; every other attempt in the window is
   * refused until it ends. Each window is twice as long as the one before. Past
   * `perAccount.max` attempts the account lock works the same way with a fixed lockout; only
   * attempts the TOTP limit let through count towards it.
   */
  async totpAttempt(userId: string): Promise<Limited | undefined> {
    const now = new Date(this.clock())
    const { totp, perAccount } = this.config
    // Named `totp-fail` as before (it counts attempts since the last success), so an upgrade keeps the count.
    const attempts = await storeCall(() =>
      this.#increment(`totp-fail:${userId}`, CONSECUTIVE_FAILURES_MS, now),
    )
    if (attempts.count >= totp.max) {
      const locks = await storeCall(() => this.#peek(`totp-locks:${userId}`, now))
      const doublings = Math.min(locks?.count ?? 0, 16)
      const delay = Math.min(totp.baseDelayMs * 2 ** doublings, DAY_MS)
      const refused = await this.#openWindow(`totp-lock:${userId}`, delay, now)
      if (refused) return refused
      await storeCall(() => this.#increment(`totp-locks:${userId}`, CONSECUTIVE_FAILURES_MS, now))
    }
    if (perAccount !== false) {
      const consecutive = await storeCall(() =>
        this.#increment(`account:${userId}`, CONSECUTIVE_FAILURES_MS, now),
      )
      if (consecutive.count >= perAccount.max) {
        const refused = await this.#openWindow(`account-lock:${userId}`, perAccount.lockoutMs, now)
        if (refused) return refused
      }
    }
    return undefined
  }

  /**
   * A right code: the counts start again, and a lock window its attempt opened is lifted. Never
   * rejects: the code is already spent and TOTP enabled, so the request succeeds (its retry would
   * be a replay); a count left over is reported and cleared by the next accepted code.
   */
  async totpSucceeded(userId: string): Promise<void> {
    const resets = await Promise.allSettled(
      ['totp-fail', 'totp-locks', 'totp-lock', 'account', 'account-lock'].map((bucket) =>
        this.store.resetCounter(`${bucket}:${userId}`),
      ),
    )
    const failures = resets.flatMap((reset) => (reset.status === 'rejected' ? [reset.reason] : []))
    if (failures.length > 0)
      this.countingFailed(
        failures.length === 1
          ? failures[0]
          : new AggregateError(failures, `keyward: ${failures.length} TOTP counts were not reset`),
      )
  }

  async #increment(bucket: string, windowMs: number, now: Date): Promise<CounterHit> {
    return checkedHit(await this.store.incrementCounter(bucket, windowMs, now), 'incrementCounter')
  }

  async #peek(bucket: string, now: Date): Promise<CounterHit | null> {
    const hit = await this.store.peekCounter(bucket, now)
    return hit == null ? null : checkedHit(hit, 'peekCounter')
  }

  /** Undefined when this call opened a new window of `windowMs`; otherwise the open window refuses. */
  async #openWindow(bucket: string, windowMs: number, now: Date): Promise<Limited | undefined> {
    const hit = await storeCall(() => this.#increment(bucket, windowMs, now))
    if (hit.count === 1) return undefined
    const { totp } = this.config
    return {
      retryAfter: secondsUntil(hit.resetAt.getTime(), now.getTime()),
      limit: totp.max,
      windowSeconds: wholeSeconds(totp.baseDelayMs),
    }
  }
}
