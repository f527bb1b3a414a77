import { LRUCache } from 'lru-cache'
import type { Clock } from '../lib/clock.js'
import type { ResolvedOptions } from '../options.js'
import { storeCall } from '../store/store-call.js'
import type { KeyStore } from '../store/types.js'

export interface Limited {
  /** Whole seconds until the client may try again (at least 1). */
  readonly retryAfter: number
  readonly limit: number
  readonly windowSeconds: number
}

const secondsUntil = (at: number, now: number) => Math.max(1, Math.ceil((at - now) / 1000))

/**
 * Failed-attempt limits. Counters live in the store, so limits hold across instances; the
 * verdict "this address is blocked" is also kept in process, so the guard's hot path checks a
 * Map and never the store. Only failures are counted: a key holder never pays for someone
 * else's failures on another address.
 */
export class RateLimiter {
  // Bounded, so a flood from many addresses cannot grow it without limit.
  readonly #blockedUntil = new LRUCache<string, number>({ max: 100_000 })

  constructor(
    private readonly store: KeyStore,
    private readonly clock: Clock,
    private readonly config: Exclude<ResolvedOptions['rateLimit'], false>,
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
    const until = this.#blockedUntil.get(ip)
    if (until === undefined) return undefined
    if (until <= now) {
      this.#blockedUntil.delete(ip)
      return undefined
    }
    return {
      retryAfter: secondsUntil(until, now),
      limit: perAddress.max,
      windowSeconds: perAddress.windowMs / 1000,
    }
  }

  /** Counts one failed attempt from this address. A counting failure never turns a 401 into a 503. */
  async addressFailed(ip: string | undefined): Promise<void> {
    const perAddress = this.config.perAddress
    if (ip === undefined || perAddress === false) return
    const now = this.clock()
    try {
      const hit = await this.store.incrementCounter(`addr:${ip}`, perAddress.windowMs, new Date(now))
      if (hit.count >= perAddress.max) {
        const until = hit.resetAt.getTime()
        this.#blockedUntil.set(ip, until)
        this.#blocksEndAt = Math.max(this.#blocksEndAt, until)
      }
    } catch {
      // The store is down: the request already failed; the next one will meet the outage too.
    }
  }

  /** TOTP codes are six digits: guessable, so limited per account and with a growing delay. */
  async totpBlocked(userId: string): Promise<Limited | undefined> {
    const now = this.clock()
    const at = new Date(now)
    const { totp, perAccount } = this.config
    const [lock, accountLock] = await Promise.all([
      storeCall(() => this.store.peekCounter(`totp-lock:${userId}`, at)),
      perAccount === false ? null : storeCall(() => this.store.peekCounter(`account-lock:${userId}`, at)),
    ])
    const until = Math.max(lock?.resetAt.getTime() ?? 0, accountLock?.resetAt.getTime() ?? 0)
    if (until <= now) return undefined
    return { retryAfter: secondsUntil(until, now), limit: totp.max, windowSeconds: totp.baseDelayMs / 1000 }
  }

  /** A wrong code: past `max` failures each further one locks TOTP for a delay that doubles. */
  async totpFailed(userId: string): Promise<void> {
    const now = new Date(this.clock())
    const { totp, perAccount } = this.config
    const failures = await storeCall(() =>
      this.store.incrementCounter(`totp-fail:${userId}`, 86_400_000, now),
    )
    if (failures.count >= totp.max) {
      const doublings = Math.min(failures.count - totp.max, 16)
      const delay = Math.min(totp.baseDelayMs * 2 ** doublings, 86_400_000)
      await storeCall(() => this.store.incrementCounter(`totp-lock:${userId}`, delay, now))
    }
    if (perAccount !== false) {
      const consecutive = await storeCall(() =>
        this.store.incrementCounter(`account:${userId}`, 86_400_000, now),
      )
      if (consecutive.count >= perAccount.max) {
        await storeCall(() =>
          this.store.incrementCounter(`account-lock:${userId}`, perAccount.lockoutMs, now),
        )
      }
    }
  }

  async totpSucceeded(userId: string): Promise<void> {
    await storeCall(async () => {
      await this.store.resetCounter(`totp-fail:${userId}`)
      await this.store.resetCounter(`account:${userId}`)
    })
  }
}
