import { LRUCache } from 'lru-cache'
import type { ApiKeyRecord } from '../store/types.js'

interface Entry {
  readonly record: ApiKeyRecord
  readonly fetchedAt: number
}

/**
 * Verified key records by digest, bounded and fresh for `ttlMs` of the injected clock.
 * Freshness and expiry are checked against keyward's clock rather than lru-cache's TTL,
 * so tests can move time. Deleted key ids are remembered (tombstones) so that a store
 * read that raced a deletion cannot put the deleted key back.
 */
export class KeyCache {
  readonly #byDigest: LRUCache<string, Entry>
  readonly #digestById = new Map<string, string>()
  readonly #tombstones: LRUCache<string, true>
  readonly #ttlMs: number

  constructor(max: number, ttlMs: number) {
    this.#ttlMs = ttlMs
    this.#tombstones = new LRUCache({ max })
    this.#byDigest = new LRUCache<string, Entry>({
      max,
      dispose: (entry, digest) => {
        if (this.#digestById.get(entry.record.id) === digest) this.#digestById.delete(entry.record.id)
      },
    })
  }

  get(digest: string, now: number): ApiKeyRecord | undefined {
    const entry = this.#byDigest.get(digest)
    if (entry === undefined) return undefined
    if (now - entry.fetchedAt >= this.#ttlMs) {
      this.#byDigest.delete(digest)
      return undefined
    }
    return entry.record
  }

  getById(id: string, now: number): ApiKeyRecord | undefined {
    const digest = this.#digestById.get(id)
    return digest === undefined ? undefined : this.get(digest, now)
  }

  /** Caches a record read from the store; refuses one deleted meanwhile. Returns false then. */
  set(record: ApiKeyRecord, now: number): boolean {
    if (this.#tombstones.has(record.id)) return false
    this.#byDigest.set(record.digest, { record, fetchedAt: now })
    this.#digestById.set(record.id, record.digest)
    return true
  }

  isDeleted(id: string): boolean {
    return this.#tombstones.has(id)
  }

  /** The key is gone: drop it and remember that it is gone. */
  evict(id: string, digest?: string): void {
    this.#tombstones.set(id, true)
    const cachedDigest = digest ?? this.#digestById.get(id)
    if (cachedDigest !== undefined) this.#byDigest.delete(cachedDigest)
    this.#digestById.delete(id)
  }

  /** Drops a record without marking it deleted (expired, or user gone). */
  forget(digest: string): void {
    this.#byDigest.delete(digest)
  }

  get size(): number {
    return this.#byDigest.size
  }
}
