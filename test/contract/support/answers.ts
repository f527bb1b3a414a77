/**
 * The bodies keyward answers refused credentials with, written out once, as a client reads
 * them: the tests pin these exact texts rather than reading them from the code they check.
 */
export const INVALID_KEY = { error: 'Invalid API key', message: 'The provided API key is invalid or expired' }

export const INVALID_TOKEN = {
  error: 'Invalid auth token',
  message: 'The provided auth token is invalid or expired. Refresh it or exchange your API key again',
}

export const INVALID_REFRESH = {
  error: 'Invalid refresh token',
  message: 'The refresh token is invalid or expired. Sign in again',
}

export const REUSED_REFRESH = {
  error: 'Invalid refresh token',
  message: 'This refresh token was already used; its session has been revoked. Sign in again',
}
