import { randomUUID } from 'node:crypto'
import { type JWTPayload, type JWTVerifyOptions, errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { LRUCache } from 'lru-cache'
import { PLAIN_BEARER } from '../guard/credentials.js'
import type { KeyLink } from '../keys/key-service.js'
import type { MaybePromise } from '../lib/maybe-promise.js'
import { MAX_USER_ID_LENGTH } from '../users.js'

/** RFC 9068 media type for JWT access tokens; checked on verification so no other JWT passes. */
export const AUTH_TOKEN_TYP = 'at+jwt'
const ALGORITHMS = ['HS256']
const HEADER = { alg: 'HS256', typ: AUTH_TOKEN_TYP } as const

/** Characters of base64url for `bytes` bytes, unpadded. */
const base64urlLength = (bytes: number): number => Math.ceil((bytes * 4) / 3)
const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value))

/**
 * The longest token this configuration signs: the longest user id, in characters of three UTF-8
 * bytes each (the most a character of a valid id takes in JSON), with the configured issuer and
 * audience, and times far in the future. Longer strings are not our tokens: refused before any parsing.
 */
function longestToken(issuer: string, audience: string): number {
  const payload = {
    key_id: randomUUID(),
    iss: issuer,
    aud: audience,
    sub: '\u0800'.repeat(MAX_USER_ID_LENGTH),
    iat: 1e12,
    exp: 1e12,
    jti: randomUUID(),
  }
  const signature = base64urlLength(32) // HMAC-SHA-256
  return base64urlLength(jsonBytes(HEADER)) + 1 + base64urlLength(jsonBytes(payload)) + 1 + signature
}

/**
 * A verified token's answer, cached under the end of its signature. The whole token is kept to
 * compare, as the `Authorization` line that carries it plainly: the warm path compares that line,
 * as Node parsed it, with one flat string to another (see `cachedFor`).
 */
interface VerifiedToken {
  readonly bearerLine: string
  readonly check: TokenVerified
}

/**
 * The same for a token and for the line that carries it: the last 12 characters of its signature
 * (about 70 of its bits). Under 13 characters V8 copies a slice into a flat string of its own,
 * where a longer one is a view into the token that a Map hashes and compares in V8's runtime.
 */
const cacheKey = (tokenOrLine: string): string => tokenOrLine.slice(-12)

/**
 * A flat string (join builds one, where `+` builds a rope): V8 compares two flat strings in
 * generated code, and anything else in its runtime, several times slower.
 */
const bearerLineOf = (token: string): string => [PLAIN_BEARER, token].join('')

/** Whether an entry holds exactly this token. */
const holdsToken = (entry: VerifiedToken, token: string): boolean =>
  entry.bearerLine.length === PLAIN_BEARER.length + token.length && entry.bearerLine.endsWith(token)

export interface AuthTokenClaims {
  readonly sub: string
  /** The API key this token came from, or null for a host login. */
  readonly keyId: string | null
  /** Expiry in epoch milliseconds. */
  readonly expiresAt: number
}

/**
 * A token's verified claims, cached with it. The guard keeps the cache entry of the key behind it
 * there for the token's next request (KeyService.checkById).
 */
export interface TokenVerified extends KeyLink {
  readonly ok: true
  readonly claims: AuthTokenClaims
}

export type AuthTokenCheck =
  | TokenVerified
  | { readonly ok: false; readonly code: 'INVALID_TOKEN' | 'TOKEN_EXPIRED' }

export interface AuthTokenConfig {
  /** Signs every token, and verifies. */
  readonly secret: Uint8Array
  /** Verify only: the secrets `secret` replaced, so that the tokens they signed live out their lifetime. */
  readonly previousSecrets: readonly Uint8Array[]
  readonly issuer: string
  readonly audience: string
  readonly lifetimeMs: number
  readonly cacheMax: number
}

/**
 * Signs and verifies auth tokens (HS256, pinned). jose's verify costs tens of microseconds,
 * too much for every request, so verified tokens are cached by their exact string and never
 * served past their own expiry; liveness of the key behind them is checked by the caller.
 */
export class AuthTokens {
  // Keyed by the end of the signature (cacheKey) rather than the whole token (hundreds of
  // characters): a Map lookup hashes a fresh string character by character. The entry holds the
  // whole token, compared before it is trusted, so a clash is only a miss.
  readonly #verified: LRUCache<string, VerifiedToken>
  readonly #maxLength: number
  readonly #verifyingSecrets: readonly Uint8Array[]

  constructor(private readonly config: AuthTokenConfig) {
    this.#verified = new LRUCache({ max: config.cacheMax })
    this.#maxLength = longestToken(config.issuer, config.audience)
    this.#verifyingSecrets = [config.secret, ...config.previousSecrets]
  }

  async sign(
    userId: string,
    keyId: string | null,
    now: number,
  ): Promise<{ token: string; expiresAt: number }> {
    const issuedAt = Math.floor(now / 1000)
    // Never past now + lifetime, and at least a second past now (lifetimes are >= 2s).
    const expiresAt = Math.floor((now + this.config.lifetimeMs) / 1000)
    const token = await new SignJWT({ key_id: keyId })
      .setProtectedHeader(HEADER)
      .setIssuer(this.config.issuer)
      .setAudience(this.config.audience)
      .setSubject(userId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(this.config.secret)
    return { token, expiresAt: expiresAt * 1000 }
  }

  /** A token verified before is answered from the cache, without a promise. */
  verify(token: string, now: number): MaybePromise<AuthTokenCheck> {
    const cached = this.#verifiedEntry(token)
    if (cached !== undefined) {
      if (cached.check.claims.expiresAt > now) return cached.check
      this.#verified.delete(cacheKey(token))
      return { ok: false, code: 'TOKEN_EXPIRED' }
    }
    if (token.length > this.#maxLength) return { ok: false, code: 'INVALID_TOKEN' }
    return this.#verifySignature(token, now)
  }

  /**
   * The warm path's token check: the claims of the token in a plain `Bearer <token>` line (the
   * Authorization value as Node parsed it), if it was verified before and has not expired.
   */
  cachedFor(bearerLine: string, now: number): TokenVerified | undefined {
    const cached = this.#verified.get(cacheKey(bearerLine))
    return cached !== undefined && cached.bearerLine === bearerLine && cached.check.claims.expiresAt > now
      ? cached.check
      : undefined
  }

  /** The cache's entry for exactly this token, if it has one. */
  #verifiedEntry(token: string): VerifiedToken | undefined {
    const cached = this.#verified.get(cacheKey(token))
    return cached !== undefined && holdsToken(cached, token) ? cached : undefined
  }

  async #verifySignature(token: string, now: number): Promise<AuthTokenCheck> {
    try {
      const payload = await this.#signedPayload(token, now)
      const keyId = payload.key_id
      if (typeof payload.sub !== 'string' || (keyId !== null && typeof keyId !== 'string')) {
        return { ok: false, code: 'INVALID_TOKEN' }
      }
      const claims: AuthTokenClaims = { sub: payload.sub, keyId, expiresAt: (payload.exp as number) * 1000 }
      const check: TokenVerified = { ok: true, claims, key: undefined }
      this.#verified.set(cacheKey(token), { bearerLine: bearerLineOf(token), check })
      return check
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { ok: false, code: 'TOKEN_EXPIRED' }
      // Only what jose says of the token refuses it: anything else (no Web Crypto in the runtime)
      // is keyward's failure, a 500 the operator hears of, not the client's wrong token, counted
      // against its address.
      if (error instanceof joseErrors.JOSEError) return { ok: false, code: 'INVALID_TOKEN' }
      throw error
    }
  }

  /**
   * The payload, verified with the current secret or, where that did not make the signature, with
   * each previous one in turn. Everything else (algorithm, claims, expiry) fails at the first.
   */
  async #signedPayload(token: string, now: number): Promise<JWTPayload> {
    const options: JWTVerifyOptions = {
      algorithms: ALGORITHMS,
      issuer: this.config.issuer,
      audience: this.config.audience,
      typ: AUTH_TOKEN_TYP,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'iat', 'exp', 'jti'],
    }
    let failure: unknown
    for (const secret of this.#verifyingSecrets) {
      try {
        return (await jwtVerify(token, secret, options)).payload
      } catch (error) {
        // Only a signature this secret did not make is worth another secret's try.
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) throw error
        failure = error
      }
    }
    throw failure
  }
}
