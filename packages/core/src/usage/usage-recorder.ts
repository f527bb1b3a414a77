import type { Clock } from '../lib/clock.js'
import type { KeyStore } from '../store/types.js'

/**
 * last_used_on without a store write per request: uses are collected in memory and written
 * in one batch at most once per `resolutionMs` (so a listing may lag by that much).
 * A failed write keeps the pending times for the next flush, and is reported to `onError`.
 */
export class UsageRecorder {
  #pending = new Map<string, number>()
  #lastFlush: number
  #flushing: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout

  constructor(
    private readonly store: KeyStore,
    private readonly clock: Clock,
    private readonly resolutionMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.#lastFlush = clock()
    this.#timer = setInterval(() => void this.flush().catch(onError), resolutionMs)
    this.#timer.unref()
  }

  /** A use; one earlier than the pending one (a request that began first and finished later) keeps it. */
  record(keyId: string, now: number): void {
    const pending = this.#pending.get(keyId)
    if (pending === undefined || now > pending) this.#pending.set(keyId, now)
    if (now - this.#lastFlush >= this.resolutionMs && this.#flushing === undefined) {
      void this.flush().catch(this.onError)
    }
  }

  /** Writes what is pending now. Rejects if the store fails (the times are kept). */
  async flush(): Promise<void> {
    // A batch in flight holds only what was pending when it left: wait for it (a failure puts its
    // times back), then write what is pending, so that close() misses no use made meanwhile.
    while (this.#flushing) await this.#flushing.catch(() => {})
    this.#lastFlush = this.clock()
    if (this.#pending.size === 0) return
    const batch = this.#pending
    this.#pending = new Map()
    this.#flushing = this.store
      .recordKeyUsage([...batch].map(([id, at]) => ({ id, lastUsedOn: new Date(at) })))
      .catch((error: unknown) => {
        for (const [id, at] of batch) if ((this.#pending.get(id) ?? 0) < at) this.#pending.set(id, at)
        throw error
      })
      .finally(() => {
        this.#flushing = undefined
      })
    return this.#flushing
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
