import { LRUCache } from 'lru-cache'
import { hexToBytes } from '../lib/secrets.js'
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
 *
 * Lookups take the digest as bytes (`digestBytes`, 32 characters), the form the guard computes;
 * records and deletions carry the stored hex digest, converted here off the hot path.
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

  get(digestBytes: string, now: number): ApiKeyRecord | undefined {
    const entry = this.#byDigest.get(digestBytes)
    if (entry === undefined) return undefined
    if (now - entry.fetchedAt >= this.#ttlMs) {
      this.#byDigest.delete(digestBytes)
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
    const digestBytes = hexToBytes(record.digest)
    this.#byDigest.set(digestBytes, { record, fetchedAt: now })
    this.#digestById.set(record.id, digestBytes)
    return true
  }

  isDeleted(id: string): boolean {
    return this.#tombstones.has(id)
  }

  /** The key is gone: drop it and remember that it is gone. `digest` is the stored (hex) one. */
  evict(id: string, digest?: string): void {
    this.#tombstones.set(id, true)
    const cachedDigest = digest === undefined ? this.#digestById.get(id) : hexToBytes(digest)
    if (cachedDigest !== undefined) this.#byDigest.delete(cachedDigest)
    this.#digestById.delete(id)
  }

  /** Drops a record without marking it deleted (expired, or user gone). */
  forget(record: ApiKeyRecord): void {
    this.#byDigest.delete(hexToBytes(record.digest))
  }

  get size(): number {
    return this.#byDigest.size
  }
}
