import type { KeyService } from '../keys/key-service.js'
import type { Clock } from '../lib/clock.js'
import { isPromiseLike, type MaybePromise } from '../lib/maybe-promise.js'
import type { RateLimiter } from '../limits/rate-limiter.js'
import type { AuthTokens } from '../tokens/auth-token.js'
import type { KeywardUser, Principal } from '../users.js'
import { plainCredential } from './credentials.js'
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
 * the CPU's caches: there each layer and object costs more than in a loop, and this one short
 * step took about 1.5 points off the Fastify guard's price side by side (docs/bench, ninth pass).
 */
export class WarmPath {
  /** Set once the host's directory answered with a promise: this path answers only from memory. */
  #usersWait = false

  constructor(
    private readonly keys: KeyService,
    private readonly tokens: AuthTokens,
    private readonly loadUser: (userId: string) => MaybePromise<KeywardUser | null>,
    private readonly limiter: RateLimiter | undefined,
    private readonly clock: Clock,
    private readonly keyPrefix: string,
  ) {}

  admit(
    rawHeaders: readonly string[],
    connection: object | undefined,
    required: readonly string[] | undefined,
  ): Principal | undefined {
    // A blocked address is answered by the full path, which reads the address.
    if (this.#usersWait || this.limiter?.blocking) return undefined
    const raw = plainCredential(rawHeaders, this.keyPrefix)
    if (raw === undefined) return undefined
    const now = this.clock()
    return raw.startsWith(this.keyPrefix)
      ? this.#byKey(raw, connection, now, required)
      : this.#byToken(raw, now, required)
  }

  #byKey(
    raw: string,
    connection: object | undefined,
    now: number,
    required: readonly string[] | undefined,
  ): Principal | undefined {
    const entry = this.keys.remembered(raw, connection, now)
    if (entry === undefined) return undefined
    const user = this.#userAtOnce(entry.record.userId, required)
    if (user === undefined) return undefined
    this.keys.used(entry, now)
    return keyPrincipal(entry.record, user)
  }

  #byToken(raw: string, now: number, required: readonly string[] | undefined): Principal | undefined {
    const token = this.tokens.cached(raw, now)
    if (token === undefined) return undefined
    const { sub, keyId } = token.claims
    if (keyId !== null && !this.keys.linkHolds(token, now)) return undefined
    const user = this.#userAtOnce(sub, required)
    return user === undefined ? undefined : tokenPrincipal(user, keyId)
  }

  /**
   * The user, if the directory answers at once with one who holds every permission required.
   * A user gone, a permission missing or a directory failure is left to the full path, which asks
   * again and answers it (401, 403, 503). A promise is left too, and from then on the directory is
   * taken to be asynchronous and not asked here again, so that it is asked twice only once.
   */
  #userAtOnce(userId: string, required: readonly string[] | undefined): KeywardUser | undefined {
    let user: MaybePromise<KeywardUser | null>
    try {
      user = this.loadUser(userId)
    } catch {
      return undefined
    }
    if (isPromiseLike(user)) {
      this.#usersWait = true
      user.catch(() => {})
      return undefined
    }
    if (user === null || (required !== undefined && !hasAll(user.permissions, required))) return undefined
    return user
  }
}
