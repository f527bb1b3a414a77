import { LRUCache } from 'lru-cache'
import { hexToBytes } from '../lib/secrets.js'
import type { ApiKeyRecord } from '../store/types.js'

/**
 * How often a key served from a connection's memo counts as used in the LRU order. A memo hit
 * skips the LRU lookup (the guard's hot path); refreshing the order once a second keeps a busy
 * key from being evicted as if idle.
 */
const RECENCY_REFRESH_MS = 1_000

/**
 * A verified key record as the cache holds it, and the answer a check gives for it (`ok`). The
 * connection memo keeps a reference to it.
 *
 * What the guard's warm path reads is on the entry itself (the key's and user's ids, the expiry
 * and the freshness as numbers), so that a warm request reads this one object and not the record
 * or the cache: on a busy server each object the guard reads is a likely CPU cache miss.
 */
export class CachedKey {
  readonly ok = true as const
  /** False once the cache dropped it (deleted, stale, evicted, replaced): whoever holds it must look again. */
  live = true
  readonly keyId: string
  readonly userId: string
  /** The expiry as a number, so the hot path reads no Date. */
  readonly expiresAt: number
  /** When the LRU order last saw this key. */
  touchedAt: number
  /** The last use recorded: uses within one millisecond record the same time, so one is enough. */
  usedAt = Number.NaN

  constructor(
    readonly record: ApiKeyRecord,
    readonly digestBytes: string,
    /**
     * When it was read from the store. A time before it is not fresh either: a clock stepped back
     * (NTP, a restored VM) would otherwise stretch the freshness, the bound on a missed revocation.
     */
    readonly fetchedAt: number,
    /** When the cache's freshness runs out: from then on the key is read from the store again. */
    readonly staleAt: number,
  ) {
    this.keyId = record.id
    this.userId = record.userId
    this.expiresAt = record.expiresOn.getTime()
    this.touchedAt = fetchedAt
  }
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
  readonly #byDigest: LRUCache<string, CachedKey>
  readonly #digestById = new Map<string, string>()
  readonly #tombstones: LRUCache<string, true>
  /**
   * Deletions the cache cannot vouch for: tombstones pushed out by newer ones (there are at most
   * `max`), each a deletion forgotten, and deletions whose outcome is unknown (answer lost). A
   * store read in flight across one of them is not cached.
   */
  #unknownDeletions = 0
  readonly #ttlMs: number

  constructor(max: number, ttlMs: number) {
    this.#ttlMs = ttlMs
    this.#tombstones = new LRUCache({
      max,
      dispose: (_value, _id, reason) => {
        if (reason === 'evict') this.#unknownDeletions++
      },
    })
    this.#byDigest = new LRUCache<string, CachedKey>({
      max,
      // Every way out of the cache (delete, eviction, overwrite) passes here.
      dispose: (entry, digest) => {
        entry.live = false
        if (this.#digestById.get(entry.keyId) === digest) this.#digestById.delete(entry.keyId)
      },
    })
  }

  get(digestBytes: string, now: number): CachedKey | undefined {
    const entry = this.#byDigest.get(digestBytes)
    if (entry === undefined) return undefined
    if (now >= entry.staleAt) {
      this.#byDigest.delete(digestBytes)
      return undefined
    }
    // Earlier than its read: a clock set back, or a request whose time was taken before another
    // request cached the key. Not fresh for this request, and not dropped for the next.
    if (now < entry.fetchedAt) return undefined
    entry.touchedAt = now
    return entry
  }

  /**
   * Whether an entry handed out earlier may still be used as is, without a lookup: it is still
   * the cache's entry for its digest, and fresh. Refreshes its place in the LRU order at most
   * once a second.
   */
  holds(entry: CachedKey, now: number): boolean {
    if (!entry.live || now >= entry.staleAt || now < entry.fetchedAt) return false
    if (now - entry.touchedAt >= RECENCY_REFRESH_MS) {
      entry.touchedAt = now
      this.#byDigest.get(entry.digestBytes)
    }
    return true
  }

  getById(id: string, now: number): CachedKey | undefined {
    const digest = this.#digestById.get(id)
    return digest === undefined ? undefined : this.get(digest, now)
  }

  /** Taken before a store read and handed to `set` with its answer. */
  readMark(): number {
    return this.#unknownDeletions
  }

  /**
   * Caches a record read from the store; refuses one deleted meanwhile (undefined then). If a
   * deletion became unknown since `mark` (forgotten, or its answer lost, during the read), whether
   * it took this key is unknown: the record answers the read that fetched it but is not cached, so
   * the next request reads the store again. Without a mark, no read came between.
   */
  set(record: ApiKeyRecord, now: number, mark = this.#unknownDeletions): CachedKey | undefined {
    if (this.#tombstones.has(record.id)) return undefined
    const entry = new CachedKey(record, hexToBytes(record.digest), now, now + this.#ttlMs)
    if (mark !== this.#unknownDeletions) {
      entry.live = false
      return entry
    }
    this.#byDigest.set(entry.digestBytes, entry)
    this.#digestById.set(record.id, entry.digestBytes)
    return entry
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

  /**
   * A deletion whose outcome is unknown (its answer lost): the key's entry is dropped, not marked
   * deleted, so the next request asks the store; and a read in flight meanwhile, which may have
   * fetched the key before the deletion, answers its own request but is not cached.
   */
  deletionUnknown(selector: { readonly id: string } | { readonly digest: string }): void {
    this.#unknownDeletions++
    this.drop(selector)
  }

  /** Drops a key's entry, if cached, without marking it deleted: the next request asks the store. */
  drop(selector: { readonly id: string } | { readonly digest: string }): void {
    const digest = 'id' in selector ? this.#digestById.get(selector.id) : hexToBytes(selector.digest)
    if (digest !== undefined) this.#byDigest.delete(digest)
  }

  /**
   * Deletions elsewhere may have been missed (the store's subscription broke and is back): every
   * entry is dropped, so that each key is read from the store again, and a read in flight, which
   * may have fetched a key deleted meanwhile, answers its own request but is not cached.
   */
  eventsMissed(): void {
    this.#unknownDeletions++
    this.#byDigest.clear()
  }

  /** Drops an entry without marking its key deleted (expired, or user gone). */
  forget(entry: CachedKey): void {
    this.#byDigest.delete(entry.digestBytes)
  }

  get size(): number {
    return this.#byDigest.size
  }
}
