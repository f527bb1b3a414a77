import type { NodeRequest } from '../http/types.js'
import type { KeyService } from '../keys/key-service.js'
import type { Clock } from '../lib/clock.js'
import { isPromiseLike } from '../lib/maybe-promise.js'
import type { RateLimiter } from '../limits/rate-limiter.js'
import type { AuthTokens } from '../tokens/auth-token.js'
import type { KeywardUser, Principal, UserDirectory } from '../users.js'
import { BEARER_VALUE_START, plainBearerLine } from './credentials.js'
import { hasAll, keyPrincipal, tokenPrincipal } from './principal.js'

/**
 * The guard's warm path, which adapters try before the full one (Authenticator.check): the request
 * of a keep-alive client whose credential is already known in memory. An API key is the one its
 * connection verified last (KeyService.remembered), an auth token one the token cache holds
 * (AuthTokens.cached); either's key still current in the key cache; its user answered by the
 * host's directory without a promise, with every permission the route requires; no address
 * blocked. It then does what the full path does (records a key's use, builds the principal) in
 * one step: no digest, no lookup beyond the connection's, no result objects, no promise.
 *
 * Anything else answers undefined and the full path decides, every failure included: this path
 * only ever admits what the full path would admit, with the same principal (the tests run both
 * on the same requests). Written apart from the full path because the guard runs on every request
 * of the host's server, whose own work between two requests evicts the guard's code and data from
 * the CPU's caches: there each layer and each object read costs more than in a loop. So this path
 * reads as few objects as it can: X-Api-Key from Node's parsed headers (a property, where the full
 * path scans the raw lines), the cache entry's own fields, the host's directory directly
 * (docs/bench, ninth and tenth passes).
 */
export class WarmPath {
  /** Set once the host's directory answered with a promise: this path answers only from memory. */
  #usersWait = false

  constructor(
    private readonly keys: KeyService,
    private readonly tokens: AuthTokens,
    private readonly users: UserDirectory,
    private readonly limiter: RateLimiter | undefined,
    private readonly clock: Clock,
    private readonly keyPrefix: string,
  ) {}

  admit(request: NodeRequest, required: readonly string[] | undefined): Principal | undefined {
    if (this.#usersWait) return undefined
    const { headers } = request
    // X-Api-Key sent twice reaches Node's headers joined ("a, b"): no key matches that, and the
    // full path refuses it. X-Api-Key carries only keys, so it never goes to the token cache.
    const apiKey = headers['x-api-key']
    if (apiKey !== undefined)
      return typeof apiKey === 'string' ? this.#byKey(apiKey, request, required) : undefined
    // Node keeps only the first of repeated Authorization headers: the raw lines tell.
    if (headers.authorization === undefined) return undefined
    const line = plainBearerLine(request.rawHeaders)
    if (line === undefined) return undefined
    return line.startsWith(this.keyPrefix, BEARER_VALUE_START)
      ? this.#byKey(line.slice(BEARER_VALUE_START), request, required)
      : this.#byToken(line, required)
  }

  #byKey(raw: string, request: NodeRequest, required: readonly string[] | undefined): Principal | undefined {
    const now = this.clock()
    const entry = this.keys.remembered(raw, request.socket ?? undefined, now)
    if (entry === undefined || this.#blocked(now)) return undefined
    const user = this.#userAtOnce(entry.userId, required)
    if (user === undefined) return undefined
    this.keys.used(entry, now)
    return keyPrincipal(entry.keyId, user)
  }

  /** The token in a plain `Bearer <token>` line, which the token cache compares whole. */
  #byToken(bearerLine: string, required: readonly string[] | undefined): Principal | undefined {
    const now = this.clock()
    const token = this.tokens.cachedFor(bearerLine, now)
    if (token === undefined || this.#blocked(now)) return undefined
    const { sub, keyId } = token.claims
    if (keyId !== null && !this.keys.linkHolds(token, now)) return undefined
    const user = this.#userAtOnce(sub, required)
    return user === undefined ? undefined : tokenPrincipal(user, keyId)
  }

  /** A blocked address is answered by the full path, which reads the address. */
  #blocked(now: number): boolean {
    return this.limiter?.mayBlock(now) === true
  }

  /**
   * The user, if the directory answers at once with one who holds every permission required.
   * A user gone, a permission missing or a directory failure is left to the full path, which asks
   * again and answers it (401, 403, 503). A promise is left too, and from then on the directory is
   * taken to be asynchronous and not asked here again, so that it is asked twice only once.
   */
  #userAtOnce(userId: string, required: readonly string[] | undefined): KeywardUser | undefined {
    let user: ReturnType<UserDirectory['get']>
    try {
      user = this.users.get(userId)
    } catch {
      return undefined
    }
    if (isPromiseLike(user)) {
      this.#usersWait = true
      user.catch(() => {})
      return undefined
    }
    if (!user || (required !== undefined && !hasAll(user.permissions, required))) return undefined
    return user
  }
}
