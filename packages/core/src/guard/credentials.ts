import type { HeaderBag } from '../http/types.js'

export type Credential =
  | { readonly kind: 'api_key'; readonly value: string }
  | { readonly kind: 'auth_token'; readonly value: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }

const NONE: Credential = { kind: 'none' }

/**
 * Reads the credential from `X-Api-Key: <key>` or `Authorization: Bearer <key or token>`.
 * X-Api-Key wins when both are sent. A bearer value that starts with the key prefix is an API
 * key; anything else is taken for an auth token. Another Authorization scheme is no credential.
 */
export function readCredential(headers: HeaderBag, keyPrefix: string): Credential {
  const apiKey = headers['x-api-key']
  if (apiKey !== undefined) {
    if (typeof apiKey !== 'string') return { kind: 'malformed', reason: 'X-Api-Key must be sent once' }
    if (apiKey === '') return { kind: 'malformed', reason: 'X-Api-Key is empty' }
    return { kind: 'api_key', value: apiKey }
  }
  const authorization = headers.authorization
  if (authorization === undefined) return NONE
  if (typeof authorization !== 'string')
    return { kind: 'malformed', reason: 'Authorization must be sent once' }
  if (authorization.length < 6 || !isBearer(authorization)) return NONE
  if (authorization.length === 6) return { kind: 'malformed', reason: 'Bearer needs a key or token' }
  if (authorization.charCodeAt(6) !== 32) return NONE
  const value = trimmed(authorization.slice(7))
  if (value === '') return { kind: 'malformed', reason: 'Bearer needs a key or token' }
  return value.startsWith(keyPrefix) ? { kind: 'api_key', value } : { kind: 'auth_token', value }
}

/** The scheme is case-insensitive; the usual spelling is answered without allocating. */
const isBearer = (authorization: string): boolean =>
  authorization.startsWith('Bearer') || authorization.slice(0, 6).toLowerCase() === 'bearer'

/** trim() only when there is something to trim: it always allocates. */
function trimmed(value: string): string {
  const last = value.length - 1
  return last >= 0 && value.charCodeAt(0) > 32 && value.charCodeAt(last) > 32 ? value : value.trim()
}
