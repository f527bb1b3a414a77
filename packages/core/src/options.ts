import { KeywardConfigError } from './errors.js'
import type { KeywardEvent } from './events.js'
import { type EventHook, safeEmitter } from './events.js'
import { KEY_PREFIX_PATTERN } from './keys/key-format.js'
import { type Clock, systemClock } from './lib/clock.js'
import { type Duration, type DurationInput, durationUpperBoundMs } from './lib/duration.js'
import {
  cacheEntries,
  checkStore,
  duration,
  fixedMs,
  group,
  isEpochMsClock,
  isHttpUrl,
  keyList,
  nonEmpty,
  positiveInteger,
  sealingKey,
  signingSecret,
} from './option-values.js'
import { memoryStore } from './store/memory-store.js'
import type { KeyStore } from './store/types.js'
import { REFRESH_PREFIX } from './tokens/refresh-token.js'
import type { UserDirectory } from './users.js'

export interface RateLimitOptions {
  /** Failed attempts one client address may make per window. Default 60 per minute. */
  readonly perAddress?:
    | { readonly max?: number | undefined; readonly window?: DurationInput | undefined }
    | false
    | undefined
  /** Consecutive failures on one account before it is locked for `lockout`. Default 100 (NIST SP 800-63B). */
  readonly perAccount?:
    | { readonly max?: number | undefined; readonly lockout?: DurationInput | undefined }
    | false
    | undefined
  /** Wrong TOTP codes per account before a delay that doubles with each further failure. Default 5. */
  readonly totp?:
    | { readonly max?: number | undefined; readonly baseDelay?: DurationInput | undefined }
    | undefined
}

export interface KeywardOptions {
  /** HMAC secret for auth tokens (HS256), at least 32 bytes. */
  readonly jwtSecret: string | Uint8Array
  /**
   * Secrets `jwtSecret` replaced (at least 32 bytes each): auth tokens they signed still verify
   * until they expire, and they sign nothing. What the TOTP keys derived from them sealed (with no
   * `totp.encryptionKey`) still opens. Never list a secret that leaked: it would verify what its
   * holder signs.
   */
  readonly previousJwtSecrets?: ReadonlyArray<string | Uint8Array> | undefined
  /** The host's user directory. */
  readonly users: UserDirectory
  /** Where keys, refresh tokens and TOTP state live. Default: in memory. */
  readonly store?: KeyStore | undefined
  /**
   * How long a request waits for one store call before it fails closed (503). Default `5s`;
   * `false` for no bound. The driver's own timeouts end the call itself (see the store READMEs).
   */
  readonly storeTimeout?: DurationInput | false | undefined
  /** Default `ms-`. */
  readonly keyPrefix?: string | undefined
  /**
   * After a change of `keyPrefix`, the prefixes it replaced: keys issued with them still verify,
   * are found and deleted by the full key, and new keys take `keyPrefix` alone. Across several
   * instances, list the next prefix here first, everywhere, as with `previousJwtSecrets`.
   */
  readonly previousKeyPrefixes?: readonly string[] | undefined
  /** Default `3mo` (calendar months). Every lifetime is at most 100 years. */
  readonly keyLifetime?: DurationInput | undefined
  /** Unexpired API keys one user may hold; issuing one more is refused (409). Default 100; `false` for no bound. */
  readonly maxKeysPerUser?: number | false | undefined
  /** Default `15m`; at least `2s` (a JWT's exp counts whole seconds, rounded down). */
  readonly authTokenLifetime?: DurationInput | undefined
  /** Default `30d`: a session not refreshed for that long ends. */
  readonly refreshTokenLifetime?: DurationInput | undefined
  /**
   * How long a session may last from its first token, however often it is refreshed; then its
   * user signs in (or exchanges a key) again. Default `1y`; `false` for no bound.
   */
  readonly sessionLifetime?: DurationInput | false | undefined
  /** JWT `iss` and `aud`. Default `keyward` for both. */
  readonly issuer?: string | undefined
  readonly audience?: string | undefined
  readonly cache?:
    | {
        /** Entries in each verification cache. Default 10,000; at most 1,000,000. */
        readonly max?: number | undefined
        /** How long a verified key may be served from cache without asking the store. Default `30s`. */
        readonly ttl?: DurationInput | undefined
      }
    | undefined
  /** How often last_used_on is written, batched. Default `1m`; at most `24d` (a timer's limit). */
  readonly lastUsedResolution?: DurationInput | undefined
  readonly totp?:
    | {
        /** The issuer shown in authenticator apps, without ":" (it ends the issuer in the label). Default `keyward`. */
        readonly issuer?: string | undefined
        /** 32-byte key that seals TOTP secrets at rest (AES-256-GCM). Default: derived from jwtSecret. */
        readonly encryptionKey?: string | Uint8Array | undefined
        /**
         * Keys TOTP secrets were sealed with before a rotation (32 bytes each): they still open what
         * they sealed, and seal nothing. An enrolment is sealed again with `encryptionKey` as it accepts
         * its next code: keep a key here while enrolments no code was accepted for since remain.
         */
        readonly previousEncryptionKeys?: ReadonlyArray<string | Uint8Array> | undefined
      }
    | undefined
  /** `false` turns off the address and account limits; wrong TOTP codes are always limited. */
  readonly rateLimit?: RateLimitOptions | false | undefined
  /** Mount prefix of the routes, e.g. `/auth`. Default: none. */
  readonly basePath?: string | undefined
  /** Public base URL written into the credentials document. Default: from the request. */
  readonly baseUrl?: string | undefined
  /** Largest JSON body accepted, in bytes. Default 16 KiB. */
  readonly bodyLimit?: number | undefined
  readonly clock?: Clock | undefined
  /** Audit events; called without waiting, and what it throws or rejects with is ignored. */
  readonly onEvent?: ((event: KeywardEvent) => unknown) | undefined
}

export interface ResolvedOptions {
  readonly jwtSecret: Uint8Array
  readonly previousJwtSecrets: readonly Uint8Array[]
  readonly users: UserDirectory
  readonly store: KeyStore
  /** False for no bound. */
  readonly storeTimeoutMs: number | false
  readonly keyPrefix: string
  readonly previousKeyPrefixes: readonly string[]
  readonly keyLifetime: Duration
  /** False for no bound. */
  readonly maxKeysPerUser: number | false
  readonly authTokenLifetimeMs: number
  readonly refreshTokenLifetime: Duration
  /** False for no bound. */
  readonly sessionLifetime: Duration | false
  readonly issuer: string
  readonly audience: string
  readonly cacheMax: number
  readonly cacheTtlMs: number
  readonly lastUsedResolutionMs: number
  readonly totpIssuer: string
  readonly totpEncryptionKey: Uint8Array | undefined
  readonly totpPreviousKeys: readonly Uint8Array[]
  readonly rateLimit: {
    readonly perAddress: { readonly max: number; readonly windowMs: number } | false
    readonly perAccount: { readonly max: number; readonly lockoutMs: number } | false
    readonly totp: { readonly max: number; readonly baseDelayMs: number }
  }
  readonly basePath: string
  readonly baseUrl: string | undefined
  readonly bodyLimit: number
  readonly clock: Clock
  readonly emit: EventHook | undefined
}

/** Every default, in one place. The caller's object is read, never changed. */
export function resolveOptions(options: KeywardOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new KeywardConfigError('options', 'must be an object')
  const jwtSecret = signingSecret('jwtSecret', options.jwtSecret)
  const previousJwtSecrets = keyList('previousJwtSecrets', options.previousJwtSecrets, signingSecret)
  if (typeof options.users?.get !== 'function') {
    throw new KeywardConfigError(
      'users',
      'is required: an object with get(userId) returning the user or null',
    )
  }
  const keyPrefix = options.keyPrefix ?? 'ms-'
  if (typeof keyPrefix !== 'string' || !KEY_PREFIX_PATTERN.test(keyPrefix)) {
    throw new KeywardConfigError('keyPrefix', 'must be 1-16 letters, digits, "_" or "-"')
  }
  const previousKeyPrefixes = previousPrefixes(options.previousKeyPrefixes, keyPrefix)
  if (options.basePath !== undefined && typeof options.basePath !== 'string') {
    throw new KeywardConfigError('basePath', 'must be a path starting with "/"')
  }
  const basePath = (options.basePath ?? '').replace(/\/+$/, '')
  if (basePath !== '' && !/^\/[A-Za-z0-9/_.-]*$/.test(basePath)) {
    throw new KeywardConfigError('basePath', 'must be a path starting with "/"')
  }
  if (options.baseUrl !== undefined && !isHttpUrl(options.baseUrl)) {
    throw new KeywardConfigError('baseUrl', 'must be an absolute http or https URL, as a string')
  }
  // Asked once here: a clock answering a Date passes every arithmetic check but a JWT's, and every
  // exchange would answer 500.
  if (options.clock !== undefined && !isEpochMsClock(options.clock)) {
    throw new KeywardConfigError('clock', 'must be a function returning epoch milliseconds, as Date.now does')
  }
  group('cache', options.cache)
  group('totp', options.totp)
  const encryptionKey = options.totp?.encryptionKey
  const totpEncryptionKey =
    encryptionKey === undefined ? undefined : sealingKey('totp.encryptionKey', encryptionKey)
  const totpPreviousKeys = keyList(
    'totp.previousEncryptionKeys',
    options.totp?.previousEncryptionKeys,
    sealingKey,
  )
  const totpIssuer = nonEmpty('totp.issuer', options.totp?.issuer, 'keyward')
  // The otpauth label is "issuer:account": a colon in the issuer would split it elsewhere.
  if (totpIssuer.includes(':')) throw new KeywardConfigError('totp.issuer', 'must not contain ":"')
  checkStore(options.store)
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new KeywardConfigError('onEvent', 'must be a function')
  }
  const keyLifetime = duration('keyLifetime', options.keyLifetime, '3mo')
  const authTokenLifetimeMs = fixedMs('authTokenLifetime', options.authTokenLifetime, '15m')
  // A JWT's exp counts whole seconds and never passes now + lifetime, so a token lives up to a
  // second less than its lifetime: 1s could mint one that lives a millisecond.
  if (authTokenLifetimeMs < 2_000)
    throw new KeywardConfigError(
      'authTokenLifetime',
      `must be at least 2s (got ${JSON.stringify(options.authTokenLifetime)})`,
    )
  const lastUsedResolutionMs = fixedMs('lastUsedResolution', options.lastUsedResolution, '1m')
  // Its timer cannot wait longer: Node would fire it after 1 ms instead, and write on every use.
  if (lastUsedResolutionMs > 2 ** 31 - 1)
    throw new KeywardConfigError(
      'lastUsedResolution',
      `must be at most 24d (got ${JSON.stringify(options.lastUsedResolution)})`,
    )
  const storeTimeoutMs =
    options.storeTimeout === false ? false : fixedMs('storeTimeout', options.storeTimeout, '5s')
  // A timer cannot wait longer: Node would fire it after 1 ms, failing every call.
  if (storeTimeoutMs !== false && storeTimeoutMs > 2 ** 31 - 1)
    throw new KeywardConfigError(
      'storeTimeout',
      `must be at most 24d, or false (got ${JSON.stringify(options.storeTimeout)})`,
    )
  const refreshTokenLifetime = duration('refreshTokenLifetime', options.refreshTokenLifetime, '30d')
  if (durationUpperBoundMs(refreshTokenLifetime) < authTokenLifetimeMs) {
    throw new KeywardConfigError('refreshTokenLifetime', 'must not be shorter than authTokenLifetime')
  }
  const sessionLifetime =
    options.sessionLifetime === false ? false : duration('sessionLifetime', options.sessionLifetime, '1y')
  if (sessionLifetime !== false && durationUpperBoundMs(sessionLifetime) < authTokenLifetimeMs) {
    throw new KeywardConfigError('sessionLifetime', 'must not be shorter than authTokenLifetime')
  }

  return {
    jwtSecret,
    previousJwtSecrets,
    users: options.users,
    store: options.store ?? memoryStore(),
    storeTimeoutMs,
    keyPrefix,
    previousKeyPrefixes,
    keyLifetime,
    maxKeysPerUser:
      options.maxKeysPerUser === false
        ? false
        : positiveInteger('maxKeysPerUser', options.maxKeysPerUser, 100),
    authTokenLifetimeMs,
    refreshTokenLifetime,
    sessionLifetime,
    issuer: nonEmpty('issuer', options.issuer, 'keyward'),
    audience: nonEmpty('audience', options.audience, 'keyward'),
    cacheMax: cacheEntries(options.cache?.max),
    cacheTtlMs: fixedMs('cache.ttl', options.cache?.ttl, '30s'),
    lastUsedResolutionMs,
    totpIssuer,
    totpEncryptionKey,
    totpPreviousKeys,
    rateLimit: resolveRateLimit(options.rateLimit),
    basePath,
    baseUrl: options.baseUrl?.replace(/\/+$/, ''),
    bodyLimit: positiveInteger('bodyLimit', options.bodyLimit, 16 * 1024),
    clock: options.clock ?? systemClock,
    emit: safeEmitter(options.onEvent),
  }
}

function resolveRateLimit(options: RateLimitOptions | false | undefined): ResolvedOptions['rateLimit'] {
  group('rateLimit', options, true)
  if (options !== undefined && options !== false) {
    group('rateLimit.perAddress', options.perAddress, true)
    group('rateLimit.perAccount', options.perAccount, true)
    group('rateLimit.totp', options.totp)
  }
  // Six digits are guessed in about 333,000 tries: no proxy's limit counts them per account.
  const perAddress = options === false ? false : options?.perAddress
  const perAccount = options === false ? false : options?.perAccount
  const totp = options === false ? undefined : options?.totp
  return {
    perAddress:
      perAddress === false
        ? false
        : {
            max: positiveInteger('rateLimit.perAddress.max', perAddress?.max, 60),
            windowMs: fixedMs('rateLimit.perAddress.window', perAddress?.window, '1m'),
          },
    perAccount:
      perAccount === false
        ? false
        : {
            max: positiveInteger('rateLimit.perAccount.max', perAccount?.max, 100),
            lockoutMs: fixedMs('rateLimit.perAccount.lockout', perAccount?.lockout, '15m'),
          },
    totp: {
      max: positiveInteger('rateLimit.totp.max', totp?.max, 5),
      baseDelayMs: fixedMs('rateLimit.totp.baseDelay', totp?.baseDelay, '30s'),
    },
  }
}

/**
 * The prefixes keys may still carry. One starting with a refresh token's `rt_` is refused: a bearer
 * value so prefixed is read as a token, so no key of it would ever be checked as a key.
 */
function previousPrefixes(values: readonly string[] | undefined, keyPrefix: string): string[] {
  if (values === undefined) return []
  if (!Array.isArray(values))
    throw new KeywardConfigError('previousKeyPrefixes', 'must be an array of prefixes')
  return values.map((value: unknown, index) => {
    const option = `previousKeyPrefixes[${index}]`
    if (typeof value !== 'string' || !KEY_PREFIX_PATTERN.test(value))
      throw new KeywardConfigError(option, 'must be 1-16 letters, digits, "_" or "-"')
    if (value === keyPrefix) throw new KeywardConfigError(option, 'is keyPrefix itself')
    if (value.startsWith(REFRESH_PREFIX))
      throw new KeywardConfigError(
        option,
        `must not start with "${REFRESH_PREFIX}" (a refresh token's prefix)`,
      )
    return value
  })
}
