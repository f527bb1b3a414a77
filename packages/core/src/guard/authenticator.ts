import type { FailureCode } from '../errors.js'
import type { EventHook } from '../events.js'
import type { GuardRequest } from '../http/types.js'
import type { KeyService } from '../keys/key-service.js'
import type { Clock } from '../lib/clock.js'
import type { Limited, RateLimiter } from '../limits/rate-limiter.js'
import type { AuthTokens } from '../tokens/auth-token.js'
import type { KeywardUser, Principal } from '../users.js'
import { readCredential } from './credentials.js'

export interface Failure {
  readonly code: FailureCode
  /** For MALFORMED_HEADER: what was wrong with the header. */
  readonly reason?: string
  /** For RATE_LIMITED. */
  readonly limited?: Limited
}

export type AuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly failure: Failure }

export interface AuthenticateOptions {
  /** Every one of these permissions is required; a missing one is a 403. */
  readonly permissions?: readonly string[]
}

const fail = (code: FailureCode): AuthResult => ({ ok: false, failure: { code } })

/**
 * The guard's hot path: the cheap rejections first (header shape, blocked address, key
 * format), then one digest and one cache lookup, then the host's user lookup. No store
 * write: last use is batched. A store or user-directory outage rejects (StoreUnavailableError).
 */
export class Authenticator {
  constructor(
    private readonly keys: KeyService,
    private readonly tokens: AuthTokens,
    private readonly loadUser: (userId: string) => Promise<KeywardUser | null>,
    private readonly limiter: RateLimiter | undefined,
    private readonly clock: Clock,
    private readonly keyPrefix: string,
    private readonly emit: EventHook | undefined,
  ) {}

  async authenticate(request: GuardRequest, options?: AuthenticateOptions): Promise<AuthResult> {
    const credential = readCredential(request.headers, this.keyPrefix)
    if (credential.kind === 'none') return fail('MISSING_CREDENTIALS')
    if (credential.kind === 'malformed')
      return { ok: false, failure: { code: 'MALFORMED_HEADER', reason: credential.reason } }
    const now = this.clock()
    const limited = this.limiter?.addressBlocked(request.ip, now)
    if (limited) return { ok: false, failure: { code: 'RATE_LIMITED', limited } }

    const result =
      credential.kind === 'api_key'
        ? await this.#byApiKey(credential.value, now)
        : await this.#byAuthToken(credential.value, now)
    if (!result.ok) {
      await this.failed(result.failure.code, request.ip)
      return result
    }
    const required = options?.permissions
    if (required !== undefined && !hasAll(result.principal.permissions, required)) return fail('FORBIDDEN')
    return result
  }

  /** Counts a failed credential towards the address limit and reports it. */
  async failed(code: FailureCode, ip: string | undefined): Promise<void> {
    this.emit?.({ type: 'auth.failed', at: new Date(this.clock()), code, ip })
    await this.limiter?.addressFailed(ip)
  }

  async #byApiKey(raw: string, now: number): Promise<AuthResult> {
    const check = await this.keys.check(raw, now)
    if (!check.ok) return fail(check.code)
    const user = await this.loadUser(check.record.userId)
    if (user === null) return fail('USER_GONE')
    this.keys.used(check.record, now)
    return {
      ok: true,
      principal: {
        userId: user.id,
        keyId: check.record.id,
        permissions: user.permissions,
        credential: 'api_key',
        user,
      },
    }
  }

  async #byAuthToken(raw: string, now: number): Promise<AuthResult> {
    const check = await this.tokens.verify(raw, now)
    if (!check.ok) return fail(check.code)
    const { sub, keyId } = check.claims
    if (keyId !== null && (await this.keys.checkById(keyId, now)) === undefined) return fail('INVALID_TOKEN')
    const user = await this.loadUser(sub)
    if (user === null) return fail('USER_GONE')
    return {
      ok: true,
      principal: { userId: user.id, keyId, permissions: user.permissions, credential: 'auth_token', user },
    }
  }
}

function hasAll(granted: readonly string[], required: readonly string[]): boolean {
  for (const permission of required) if (!granted.includes(permission)) return false
  return true
}
