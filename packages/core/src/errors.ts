/**
 * Every code keyward reports, in one naming scheme. Credential failures are returned as
 * typed results on the hot path; everything else is thrown as a KeywardError.
 */
export type FailureCode =
  | 'MISSING_CREDENTIALS'
  | 'MALFORMED_HEADER'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'EXPIRED'
  | 'USER_GONE'
  | 'INVALID_TOKEN'
  | 'TOKEN_EXPIRED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'

export type ErrorCode =
  | FailureCode
  | 'INVALID_INPUT'
  | 'MALFORMED_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'METHOD_NOT_ALLOWED'
  | 'KEY_NOT_FOUND'
  | 'KEY_LIMIT_REACHED'
  | 'INVALID_REFRESH_TOKEN'
  | 'REFRESH_TOKEN_REUSED'
  | 'TOTP_NOT_PENDING'
  | 'TOTP_ALREADY_ENABLED'
  | 'INVALID_TOTP_CODE'
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL'

/** Base class: a stable `code` for programs, a message for people. Never carries a secret. */
export class KeywardError extends Error {
  readonly code: ErrorCode
  /** The request field at fault, for INVALID_INPUT. */
  readonly field: string | undefined
  /** Seconds until a retry may succeed, for RATE_LIMITED. */
  readonly retryAfter: number | undefined
  /** The limit that was hit, for RATE_LIMITED (RateLimit-Policy header). */
  readonly rateLimit: { readonly limit: number; readonly windowSeconds: number } | undefined

  constructor(
    code: ErrorCode,
    message: string,
    extra: {
      field?: string
      retryAfter?: number
      rateLimit?: { readonly limit: number; readonly windowSeconds: number }
      cause?: unknown
    } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause })
    this.name = new.target.name
    this.code = code
    this.field = extra.field
    this.retryAfter = extra.retryAfter
    this.rateLimit = extra.rateLimit
  }
}

/** The store could not be reached or failed: keyward fails closed and answers 503. */
export class StoreUnavailableError extends KeywardError {
  constructor(cause: unknown) {
    super('STORE_UNAVAILABLE', 'The key store is unavailable', { cause })
  }
}

/**
 * Bad configuration, thrown as it is given: by createKeyward, a store's factory, an adapter's
 * registration or a guard's declaration. One exception: on Fastify, a route declared before the
 * plugin loaded, with a `config.keyward` it cannot read, gets it at each request instead (a 500).
 */
export class KeywardConfigError extends TypeError {
  readonly code = 'INVALID_OPTION' as const
  readonly option: string

  constructor(option: string, message: string) {
    super(`keyward: option "${option}" ${message}`)
    this.name = 'KeywardConfigError'
    this.option = option
  }
}

/** A refused option value as its error shows it: a string quoted, NaN as NaN, a function named so. */
export const shownValue = (value: unknown): string =>
  typeof value === 'function'
    ? 'a function'
    : typeof value === 'number' || value === undefined
      ? String(value)
      : (JSON.stringify(value) ?? String(value))

export const isKeywardError = (error: unknown): error is KeywardError => error instanceof KeywardError
