import type { GuardRequest, HeaderBag } from '../http/types.js'
import { REFRESH_PREFIX } from '../tokens/refresh-token.js'

export type Credential =
  | { readonly kind: 'api_key'; readonly value: string }
  | { readonly kind: 'auth_token'; readonly value: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }

const NONE: Credential = { kind: 'none' }

type HeaderValue = string | string[] | undefined

/**
 * The request's credential: from its raw header lines when the adapter gave them, else its
 * headers. Each is read once: on Express every property read of a request misses V8's caches.
 */
export function credentialOf(request: GuardRequest, keyPrefix: string): Credential {
  const rawHeaders = request.rawHeaders
  return rawHeaders === undefined
    ? readCredential(request.headers ?? {}, keyPrefix)
    : readRawCredential(rawHeaders, keyPrefix)
}

export function readCredential(headers: HeaderBag, keyPrefix: string): Credential {
  return credentialFrom(headers['x-api-key'], headers.authorization, keyPrefix)
}

/**
 * The same from Node's `rawHeaders` (name, value, name, value...). Cheaper where the host never
 * builds `req.headers` (Express), and it sees a repeated Authorization header, which
 * `req.headers` silently drops, so a repeat is refused like a repeated X-Api-Key.
 */
export function readRawCredential(rawHeaders: readonly string[], keyPrefix: string): Credential {
  let apiKey: HeaderValue
  let authorization: HeaderValue
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const value = rawHeaders[i + 1] as string
    if (name.length === 9 && isName(name, 'x-api-key', 'X-Api-Key')) apiKey = added(apiKey, value)
    else if (name.length === 13 && isName(name, 'authorization', 'Authorization'))
      authorization = added(authorization, value)
  }
  return credentialFrom(apiKey, authorization, keyPrefix)
}

/** How a plain Authorization line starts; the token cache keeps tokens in that line too. */
export const PLAIN_BEARER = 'Bearer '

/** Where the value of a plain `Bearer <value>` line starts. */
export const BEARER_VALUE_START = PLAIN_BEARER.length

/**
 * The Authorization value of a request whose headers are plain, read without allocating: sent
 * once, as `Bearer <value>` with nothing to trim around the value, and no X-Api-Key beside it.
 * Answered whole (the value starts at BEARER_VALUE_START): the token cache compares the whole line.
 * Undefined for anything else (a repeat, an empty value, another scheme, other spacing, an
 * X-Api-Key), which only credentialOf reads in full, so the warm path never decides what the full
 * reading would decide otherwise. A value that starts with the key prefix is an API key, as
 * credentialOf reads it; any other is looked up in the token cache, which holds only JWTs
 * (credentialOf reads some values without a dot as keys, which the cache never holds either).
 */
export function plainBearerLine(rawHeaders: readonly string[]): string | undefined {
  let authorization: string | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 9 && isName(name, 'x-api-key', 'X-Api-Key')) return undefined
    if (name.length === 13 && isName(name, 'authorization', 'Authorization')) {
      if (authorization !== undefined) return undefined
      authorization = rawHeaders[i + 1] as string
    }
  }
  if (authorization === undefined || !authorization.startsWith(PLAIN_BEARER)) return undefined
  return isTrimmed(authorization, BEARER_VALUE_START) ? authorization : undefined
}

/** Non-empty from `from` on, with nothing to trim at either end: what trimmed() would hand back as is. */
const isTrimmed = (value: string, from = 0): boolean =>
  value.length > from && value.charCodeAt(from) > 32 && value.charCodeAt(value.length - 1) > 32

/** Header names are case-insensitive; the two usual spellings are matched without allocating. */
const isName = (name: string, lower: string, usual: string): boolean =>
  name === lower || name === usual || name.toLowerCase() === lower

const added = (seen: HeaderValue, value: string): HeaderValue =>
  seen === undefined ? value : [...(typeof seen === 'string' ? [seen] : seen), value]

/**
 * Reads the credential from `X-Api-Key: <key>` or `Authorization: Bearer <key or token>`.
 * X-Api-Key wins when both are sent. A bearer value with the key prefix is an API key; one with
 * a dot (a JWT's three parts) or a refresh token's prefix is taken for an auth token; anything
 * else is an API key too, so that a key mistyped or of another prefix is answered "Invalid API
 * key", not told to refresh a token. Another Authorization scheme is no credential.
 */
function credentialFrom(apiKey: HeaderValue, authorization: HeaderValue, keyPrefix: string): Credential {
  if (apiKey !== undefined) {
    if (typeof apiKey !== 'string') return { kind: 'malformed', reason: 'X-Api-Key must be sent once' }
    if (apiKey === '') return { kind: 'malformed', reason: 'X-Api-Key is empty' }
    return { kind: 'api_key', value: apiKey }
  }
  if (authorization === undefined) return NONE
  if (typeof authorization !== 'string')
    return { kind: 'malformed', reason: 'Authorization must be sent once' }
  if (authorization.length < 6 || !isBearer(authorization)) return NONE
  if (authorization.length === 6) return { kind: 'malformed', reason: 'Bearer needs a key or token' }
  if (authorization.charCodeAt(6) !== 32) return NONE
  const value = trimmed(authorization.slice(7))
  if (value === '') return { kind: 'malformed', reason: 'Bearer needs a key or token' }
  return value.startsWith(keyPrefix) || !(value.includes('.') || value.startsWith(REFRESH_PREFIX))
    ? { kind: 'api_key', value }
    : { kind: 'auth_token', value }
}

/** The scheme is case-insensitive; the usual spelling is answered without allocating. */
const isBearer = (authorization: string): boolean =>
  authorization.startsWith('Bearer') || authorization.slice(0, 6).toLowerCase() === 'bearer'

/** trim() only when there is something to trim: it always allocates. */
function trimmed(value: string): string {
  return isTrimmed(value) ? value : value.trim()
}
