import { randomUUID } from 'node:crypto'
import { KeywardError, StoreUnavailableError } from '../errors.js'
import type { EventHook } from '../events.js'
import type { Clock } from '../lib/clock.js'
import { addDuration, type Duration } from '../lib/duration.js'
import type { MaybePromise } from '../lib/maybe-promise.js'
import { bytesToHex, constantTimeEqual } from '../lib/secrets.js'
import { storeCall } from '../store/store-call.js'
import type { ApiKeyRecord, KeyStore } from '../store/types.js'
import type { UsageRecorder } from '../usage/usage-recorder.js'
import { validUserId } from '../users.js'
import { ConnectionMemo } from './connection-memo.js'
import type { CachedKey, KeyCache } from './key-cache.js'
import type { KeyFormat } from './key-format.js'
import { SharedReads } from './shared-reads.js'

/** In characters (code points), as JSON Schema's maxLength counts them: an emoji is one. */
export const MAX_KEY_NAME_LENGTH = 128

const keyLimitReached = (max: number) =>
  new KeywardError(
    'KEY_LIMIT_REACHED',
    `You have reached the limit of ${max} active API keys. Delete one to issue another`,
  )

export interface IssuedKey {
  readonly record: ApiKeyRecord
  /** The full key: returned once, never stored. */
  readonly key: string
}

/** A verified key answers with its cache entry (`ok: true`, `record`). */
export type KeyCheck =
  | CachedKey
  | { readonly ok: false; readonly code: 'MALFORMED' | 'NOT_FOUND' }
  /** An expired key is still known: its owner is named in the failure's event. */
  | { readonly ok: false; readonly code: 'EXPIRED'; readonly userId: string; readonly keyId: string }

const MALFORMED: KeyCheck = Object.freeze({ ok: false, code: 'MALFORMED' })
const NOT_FOUND: KeyCheck = Object.freeze({ ok: false, code: 'NOT_FOUND' })

/**
 * Whether a shared read's answer may answer the requests that joined it: no key, or a key the
 * cache took (a deletion it forgot, or one whose outcome is unknown, during the read would have
 * kept it out, and only the request that began the read may then be answered with it).
 */
const cacheVouchesFor = (entry: CachedKey | undefined): boolean => entry === undefined || entry.live

/** Where an auth token's cache entry keeps the cache entry of the key it came from. */
export interface KeyLink {
  key: CachedKey | undefined
}

export type KeySelector = { readonly id: string } | { readonly key: string }

/** Issue, list, delete and check API keys. Users and permissions are the caller's concern. */
export class KeyService {
  readonly #memo = new ConnectionMemo()
  /** Concurrent misses of one key share one store read: by digest (API keys), by id (auth tokens). */
  readonly #readsByDigest = new SharedReads(cacheVouchesFor)
  readonly #readsById = new SharedReads(cacheVouchesFor)

  constructor(
    private readonly store: KeyStore,
    private readonly format: KeyFormat,
    private readonly cache: KeyCache,
    private readonly usage: UsageRecorder,
    private readonly clock: Clock,
    private readonly lifetime: Duration,
    /** Unexpired keys one user may hold; false for no bound. */
    private readonly maxPerUser: number | false,
    private readonly emit: EventHook | undefined,
  ) {}

  async issue(userId: string, name: unknown): Promise<IssuedKey> {
    validUserId(userId)
    const trimmed = validKeyName(name)
    const key = this.format.generate()
    const now = this.clock()
    const record: ApiKeyRecord = {
      id: randomUUID(),
      userId,
      name: trimmed,
      digest: this.format.digest(key),
      preview: this.format.preview(key),
      createdOn: new Date(now),
      expiresOn: new Date(addDuration(now, this.lifetime)),
      lastUsedOn: null,
    }
    const max = this.maxPerUser
    // Counted before the insert, so that a user at the limit writes nothing, and again after it:
    // of issues racing for the last places, on one instance or on several, each then sees the
    // others' keys, so no more than `max` are kept (all of them may be refused; a retry succeeds).
    if (max !== false && (await this.list(userId)).length >= max) throw keyLimitReached(max)
    try {
      await storeCall(() => this.store.insertKey(record))
    } catch (error) {
      // The insert may have been written with only its answer lost: a key shown to no one must
      // not linger in the listing, nor take the place of the client's retry under the limit.
      await this.#withdraw(record)
      throw error
    }
    if (max !== false) await this.#keptWithin(record, max)
    this.emit?.({ type: 'key.issued', at: record.createdOn, userId, keyId: record.id })
    return { record, key }
  }

  /**
   * Gives the new key up when it is one too many, or when the count fails (a store outage: the
   * request answers 503 and its key, shown to no one, should not linger in the listing). Only
   * when that deletion fails too does the key stay, until it expires or the user deletes it; the
   * request then answers 503 (and the operator hears of it), never a 409 that hides the key.
   */
  async #keptWithin(record: ApiKeyRecord, max: number): Promise<void> {
    let refusal: unknown
    try {
      if ((await this.list(record.userId)).length <= max) return
      refusal = keyLimitReached(max)
    } catch (error) {
      refusal = error
    }
    const failed = await this.#withdraw(record)
    if (failed !== undefined && !(refusal instanceof StoreUnavailableError)) throw failed
    throw refusal
  }

  /** Deletes a key no one was shown; the store's error when that fails too. */
  async #withdraw(record: ApiKeyRecord): Promise<StoreUnavailableError | undefined> {
    try {
      await storeCall(() => this.store.deleteKey(record.userId, { id: record.id }))
      return undefined
    } catch (error) {
      return error as StoreUnavailableError
    }
  }

  /**
   * The record of a key held in hand, expired or not, with nothing recorded: no last use, no
   * event, no cache entry. Null for a key the store does not hold (or not of this format).
   */
  async find(raw: string): Promise<ApiKeyRecord | null> {
    if (typeof raw !== 'string' || !this.format.isWellFormed(raw)) return null
    const digest = this.format.digest(raw)
    const stored = await storeCall(() => this.store.findKeyByDigest(digest))
    return stored !== null && constantTimeEqual(stored.digest, digest) ? stored : null
  }

  /** The user's keys that have not expired, oldest first. */
  async list(userId: string): Promise<ApiKeyRecord[]> {
    validUserId(userId)
    const now = this.clock()
    const records = await storeCall(() => this.store.listKeys(userId))
    return records.filter((record) => record.expiresOn.getTime() > now)
  }

  /** Deletes one of the user's own keys; null when the user has no such key. Takes effect at once. */
  async delete(userId: string, selector: KeySelector): Promise<ApiKeyRecord | null> {
    validUserId(userId)
    let storeSelector: { id: string } | { digest: string }
    if ('key' in selector) {
      if (!this.format.isWellFormed(selector.key)) return null
      storeSelector = { digest: this.format.digest(selector.key) }
    } else {
      // No key's id holds a NUL (keyward's ids are UUIDs), and PostgreSQL refuses one in text: asking
      // would turn a client's typo into a store error, a 503 that looks like an outage.
      if (selector.id.includes('\u0000')) return null
      storeSelector = { id: selector.id }
    }
    let record: ApiKeyRecord | null
    try {
      record = await storeCall(() => this.store.deleteKey(userId, storeSelector))
    } catch (error) {
      // The deletion may have been done with only its answer lost, and then the retry finds
      // nothing to delete: neither may leave the key served from this process's cache, nor let a
      // read in flight put it back.
      this.cache.deletionUnknown(storeSelector)
      throw error
    }
    if (record === null) {
      this.cache.drop(storeSelector)
      return null
    }
    this.cache.evict(record.id, record.digest)
    this.emit?.({ type: 'key.deleted', at: new Date(this.clock()), userId, keyId: record.id })
    return record
  }

  /**
   * Hot path. A key of the wrong shape is rejected before hashing; a warm key costs one SHA-256
   * and one cache lookup, answered without a promise, and the key last verified on the same
   * connection neither (the memo hands back its cache entry while the cache still holds it).
   * Only a well-formed key reaches the store, and unknown and expired keys take the same path
   * (one store read) and get the same answer.
   */
  check(raw: string, now: number, connection?: object): MaybePromise<KeyCheck> {
    if (!this.format.hasShape(raw)) return MALFORMED
    const remembered = connection === undefined ? undefined : this.#memo.entryOf(connection, raw)
    if (remembered !== undefined && this.#current(remembered, now)) return remembered
    const digestBytes = remembered?.digestBytes ?? this.format.digestBytes(raw)
    const cached = this.cache.get(digestBytes, now)
    if (cached !== undefined) return this.#verified(cached, now, connection, raw)
    // The full format test waits until here: a key that fails it cannot be in the cache.
    if (!this.format.isWellFormed(raw)) return MALFORMED
    const digest = bytesToHex(digestBytes)
    const mark = this.cache.readMark()
    const read = this.#readsByDigest.read(digest, mark, () =>
      storeCall(() => this.store.findKeyByDigest(digest)).then((stored) =>
        stored === null || !constantTimeEqual(stored.digest, digest)
          ? undefined
          : this.cache.set(stored, now, mark),
      ),
    )
    return read.then((entry) => {
      if (entry !== undefined) return this.#verified(entry, now, connection, raw)
      if (connection !== undefined) this.#memo.forget(connection)
      return NOT_FOUND
    })
  }

  /**
   * The warm path's key check: the cache entry of the key last verified on this connection, if
   * `raw` is that key and the entry is still current. No digest, no lookup, nothing to wait for.
   */
  remembered(raw: string, connection: object | undefined, now: number): CachedKey | undefined {
    const entry = connection === undefined ? undefined : this.#memo.entryOf(connection, raw)
    return entry !== undefined && this.#current(entry, now) ? entry : undefined
  }

  /** Whether an auth token's link holds the current cache entry of the key behind it (checkById's first step). */
  linkHolds(link: KeyLink, now: number): boolean {
    const linked = link.key
    return linked !== undefined && this.#current(linked, now)
  }

  /** A remembered entry answers as is while its key has not expired and the cache still holds it. */
  #current(entry: CachedKey, now: number): boolean {
    return entry.expiresAt > now && this.cache.holds(entry, now)
  }

  /** A key found in the cache: live or expired. The connection remembers a live one and forgets anything else. */
  #verified(entry: CachedKey, now: number, connection: object | undefined, raw: string): KeyCheck {
    const live = entry.expiresAt > now
    if (connection !== undefined) {
      if (live) this.#memo.remember(connection, raw, entry)
      else this.#memo.forget(connection)
    }
    if (live) return entry
    this.cache.forget(entry)
    return { ok: false, code: 'EXPIRED', userId: entry.userId, keyId: entry.keyId }
  }

  /**
   * Liveness of the key behind an auth token: cached, and gone as soon as the key is deleted.
   * `link` (the token's cache entry) keeps the key's cache entry, so that the token's next request
   * reads it without a lookup while the cache still holds it, as a connection's memo does.
   */
  checkById(id: string, now: number, link?: KeyLink): MaybePromise<boolean> {
    if (link !== undefined && this.linkHolds(link, now)) return true
    // A key the cache holds is not deleted (deletion drops it, and the cache refuses it from then
    // on): the deleted ids are read only on a miss.
    const cached = this.cache.getById(id, now)
    if (cached !== undefined) return this.#link(cached, now, link)
    if (this.cache.isDeleted(id)) return false
    const mark = this.cache.readMark()
    const read = this.#readsById.read(id, mark, () =>
      storeCall(() => this.store.findKeyById(id)).then((stored) =>
        stored === null ? undefined : this.cache.set(stored, now, mark),
      ),
    )
    return read.then((entry) => entry !== undefined && this.#link(entry, now, link))
  }

  /** Whether a key found by id is live; the link keeps its entry (#current reads the expiry again). */
  #link(entry: CachedKey, now: number, link: KeyLink | undefined): boolean {
    if (link !== undefined) link.key = entry
    return entry.expiresAt > now
  }

  /**
   * Records a use: in memory now, in the store at the next batch. Once per millisecond, and never
   * one earlier than the last (a request that began before it and finished after).
   */
  used(entry: CachedKey, now: number): void {
    if (!(now <= entry.usedAt)) {
      entry.usedAt = now
      this.usage.record(entry.keyId, now)
    }
    this.emit?.({ type: 'key.used', at: new Date(now), userId: entry.userId, keyId: entry.keyId })
  }
}

export function validKeyName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new KeywardError('INVALID_INPUT', 'key_name is required and must be a string', {
      field: 'key_name',
    })
  }
  const trimmed = name.trim()
  const characters = [...trimmed].length
  if (characters < 1 || characters > MAX_KEY_NAME_LENGTH) {
    throw new KeywardError(
      'INVALID_INPUT',
      `key_name must be 1 to ${MAX_KEY_NAME_LENGTH} characters after trimming`,
      {
        field: 'key_name',
      },
    )
  }
  if (/\p{Cc}/u.test(trimmed)) {
    throw new KeywardError('INVALID_INPUT', 'key_name must not contain control characters', {
      field: 'key_name',
    })
  }
  // A lone surrogate is no character: PostgreSQL and Redis would store U+FFFD in its place.
  if (/\p{Cs}/u.test(trimmed)) {
    throw new KeywardError('INVALID_INPUT', 'key_name must be valid Unicode (it has a lone surrogate)', {
      field: 'key_name',
    })
  }
  return trimmed
}
