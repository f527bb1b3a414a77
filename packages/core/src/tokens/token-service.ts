import { KeywardError } from '../errors.js'
import type { EventHook } from '../events.js'
import type { Clock } from '../lib/clock.js'
import { addDuration, type Duration } from '../lib/duration.js'
import { timeOfId, timeOrderedId } from '../lib/time-ordered-id.js'
import { storeCall } from '../store/store-call.js'
import type { KeyStore, NextRefreshToken, RefreshTokenRecord } from '../store/types.js'
import { validUserId } from '../users.js'
import type { AuthTokens } from './auth-token.js'
import { generateRefreshToken, isWellFormedRefreshToken, refreshTokenDigest } from './refresh-token.js'

export interface TokenPair {
  readonly auth_token: string
  readonly refresh_token: string
}

/** Mints auth/refresh token pairs and rotates refresh tokens. */
export class TokenService {
  constructor(
    private readonly store: KeyStore,
    private readonly authTokens: AuthTokens,
    private readonly clock: Clock,
    private readonly refreshLifetime: Duration,
    /** How long a session (a refresh family) may last from its first token; false for no bound. */
    private readonly sessionLifetime: Duration | false,
    private readonly emit: EventHook | undefined,
  ) {}

  /** A new pair, starting a new refresh family: a new session. */
  async issuePair(userId: string, keyId: string | null): Promise<TokenPair> {
    validUserId(userId)
    const now = this.clock()
    const refresh = generateRefreshToken()
    const { digest, createdOn, expiresOn } = this.#successor(refresh, now, this.#sessionEndFrom(now))
    // The family's id is dated by the clock: it carries the session's start through every store.
    const record: RefreshTokenRecord = {
      digest,
      familyId: timeOrderedId(now),
      userId,
      keyId,
      createdOn,
      expiresOn,
    }
    await storeCall(() => this.store.insertRefreshToken(record))
    const { token } = await this.authTokens.sign(userId, keyId, now)
    this.emit?.({ type: 'token.issued', at: new Date(now), userId, keyId })
    return { auth_token: token, refresh_token: refresh }
  }

  /**
   * Spends a refresh token and returns the next pair of its family. Presenting a token that
   * was already spent revokes the family: whoever holds the newer one must log in again.
   * `keyAlive` tells whether the key the family came from still exists and has not expired.
   * Every refusal is reported as `auth.failed` with the client's address, so that guessing and
   * replays reach the host's audit log as failed keys and codes do.
   */
  async refresh(
    raw: string,
    ip: string | undefined,
    keyAlive: (keyId: string) => Promise<boolean>,
    userExists: (userId: string) => Promise<boolean>,
  ): Promise<TokenPair> {
    const now = this.clock()
    const at = new Date(now)
    if (!isWellFormedRefreshToken(raw)) throw this.#invalid(at, ip)
    const digest = refreshTokenDigest(raw)
    // The key and the user are checked before the token is spent: a check that fails for want of
    // the store or the directory answers 503 and spends nothing, so the client's retry with the
    // same token is not taken for reuse, which would revoke its session.
    const presented = await storeCall(() => this.store.findRefreshToken(digest, at))
    if (presented === null) throw this.#invalid(at, ip)
    // A token outlives its session only if sessionLifetime was shortened since it was made.
    const sessionEnd = this.#sessionEnd(presented.familyId)
    if (sessionEnd <= now) throw this.#invalid(at, ip, presented)
    if (
      (presented.keyId !== null && !(await keyAlive(presented.keyId))) ||
      !(await userExists(presented.userId))
    ) {
      await this.#revokeFamilyOf(digest, at)
      throw this.#invalid(at, ip, presented)
    }
    const next = generateRefreshToken()
    const result = await storeCall(() =>
      this.store.rotateRefreshToken(digest, this.#successor(next, now, sessionEnd), at),
    )
    // Spent or revoked meanwhile, by a concurrent request: still this owner's token.
    if (result.status === 'not_found') throw this.#invalid(at, ip, presented)
    const { userId, keyId } = result.previous
    if (result.status === 'reused') {
      this.#failed(at, 'REFRESH_TOKEN_REUSED', ip, result.previous)
      throw new KeywardError(
        'REFRESH_TOKEN_REUSED',
        'This refresh token was already used; its session has been revoked. Sign in again',
      )
    }
    const { token } = await this.authTokens.sign(userId, keyId, now)
    this.emit?.({ type: 'token.refreshed', at, userId, keyId })
    return { auth_token: token, refresh_token: next }
  }

  /**
   * Ends every session of the user: no refresh token the user holds rotates again. Auth tokens
   * already issued are not recalled: they live out their lifetime (`authTokenLifetime`).
   */
  async endSessions(userId: string): Promise<void> {
    validUserId(userId)
    await storeCall(() => this.store.revokeUserRefreshTokens(userId))
    this.emit?.({ type: 'sessions.ended', at: new Date(this.clock()), userId })
  }

  #invalid(at: Date, ip: string | undefined, owner?: Owner): KeywardError {
    this.#failed(at, 'INVALID_REFRESH_TOKEN', ip, owner)
    return new KeywardError('INVALID_REFRESH_TOKEN', 'The refresh token is invalid or expired. Sign in again')
  }

  #failed(
    at: Date,
    code: 'INVALID_REFRESH_TOKEN' | 'REFRESH_TOKEN_REUSED',
    ip: string | undefined,
    owner: Owner | undefined,
  ): void {
    this.emit?.({
      type: 'auth.failed',
      at,
      code,
      ip,
      ...(owner && { userId: owner.userId }),
      ...(owner?.keyId != null && { keyId: owner.keyId }),
    })
  }

  /**
   * Ends the family of a token whose key or user is gone, so that presenting the token again is
   * "invalid" like the first time, not a reuse alarm: the store revokes a family when a spent
   * token is presented, so the token is spent (unless it already was) and presented again, each
   * time for a successor no one holds. Never the same successor twice: a store may take the very
   * same rotation again for a resent command and answer it as done (Redis does).
   */
  async #revokeFamilyOf(digest: string, at: Date): Promise<void> {
    for (let presentation = 0; presentation < 2; presentation++) {
      const discarded = this.#successor(generateRefreshToken(), at.getTime(), Number.POSITIVE_INFINITY)
      await storeCall(() => this.store.rotateRefreshToken(digest, discarded, at))
    }
  }

  /** A token made now lives refreshTokenLifetime, but never past the end of its session. */
  #successor(refreshToken: string, now: number, sessionEnd: number): NextRefreshToken {
    return {
      digest: refreshTokenDigest(refreshToken),
      createdOn: new Date(now),
      expiresOn: new Date(Math.min(addDuration(now, this.refreshLifetime), sessionEnd)),
    }
  }

  #sessionEndFrom(start: number): number {
    return this.sessionLifetime === false
      ? Number.POSITIVE_INFINITY
      : addDuration(start, this.sessionLifetime)
  }

  #sessionEnd(familyId: string): number {
    return this.#sessionEndFrom(timeOfId(familyId) ?? UNDATED_SESSIONS_START)
  }
}

/**
 * A family named before keyward dated its families (a UUIDv4) has no start on record: its
 * session is taken to have begun when they began to be dated, so that it too has an end.
 */
const UNDATED_SESSIONS_START = Date.parse('2026-12-02T00:00:00.000Z')

/** Whose family a refresh token belongs to, as far as the store told. */
type Owner = Pick<RefreshTokenRecord, 'userId' | 'keyId'>
