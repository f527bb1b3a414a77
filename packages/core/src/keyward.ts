import { type FailureCode, KeywardError, StoreUnavailableError } from './errors.js'
import type { KeywardErrorEvent } from './events.js'
import { type AuthenticateOptions, Authenticator, type AuthResult } from './guard/authenticator.js'
import { WarmPath } from './guard/warm-path.js'
import { PRESENTATION } from './http/failures.js'
import { authFailureResponse, HttpHandler, thrownResponse } from './http/handler.js'
import type { GuardRequest, HttpRequest, HttpResponse, NodeRequest } from './http/types.js'
import { KeyCache } from './keys/key-cache.js'
import { keyFormat } from './keys/key-format.js'
import { type KeySelector, KeyService } from './keys/key-service.js'
import { isPromiseLike, type MaybePromise } from './lib/maybe-promise.js'
import { RateLimiter } from './limits/rate-limiter.js'
import { type KeywardOptions, resolveOptions } from './options.js'
import { withDeadline } from './store/deadline.js'
import { subscribeWithRetry } from './store/event-subscription.js'
import { schedulePruning } from './store/prune-schedule.js'
import { checkHealth, EventChannel, type KeywardHealth } from './store/store-health.js'
import type { ApiKeyRecord } from './store/types.js'
import { AuthTokens } from './tokens/auth-token.js'
import { type TokenPair, TokenService } from './tokens/token-service.js'
import { SecretBox, totpKeyDerivedFrom } from './totp/secret-box.js'
import { type TotpEnrollment, TotpService } from './totp/totp-service.js'
import { UsageRecorder } from './usage/usage-recorder.js'
import type { KeywardUser, Principal, UserDirectory } from './users.js'

/** A key as the library API shows it: everything but the digest. */
export type KeyInfo = Omit<ApiKeyRecord, 'digest'>

export interface IssuedKey extends KeyInfo {
  /** The full key. Shown once: keyward keeps only its digest. */
  readonly key: string
}

export interface ApiKeyAuthentication extends TokenPair {
  readonly passkey_enabled: boolean
  readonly totp_enabled: boolean
}

/**
 * Why a key did not verify: unknown, expired and malformed keys get the same HTTP answer. An
 * expired key the store has since pruned (hourly) or dropped (Redis) is NOT_FOUND.
 */
export type KeyFailureCode = 'MALFORMED' | 'NOT_FOUND' | 'EXPIRED' | 'USER_GONE'

export type VerifyKeyResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly code: KeyFailureCode }

export type GuardOutcome =
  | { readonly ok: true; readonly auth: Principal }
  | { readonly ok: false; readonly response: HttpResponse }

export interface RequestContext {
  /** The client address, for failed-attempt limits and the events that report failures. */
  readonly ip?: string | undefined
}

export interface Keyward {
  /**
   * Issues a key for a user; the returned `key` is the only time it is ever seen. Rejects with
   * KEY_LIMIT_REACHED when the user already holds `maxKeysPerUser` unexpired keys.
   */
  issueKey(userId: string, options: { readonly name: unknown }): Promise<IssuedKey>
  /** The user's keys that have not expired, oldest first. */
  listKeys(userId: string): Promise<KeyInfo[]>
  /** Deletes one of the user's keys by id or full key; null if the user has no such key. Immediate. */
  deleteKey(userId: string, selector: KeySelector): Promise<KeyInfo | null>
  /** Checks a raw key; never throws for a bad key, only for a store outage. */
  verifyKey(raw: string): Promise<VerifyKeyResult>
  /**
   * Whose a key in hand is (a key reported leaked): its owner, id and dates, expired or not, or
   * null if keyward holds no such key. Unlike verifyKey it is not a use: no last-used time, no
   * `key.used`. Delete it with `deleteKey(info.userId, { id: info.id })`.
   */
  findKey(raw: string): Promise<KeyInfo | null>
  /** Exchanges an API key for an auth token and a refresh token. Throws a KeywardError on a bad key. */
  authenticateWithApiKey(raw: string, context?: RequestContext): Promise<ApiKeyAuthentication>
  /** The host's own login: the same token pair as the API-key exchange, with no key behind it. */
  issueTokens(userId: string): Promise<TokenPair>
  /** Rotates a refresh token. A token presented twice revokes its whole chain. */
  refreshTokens(refreshToken: string, context?: RequestContext): Promise<TokenPair>
  /**
   * Ends every session of the user (sign out everywhere, a compromised account): no refresh token
   * the user holds rotates again. Auth tokens already issued live out `authTokenLifetime`; those
   * of a session started from an API key end with the key (`deleteKey`).
   */
  endSessions(userId: string): Promise<void>
  /** Starts TOTP enrolment: a pending secret, confirmed by verifyTotp within 24 hours (then it expires). */
  generateTotpKey(userId: string): Promise<TotpEnrollment>
  /** Checks a TOTP code; the first valid one enables TOTP. A code is accepted at most once. */
  verifyTotp(userId: string, code: unknown, context?: RequestContext): Promise<void>
  /**
   * Whether the user has confirmed a TOTP second factor: a host's own login asks this, then takes a
   * code with verifyTotp before issuing tokens. A pending enrolment is not enabled.
   */
  totpEnabled(userId: string): Promise<boolean>
  /** Removes a user's TOTP enrolment (for the host's account recovery). */
  resetTotp(userId: string): Promise<void>
  /** The guard: X-Api-Key or Authorization: Bearer (API key or auth token). */
  authenticate(request: GuardRequest, options?: AuthenticateOptions): Promise<AuthResult>
  /**
   * The guard for adapters: the principal, or the complete error response to send. It answers
   * synchronously when everything it needs is in memory (a warm key or token) and with a
   * promise otherwise; `await` works either way. Never rejects: failures are responses.
   */
  guard(request: GuardRequest, options?: AuthenticateOptions): MaybePromise<GuardOutcome>
  /**
   * The guard's warm path, for adapters to try before `guard` with Node's request itself
   * (`http.IncomingMessage`): the principal when the request can be admitted from memory at once
   * (a keep-alive client's key or token, known and still current); undefined when `guard` must
   * decide. It never refuses: every failure is `guard`'s to answer.
   */
  admitFromMemory(request: NodeRequest, options?: AuthenticateOptions): Principal | undefined
  /** Serves keyward's routes; undefined when the path is not one of them. */
  handle(request: HttpRequest): Promise<HttpResponse | undefined>
  /** Whether a path is one of keyward's routes (any method). */
  owns(path: string): boolean
  /**
   * For a readiness probe: whether the store answers a read within `storeTimeout` (`ok`), and
   * whether deletions on other instances reach this one (`events`). It writes nothing and sends
   * no event. A channel not `listening` leaves `ok` as it is: revocation elsewhere is then bounded
   * by `cache.ttl`, and taking every instance out of service for it would be the greater outage.
   */
  health(): Promise<KeywardHealth>
  /** Writes pending last-used times now. */
  flushUsage(): Promise<void>
  /**
   * Flushes usage, stops timers and subscriptions, and waits for a prune in flight (stopped at its
   * next step); then the store's client is the host's to close. Stop taking requests first: a call
   * still in flight, or made after, still uses the store, and its last use is not written. Called
   * again, it writes what is pending and stops nothing twice.
   */
  close(): Promise<void>
  /** Mount prefix and body limit, for adapters. */
  readonly basePath: string
  readonly bodyLimit: number
}

/** What the HTTP handler needs beyond the public API. */
export interface KeywardInternals extends Keyward {
  /** `userId` keys the enrolment (the principal's id); `user` names it in the authenticator app. */
  generateTotpKeyFor(userId: string, user: KeywardUser): Promise<TotpEnrollment>
  /** The response for anything thrown while answering a request; a 5xx is reported to onEvent. */
  answerThrown(error: unknown): HttpResponse
}

const toOutcome = (result: AuthResult): GuardOutcome =>
  result.ok
    ? { ok: true, auth: result.principal }
    : { ok: false, response: authFailureResponse(result.failure) }

const withoutDigest = ({ digest: _digest, ...info }: ApiKeyRecord): KeyInfo => info

const failureError = (code: FailureCode) =>
  new KeywardError(code, PRESENTATION[code].message ?? PRESENTATION[code].error)

/**
 * jose signs and verifies tokens with the global Web Crypto API, and otplib draws TOTP secrets from
 * it. Node 20 has it unless run with --no-experimental-global-webcrypto: then every exchange and
 * enrolment would fail, found only at request time.
 */
function requireWebCrypto(): void {
  const webCrypto = (globalThis as { crypto?: { subtle?: { sign?: unknown }; getRandomValues?: unknown } })
    .crypto
  if (typeof webCrypto?.subtle?.sign === 'function' && typeof webCrypto.getRandomValues === 'function') return
  throw new Error(
    'keyward: the global Web Crypto API (globalThis.crypto) is missing; Node 20 and later have it unless run with --no-experimental-global-webcrypto',
  )
}

/** Creates the engine. Options are checked here: bad configuration throws now, not at request time. */
export function createKeyward(options: KeywardOptions): Keyward {
  requireWebCrypto()
  const config = resolveOptions(options)
  const { clock, emit } = config
  const store = withDeadline(config.store, config.storeTimeoutMs)
  // What no client may be told is the operator's to see (keyward logs nothing itself).
  const reportError = (
    during: KeywardErrorEvent['during'],
    code: KeywardErrorEvent['code'],
    error: unknown,
  ) => emit?.({ type: 'error', at: new Date(clock()), during, code, error })
  const answerThrown = (error: unknown): HttpResponse => {
    const response = thrownResponse(error)
    if (error instanceof StoreUnavailableError) reportError('request', 'STORE_UNAVAILABLE', error.cause)
    else if (response.status >= 500) reportError('request', 'INTERNAL', error)
    return response
  }
  const failedOutcome = (error: unknown): GuardOutcome => ({ ok: false, response: answerThrown(error) })
  const storeFailed = (during: KeywardErrorEvent['during']) => (error: unknown) =>
    reportError(during, 'STORE_UNAVAILABLE', error)
  const format = keyFormat(config.keyPrefix, config.previousKeyPrefixes)
  const cache = new KeyCache(config.cacheMax, config.cacheTtlMs)
  const usage = new UsageRecorder(store, clock, config.lastUsedResolutionMs, storeFailed('last-used'))
  const keys = new KeyService(
    store,
    format,
    cache,
    usage,
    clock,
    config.keyLifetime,
    config.maxKeysPerUser,
    emit,
  )
  const authTokens = new AuthTokens({
    secret: config.jwtSecret,
    previousSecrets: config.previousJwtSecrets,
    issuer: config.issuer,
    audience: config.audience,
    lifetimeMs: config.authTokenLifetimeMs,
    cacheMax: config.cacheMax,
  })
  const tokens = new TokenService(
    store,
    authTokens,
    clock,
    config.refreshTokenLifetime,
    config.sessionLifetime,
    emit,
  )
  const limiter = new RateLimiter(store, clock, config.rateLimit, storeFailed('rate-limit'))
  // The guard asks nothing of a limiter that blocks no address (one check less per request).
  const addressLimiter = config.rateLimit.perAddress === false ? undefined : limiter
  // A configured key also opens what the keys derived from jwtSecret (and from the secrets it
  // replaced) sealed before it was set.
  const derivedKey = totpKeyDerivedFrom(config.jwtSecret)
  const derivedPreviousKeys = config.previousJwtSecrets.map(totpKeyDerivedFrom)
  const box = config.totpEncryptionKey
    ? new SecretBox(config.totpEncryptionKey, [
        ...config.totpPreviousKeys,
        derivedKey,
        ...derivedPreviousKeys,
      ])
    : new SecretBox(derivedKey, [...derivedPreviousKeys, ...config.totpPreviousKeys])
  const totp = new TotpService(store, box, limiter, clock, config.totpIssuer, emit)

  // The host's directory may answer synchronously (no promise on the hot path) or not; if it
  // fails, keyward fails closed exactly as for a store outage. Any falsy answer is no user, as
  // null is: a plain-JS `has(id) && get(id)` answers `false` for a user deleted.
  const loadUser = (userId: string): MaybePromise<KeywardUser | null> => {
    let found: ReturnType<UserDirectory['get']>
    try {
      found = config.users.get(userId)
    } catch (error) {
      throw new StoreUnavailableError(error)
    }
    if (!isPromiseLike(found)) return found || null
    return Promise.resolve(found).then(
      (user) => user || null,
      (error: unknown) => {
        throw new StoreUnavailableError(error)
      },
    )
  }
  const requireUser = async (userId: string): Promise<KeywardUser> => {
    const user = await loadUser(userId)
    if (user === null) throw failureError('USER_GONE')
    return user
  }
  const authenticator = new Authenticator(
    keys,
    authTokens,
    loadUser,
    addressLimiter,
    clock,
    config.keyPrefix,
    emit,
  )
  const warmPath = new WarmPath(keys, authTokens, config.users, addressLimiter, clock, config.keyPrefix)

  // Deletions on other instances reach this one through the store's channel.
  const channel = new EventChannel(store)
  const subscribeFailed = storeFailed('subscribe')
  const unsubscribe = subscribeWithRetry(
    store,
    (event) => {
      if (event.type === 'key.deleted') cache.evict(event.keyId, event.digest)
    },
    (error) => {
      channel.troubled()
      subscribeFailed(error)
    },
    () => {
      channel.listening()
      cache.eventsMissed()
    },
  )

  const stopPruning = schedulePruning(store, clock, storeFailed('prune'))

  const throwIfAddressBlocked = (ip: string | undefined) => {
    const limited = limiter.addressBlocked(ip, clock())
    if (limited) {
      throw new KeywardError('RATE_LIMITED', PRESENTATION.RATE_LIMITED.message as string, {
        retryAfter: limited.retryAfter,
        rateLimit: limited,
      })
    }
  }

  const engine: KeywardInternals = {
    basePath: config.basePath,
    bodyLimit: config.bodyLimit,

    async issueKey(userId, { name }) {
      const { key, record } = await keys.issue(userId, name)
      return { ...withoutDigest(record), key }
    },

    async listKeys(userId) {
      return (await keys.list(userId)).map(withoutDigest)
    },

    async deleteKey(userId, selector) {
      const record = await keys.delete(userId, selector)
      return record === null ? null : withoutDigest(record)
    },

    async findKey(raw) {
      const record = await keys.find(raw)
      return record === null ? null : withoutDigest(record)
    },

    async verifyKey(raw) {
      const result = await authenticator.byApiKey(raw, clock())
      return result.ok ? result : { ok: false, code: result.failure.code as KeyFailureCode }
    },

    async authenticateWithApiKey(raw, context) {
      throwIfAddressBlocked(context?.ip)
      const result = await authenticator.byApiKey(raw, clock())
      if (!result.ok) {
        await authenticator.failed(result.failure, context?.ip)
        throw failureError(result.failure.code)
      }
      const { principal } = result
      const [pair, totpEnabled] = await Promise.all([
        tokens.issuePair(principal.userId, principal.keyId),
        totp.enabled(principal.userId),
      ])
      return { ...pair, passkey_enabled: principal.user.passkeyEnabled === true, totp_enabled: totpEnabled }
    },

    async issueTokens(userId) {
      await requireUser(userId)
      return tokens.issuePair(userId, null)
    },

    async refreshTokens(refreshToken, context) {
      throwIfAddressBlocked(context?.ip)
      try {
        return await tokens.refresh(
          refreshToken,
          context?.ip,

          async (keyId) => keys.checkById(keyId, clock()),
          async (userId) => (await loadUser(userId)) !== null,
        )
      } catch (error) {
        if (error instanceof KeywardError && error.code !== 'STORE_UNAVAILABLE')
          await limiter.addressFailed(context?.ip)
        throw error
      }
    },

    async generateTotpKey(userId) {
      return totp.generate(userId, await requireUser(userId))
    },

    endSessions: (userId) => tokens.endSessions(userId),

    generateTotpKeyFor: (userId, user) => totp.generate(userId, user),

    verifyTotp: (userId, code, context) => totp.verify(userId, code, context?.ip),

    totpEnabled: (userId) => totp.enabled(userId),

    resetTotp: (userId) => totp.reset(userId),

    authenticate: (request, guardOptions) => authenticator.authenticate(request, guardOptions),

    admitFromMemory: (request, guardOptions) => warmPath.admit(request, guardOptions?.permissions),

    guard(request, guardOptions) {
      let result: MaybePromise<AuthResult>
      try {
        result = authenticator.check(request, guardOptions)
      } catch (error) {
        return failedOutcome(error)
      }
      return isPromiseLike(result)
        ? Promise.resolve(result).then(toOutcome, failedOutcome)
        : toOutcome(result)
    },

    handle: (request) => http.handle(request),

    answerThrown,

    owns: (path) => http.owns(path),

    health: () => checkHealth(store, channel),

    flushUsage: () => usage.flush(),

    async close() {
      usage.close()
      await Promise.allSettled([usage.flush().catch(storeFailed('last-used')), unsubscribe(), stopPruning()])
    },
  }
  const http = new HttpHandler(engine, authenticator, config.basePath, config.bodyLimit, config.baseUrl)
  return engine
}
