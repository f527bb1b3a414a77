/**
 * The storage contract. Every method either resolves or rejects; a rejection means the
 * store is unreachable or broken and keyward fails closed (503). "Not found" is a null,
 * never an error. Dates are Date objects; ids and digests are strings.
 */

export interface ApiKeyRecord {
  /** Non-secret id, shown in listings and used for deletion. */
  readonly id: string
  readonly userId: string
  readonly name: string
  /** Hex SHA-256 of the full key. The key itself is never stored. */
  readonly digest: string
  /** Non-secret preview such as `ms-…1a2b`. */
  readonly preview: string
  readonly createdOn: Date
  readonly expiresOn: Date
  readonly lastUsedOn: Date | null
}

export interface RefreshTokenRecord {
  /** Hex SHA-256 of the opaque refresh token. */
  readonly digest: string
  /** Every token of one rotation chain shares its family id; reuse revokes the family. */
  readonly familyId: string
  readonly userId: string
  /** The API key the chain was started from, or null for a host login. */
  readonly keyId: string | null
  readonly createdOn: Date
  readonly expiresOn: Date
}

/** The token that replaces a spent one; the store copies family, user and key from the spent token. */
export type NextRefreshToken = Pick<RefreshTokenRecord, 'digest' | 'createdOn' | 'expiresOn'>

export type RotateRefreshResult =
  /** The presented token was live; it is now spent and `next` is stored. */
  | { readonly status: 'rotated'; readonly previous: RefreshTokenRecord }
  /** The presented token had already been spent: the whole family is now revoked. */
  | { readonly status: 'reused'; readonly previous: RefreshTokenRecord }
  /** Unknown, expired or revoked. */
  | { readonly status: 'not_found' }

/**
 * What became of a TOTP step: `refused`, or accepted, either by an enrolment already enabled
 * (`accepted`) or by a pending one it enabled (`enabled`). Of simultaneous steps accepted for one
 * pending enrolment, exactly one is `enabled`: it alone tells of the change.
 */
export type TotpAcceptance = 'refused' | 'accepted' | 'enabled'

export interface TotpRecord {
  readonly userId: string
  /** The secret, sealed by keyward (AES-256-GCM); opaque to the store. */
  readonly sealedSecret: string
  readonly enabled: boolean
  /** The last accepted time step; a code of this step or an earlier one is never accepted again. */
  readonly lastStep: number | null
  readonly createdOn: Date
}

export interface CounterHit {
  /** Hits in the current window, this one included. */
  readonly count: number
  /** When the current window ends. */
  readonly resetAt: Date
}

/** Broadcast to every instance sharing the store, so each can evict its caches. */
export type StoreEvent = { readonly type: 'key.deleted'; readonly keyId: string; readonly digest: string }

export interface KeyStore {
  insertKey(record: ApiKeyRecord): Promise<void>
  findKeyByDigest(digest: string): Promise<ApiKeyRecord | null>
  findKeyById(id: string): Promise<ApiKeyRecord | null>
  /**
   * The user's keys, oldest first by `createdOn`; keys created in the same millisecond in
   * ascending id order. Expired keys may be included or already dropped: Redis, for one, drops a
   * key once its lifetime (`expiresOn` - `createdOn`) has passed since it was written, by Redis's
   * clock, so a key whose `expiresOn` has passed by keyward's clock may still be listed.
   */
  listKeys(userId: string): Promise<ApiKeyRecord[]>
  /** Atomically deletes one of the user's keys and returns it; null when the user has no such key. Publishes key.deleted. */
  deleteKey(
    userId: string,
    selector: { readonly id: string } | { readonly digest: string },
  ): Promise<ApiKeyRecord | null>
  /** Batched last-use times; a time never moves backwards. Unknown ids are ignored. */
  recordKeyUsage(usage: ReadonlyArray<{ readonly id: string; readonly lastUsedOn: Date }>): Promise<void>

  insertRefreshToken(record: RefreshTokenRecord): Promise<void>
  /**
   * The token with this digest, spent or not, while the store holds it: null when it is unknown,
   * expired at `now`, or revoked with its family. keyward reads it to check the token's key and
   * user before spending it, so that a check the store or the host's directory cannot answer
   * (503) spends nothing, and the client's retry is not taken for reuse.
   */
  findRefreshToken(digest: string, now: Date): Promise<RefreshTokenRecord | null>
  /**
   * Atomically spends the live token with this digest and stores `next` in its family (same
   * family, user and key). A token
   * that was already spent revokes its whole family, so that two redemptions of one token,
   * even simultaneous ones on two instances, never both succeed. A store may answer the very
   * same call again (the same token for the same `next.digest`, as a resent command) as
   * `rotated`, as the first time; keyward never repeats a rotation with the same `next`.
   */
  rotateRefreshToken(digest: string, next: NextRefreshToken, now: Date): Promise<RotateRefreshResult>
  /**
   * Revokes every refresh-token family of the user, as a reuse revokes one: no token of them is
   * found or rotates again, spent or not. A rotation racing it either finds its token gone or
   * completes first, and then its successor is revoked too. Families started after it began may
   * be revoked or not.
   */
  revokeUserRefreshTokens(userId: string): Promise<void>

  getTotp(userId: string): Promise<TotpRecord | null>
  /**
   * Stores a pending (not yet enabled) secret, replacing a pending one; never replaces an enabled one.
   * Returns false if one is enabled. A pending enrolment is kept for PENDING_TOTP_LIFETIME_MS (24
   * hours) from its `createdOn`, a replacement for as long from its own, and then deleted by
   * `pruneExpired`; a store without it drops the record that long after it is written (Redis, by a
   * TTL that enabling it removes in the same atomic write). keyward refuses an expired one by its
   * own clock either way.
   */
  putPendingTotp(record: TotpRecord): Promise<boolean>
  /**
   * Atomically accepts `step` if the stored secret is still `sealedSecret` (the one the code was
   * checked against: a new pending secret may have replaced it meanwhile) and the step is later
   * than the last accepted one, and enables TOTP. With `resealedSecret` (the same secret sealed
   * with the current key, where a previous key had sealed it), an accepted step also stores that
   * in place of `sealedSecret`. Resolves `'refused'` when the step is not accepted, `'enabled'`
   * when it is and enabled a pending enrolment (one step of several simultaneous ones, decided in
   * the same atomic write), and `'accepted'` when TOTP was already enabled.
   */
  acceptTotpStep(
    userId: string,
    sealedSecret: string,
    step: number,
    resealedSecret?: string,
  ): Promise<TotpAcceptance>
  /** Deletes the user's TOTP enrolment, enabled or not (host-driven reset): a new pending secret can then be stored. */
  deleteTotp(userId: string): Promise<void>

  /** Fixed-window counter for rate limits: atomically increments and returns the window's count. */
  incrementCounter(bucket: string, windowMs: number, now: Date): Promise<CounterHit>
  /** The current window of a counter, or null when it has none (never counted, or its window ended). */
  peekCounter(bucket: string, now: Date): Promise<CounterHit | null>
  resetCounter(bucket: string): Promise<void>

  /**
   * Deletes expired keys and refresh tokens, ended counter windows, and pending TOTP enrolments
   * whose `createdOn` is PENDING_TOTP_LIFETIME_MS or more before `now` (never an enabled enrolment,
   * however old). Optional: stores whose records expire by themselves (Redis) leave it out.
   * keyward calls it a minute after start, then an hour after each call settles (never two at
   * once). `signal` is aborted when keyward closes, which then waits for the prune: a store that
   * prunes in steps stops at the next one, so that nothing uses the host's client once keyward is
   * closed.
   */
  pruneExpired?(now: Date, signal?: AbortSignal): Promise<void>

  /**
   * Delivers events published by any instance (including this one) until the returned function
   * is called. Optional for single-process stores. Resolves once listening, or rejects; it must
   * settle in bounded time, as keyward's `close()` waits for it. Once listening, the store keeps
   * listening by itself (reconnecting as needed) and tells `onError` of each trouble on the way
   * (a dropped connection, a failed reconnection, a refused subscription), which keyward reports
   * on its error event: events missed meanwhile are lost, and an operator should know. Each time
   * it listens again after such a break, it calls `onResumed`: keyward then drops every key it
   * caches, since a deletion published meanwhile never reached it.
   */
  subscribe?(
    listener: (event: StoreEvent) => void,
    onError?: (error: unknown) => void,
    onResumed?: () => void,
  ): Promise<() => Promise<void>>
}
