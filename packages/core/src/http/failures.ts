import type { ErrorCode, KeywardError } from '../errors.js'
import type { HttpResponse } from './types.js'

/** How a failure reads over HTTP: one status, title and message per code, in one table. */
interface Presentation {
  readonly status: number
  readonly error: string
  readonly message?: string
}

const INVALID_KEY: Presentation = {
  status: 401,
  error: 'Invalid API key',
  message: 'The provided API key is invalid or expired',
}
const INVALID_TOKEN: Presentation = {
  status: 401,
  error: 'Invalid auth token',
  message: 'The provided auth token is invalid or expired. Refresh it or exchange your API key again',
}

export const PRESENTATION: Readonly<Record<ErrorCode, Presentation>> = {
  MISSING_CREDENTIALS: {
    status: 401,
    error: 'Unauthorized',
    message: 'Send an API key in the X-Api-Key header, or an API key or auth token as Authorization: Bearer',
  },
  MALFORMED_HEADER: { status: 400, error: 'Bad request' },
  MALFORMED: INVALID_KEY,
  NOT_FOUND: INVALID_KEY,
  EXPIRED: INVALID_KEY,
  USER_GONE: INVALID_KEY,
  INVALID_TOKEN,
  TOKEN_EXPIRED: INVALID_TOKEN,
  FORBIDDEN: {
    status: 403,
    error: 'Insufficient permissions',
    message: "Your API key doesn't have access to this resource",
  },
  RATE_LIMITED: {
    status: 429,
    error: 'Rate limit exceeded',
    message: 'Too many requests. Please try again later',
  },
  INVALID_INPUT: { status: 400, error: 'Invalid request' },
  MALFORMED_JSON: { status: 400, error: 'Malformed JSON', message: 'The request body is not valid JSON' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    error: 'Unsupported media type',
    message: 'Send the request body as application/json',
  },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'Payload too large' },
  METHOD_NOT_ALLOWED: { status: 405, error: 'Method not allowed' },
  KEY_NOT_FOUND: { status: 404, error: 'Not found', message: 'You have no API key with that id or value' },
  KEY_LIMIT_REACHED: { status: 409, error: 'Key limit reached' },
  INVALID_REFRESH_TOKEN: { status: 401, error: 'Invalid refresh token' },
  REFRESH_TOKEN_REUSED: { status: 401, error: 'Invalid refresh token' },
  TOTP_NOT_PENDING: {
    status: 409,
    error: 'No TOTP key',
    message: 'Generate a TOTP key before verifying a code',
  },
  TOTP_ALREADY_ENABLED: { status: 409, error: 'TOTP already enabled' },
  INVALID_TOTP_CODE: {
    status: 401,
    error: 'Invalid TOTP code',
    message: 'The code is wrong, expired or already used',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    error: 'Service unavailable',
    message: 'Authentication is temporarily unavailable. Please retry shortly',
  },
  INTERNAL: { status: 500, error: 'Internal error', message: 'Something went wrong on our side' },
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
} as const

export interface FailureDetails {
  /** Replaces the table's message on a 4xx; a 5xx keeps the table's. */
  readonly message?: string | undefined
  readonly field?: string | undefined
  readonly retryAfter?: number | undefined
  readonly rateLimit?: { readonly limit: number; readonly windowSeconds: number } | undefined
  readonly headers?: Readonly<Record<string, string>>
}

const REALM = 'Bearer realm="keyward"'

function authenticateHeader(code: ErrorCode, description: string | undefined): string | undefined {
  const status = PRESENTATION[code].status
  if (code === 'MALFORMED_HEADER')
    return `${REALM}, error="invalid_request", error_description="${description}"`
  if (code === 'FORBIDDEN') return `${REALM}, error="insufficient_scope"`
  // A wrong TOTP code came with a good credential: invalid_token would tell the client to drop it.
  if (code === 'MISSING_CREDENTIALS' || code === 'INVALID_TOTP_CODE') return REALM
  if (status === 401) return `${REALM}, error="invalid_token"`
  return undefined
}

/**
 * The JSON error response for a code: `{ error, message }`, plus `retry_after` on 429. A 5xx
 * always carries the table's message: what failed on our side is for the error event, not the client.
 */
export function failureResponse(code: ErrorCode, details: FailureDetails = {}): HttpResponse {
  const presentation = PRESENTATION[code]
  const message =
    (presentation.status < 500 ? details.message : undefined) ?? presentation.message ?? presentation.error
  const headers: Record<string, string> = { ...JSON_HEADERS, ...details.headers }
  const challenge = authenticateHeader(code, details.message)
  if (challenge !== undefined) headers['www-authenticate'] = challenge
  const body: Record<string, unknown> = { error: presentation.error, message }
  if (details.field !== undefined) body.field = details.field
  if (code === 'RATE_LIMITED') {
    const retryAfter = details.retryAfter ?? 60
    body.retry_after = retryAfter
    headers['retry-after'] = String(retryAfter)
    if (details.rateLimit) {
      headers['ratelimit-policy'] =
        `"failures";q=${details.rateLimit.limit};w=${details.rateLimit.windowSeconds}`
      headers.ratelimit = `"failures";r=0;t=${retryAfter}`
    }
  }
  if (code === 'STORE_UNAVAILABLE') headers['retry-after'] = '5'
  if (code === 'PAYLOAD_TOO_LARGE') headers.connection = 'close'
  return { status: presentation.status, headers, body }
}

export const errorResponse = (error: KeywardError): HttpResponse =>
  failureResponse(error.code, {
    message: error.message,
    field: error.field,
    retryAfter: error.retryAfter,
    rateLimit: error.rateLimit,
  })

/** Each response has headers of its own: a host adding one (CORS for its caller) adds it to no other. */
export const jsonResponse = (status: number, body: unknown): HttpResponse => ({
  status,
  headers: { ...JSON_HEADERS },
  body,
})
