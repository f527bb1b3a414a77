import type { FailureCode } from '../errors.js'
import type { AuthFailedCode, EventHook } from '../events.js'
import type { GuardRequest } from '../http/types.js'
import type { CachedKey } from '../keys/key-cache.js'
import type { KeyCheck, KeyService } from '../keys/key-service.js'
import type { Clock } from '../lib/clock.js'
import { isPromiseLike, type MaybePromise } from '../lib/maybe-promise.js'
import { requestAddress } from '../limits/address-group.js'
import type { Limited, RateLimiter } from '../limits/rate-limiter.js'
import type { AuthTokenCheck, AuthTokens } from '../tokens/auth-token.js'
import type { KeywardUser, Principal } from '../users.js'
import { credentialOf } from './credentials.js'
import { hasAll, keyPrincipal, tokenPrincipal } from './principal.js'

export interface Failure {
  readonly code: FailureCode
  /** For MALFORMED_HEADER: what was wrong with the header. */
  readonly reason?: string
  /** For RATE_LIMITED. */
  readonly limited?: Limited
  /** Which credential failed, where the code alone does not say (USER_GONE). */
  readonly credential?: 'api_key' | 'auth_token'
  /**
   * Whose credential it was, where keyward knows (an expired key, a user gone, a token whose key
   * is gone): for the host and its `auth.failed` event, never in the response.
   */
  readonly userId?: string
  readonly keyId?: string
}

export type AuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly failure: Failure }

export interface AuthenticateOptions {
  /** Every one of these permissions is required; a missing one is a 403. */
  readonly permissions?: readonly string[] | undefined
}

const fail = (code: FailureCode): AuthResult => ({ ok: false, failure: { code } })
const MISSING = fail('MISSING_CREDENTIALS')
const FORBIDDEN = fail('FORBIDDEN')

/** A refusal whose credential is known to belong to someone (null: a token with no key behind it). */
const failOf = (
  code: FailureCode,
  userId: string,
  keyId: string | null,
  credential?: Failure['credential'],
): AuthResult => ({
  ok: false,
  failure: { code, userId, ...(keyId !== null && { keyId }), ...(credential && { credential }) },
})

/**
 * The guard's hot path: the cheap rejections first (header shape, blocked address, key
 * format), then one digest and one cache lookup, then the host's user lookup. No store
 * write: last use is batched. A store or user-directory outage rejects (StoreUnavailableError).
 */
export class Authenticator {
  constructor(
    private readonly keys: KeyService,
    private readonly tokens: AuthTokens,
    private readonly loadUser: (userId: string) => MaybePromise<KeywardUser | null>,
    private readonly limiter: RateLimiter | undefined,
    private readonly clock: Clock,
    private readonly keyPrefix: string,
    private readonly emit: EventHook | undefined,
  ) {}

  authenticate(request: GuardRequest, options?: AuthenticateOptions): Promise<AuthResult> {
    try {
      const result = this.check(request, options)
      return isPromiseLike(result) ? result : Promise.resolve(result)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The same, without a promise when the answer is in memory; may throw StoreUnavailableError. */
  check(request: GuardRequest, options?: AuthenticateOptions): MaybePromise<AuthResult> {
    const credential = credentialOf(request, this.keyPrefix)
    if (credential.kind === 'none') return MISSING
    if (credential.kind === 'malformed')
      return { ok: false, failure: { code: 'MALFORMED_HEADER', reason: credential.reason } }
    const now = this.clock()
    // request.ip may be a getter that costs something: read it only when an address is blocked.
    if (this.limiter?.mayBlock(now)) {
      const limited = this.limiter.addressBlocked(requestAddress(request), now)
      if (limited) return { ok: false, failure: { code: 'RATE_LIMITED', limited } }
    }
    const required = options?.permissions
    const result =
      credential.kind === 'api_key'
        ? this.byApiKey(credential.value, now, request.socket)
        : this.#byAuthToken(credential.value, now)
    if (!isPromiseLike(result))
      return result.ok ? admitted(result, required) : this.#refused(result, requestAddress(request))
    // Read before waiting: Node keeps a socket's peer address only once something has read it, so a
    // client that resets its connection meanwhile would take its address along, uncounted.
    const ip = requestAddress(request)
    return result.then((outcome) => (outcome.ok ? admitted(outcome, required) : this.#refused(outcome, ip)))
  }

  /**
   * Counts a failed credential towards the address limit and reports it. Only a credential that
   * was presented and checked gets here (an AuthFailedCode), never a missing one, a 403 or a 429.
   */
  async failed(failure: Failure, ip: string | undefined): Promise<void> {
    const { code, userId, keyId } = failure
    this.emit?.({
      type: 'auth.failed',
      at: new Date(this.clock()),
      code: code as AuthFailedCode,
      ip,
      ...(userId !== undefined && { userId }),
      ...(keyId !== undefined && { keyId }),
    })
    await this.limiter?.addressFailed(ip)
  }

  #refused(result: Extract<AuthResult, { ok: false }>, ip: string | undefined): Promise<AuthResult> {
    return this.failed(result.failure, ip).then(() => result)
  }

  /** An API key, from a request's connection or alone (what `verifyKey` answers). */
  byApiKey(raw: string, now: number, connection?: object): MaybePromise<AuthResult> {
    const check = this.keys.check(raw, now, connection)
    return isPromiseLike(check)
      ? check.then((ready) => this.#keyHolder(ready, now))
      : this.#keyHolder(check, now)
  }

  #keyHolder(check: KeyCheck, now: number): MaybePromise<AuthResult> {
    if (!check.ok)
      return check.code === 'EXPIRED' ? failOf('EXPIRED', check.userId, check.keyId) : fail(check.code)
    const user = this.loadUser(check.userId)
    return isPromiseLike(user)
      ? user.then((loaded) => this.#keyPrincipal(check, loaded, now))
      : this.#keyPrincipal(check, user, now)
  }

  #keyPrincipal(entry: CachedKey, user: KeywardUser | null, now: number): AuthResult {
    if (user === null) return failOf('USER_GONE', entry.userId, entry.keyId)
    this.keys.used(entry, now)
    return { ok: true, principal: keyPrincipal(entry.keyId, user) }
  }

  #byAuthToken(raw: string, now: number): MaybePromise<AuthResult> {
    const check = this.tokens.verify(raw, now)
    return isPromiseLike(check)
      ? check.then((ready) => this.#tokenHolder(ready, now))
      : this.#tokenHolder(check, now)
  }

  #tokenHolder(check: AuthTokenCheck, now: number): MaybePromise<AuthResult> {
    if (!check.ok) return fail(check.code)
    const { sub, keyId } = check.claims
    if (keyId === null) return this.#tokenUser(sub, null)
    // The token's cache entry keeps the cache entry of its key (KeyLink).
    const live = this.keys.checkById(keyId, now, check)
    return isPromiseLike(live)
      ? live.then((alive) => (alive ? this.#tokenUser(sub, keyId) : keyGone(sub, keyId)))
      : live
        ? this.#tokenUser(sub, keyId)
        : keyGone(sub, keyId)
  }

  #tokenUser(sub: string, keyId: string | null): MaybePromise<AuthResult> {
    const user = this.loadUser(sub)
    return isPromiseLike(user)
      ? user.then((loaded) => tokenUserResult(sub, loaded, keyId))
      : tokenUserResult(sub, user, keyId)
  }
}

const admitted = (
  result: Extract<AuthResult, { ok: true }>,
  required: readonly string[] | undefined,
): AuthResult =>
  required !== undefined && !hasAll(result.principal.permissions, required) ? FORBIDDEN : result

// The user behind a valid auth token is gone: the code says why, the answer speaks of the token.
const tokenUserResult = (sub: string, user: KeywardUser | null, keyId: string | null): AuthResult =>
  user === null
    ? failOf('USER_GONE', sub, keyId, 'auth_token')
    : { ok: true, principal: tokenPrincipal(user, keyId) }

/** A valid auth token whose key has been deleted or has expired. */
const keyGone = (sub: string, keyId: string): AuthResult => failOf('INVALID_TOKEN', sub, keyId)
