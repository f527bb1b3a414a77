import { failureResponse, type Keyward, KeywardError, type Principal } from '@keyward/core'
import type { ExampleResponse } from './response.js'
import { checkPassword } from './users.js'

/** No cache may keep a login's answer: it holds tokens (RFC 6749 §5.1, as on keyward's token routes). */
const NO_STORE = { 'cache-control': 'no-store' }

const answer = (status: number, body: unknown): ExampleResponse => ({ status, headers: NO_STORE, body })

const INVALID_REQUEST = failureResponse('INVALID_INPUT', {
  message: 'Send JSON { "username": "...", "password": "..." }',
})
const INVALID_CREDENTIALS = answer(401, {
  error: 'Invalid credentials',
  message: 'Wrong username or password',
})
const TOTP_REQUIRED = answer(401, {
  error: 'TOTP required',
  message:
    'This account has two-factor authentication: send totp_code, the 6-digit code from your authenticator app, with the username and password',
})

/**
 * The host's own login: JSON { username, password } to { data: { auth_token, refresh_token } }.
 * Once the user has enabled TOTP, the password alone is not enough: the body needs a `totp_code`.
 */
export function hostLogin(keyward: Keyward): (body: unknown, ip?: string) => Promise<ExampleResponse> {
  return async (body, ip) => {
    const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    const { username, password } = fields
    if (typeof username !== 'string' || typeof password !== 'string') return INVALID_REQUEST
    // A production login also limits failed attempts per address and per account; this demo's
    // does not (keyward's limiter covers keyward's own routes and TOTP codes only).
    const userId = checkPassword(username, password)
    if (userId === undefined) return INVALID_CREDENTIALS
    try {
      if (await keyward.totpEnabled(userId)) {
        if (fields.totp_code === undefined) return TOTP_REQUIRED
        await keyward.verifyTotp(userId, fields.totp_code, { ip })
      }
      return answer(200, { data: await keyward.issueTokens(userId) })
    } catch (error) {
      if (error instanceof KeywardError) return refusal(error)
      throw error
    }
  }
}

/**
 * Signing out everywhere: every session of the caller's user ends (no refresh token of theirs
 * rotates again), as after a password change or on a device lost. Its auth tokens live out their
 * 15 minutes; its API keys are deleted on their own route.
 */
export function hostLogout(keyward: Keyward): (auth: Principal) => Promise<ExampleResponse> {
  return async (auth) => {
    try {
      await keyward.endSessions(auth.userId)
      return answer(200, { data: { sessions_ended: true } })
    } catch (error) {
      if (error instanceof KeywardError) return refusal(error)
      throw error
    }
  }
}

/**
 * keyward's refusal as its own routes answer it: a wrong or reused code 401, too many 429 with
 * Retry-After, a store outage 503 with Retry-After (never a 500).
 */
function refusal(error: KeywardError): ExampleResponse {
  // verifyTotp names its argument `code`; this login's client sent it as totp_code.
  if (error.code === 'INVALID_INPUT' && error.field === 'code') {
    return failureResponse('INVALID_INPUT', {
      message: 'totp_code must be the 6-digit code from your authenticator app, as a string',
      field: 'totp_code',
    })
  }
  return failureResponse(error.code, {
    message: error.message,
    field: error.field,
    retryAfter: error.retryAfter,
    rateLimit: error.rateLimit,
  })
}
