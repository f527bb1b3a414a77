import { KeywardError } from './errors.js'

/** A user as the host application sees it. keyward does not own users. */
export interface KeywardUser {
  readonly id: string
  readonly email?: string | undefined
  readonly displayName?: string | undefined
  /** The user's permissions now; a key inherits them at every request, not at issue time. */
  readonly permissions: readonly string[]
  readonly passkeyEnabled?: boolean | undefined
}

/**
 * The host's user directory. Return null (any falsy answer counts as none) for a user who no
 * longer exists, and a user whose `id` is the id asked for: keyward keys everything by ids
 * compared exactly, and its routes act as the `id` answered (a directory that canonicalises
 * `Alice` to `alice` should be given `alice` by the host's own calls too). Answer without a
 * promise when the user is in the host's memory (or its own cache): the guard's warm path admits
 * a keep-alive client's known key or token only with a user answered at once, and a directory
 * that answers with a promise puts every request through the full guard, one promise each.
 */
export interface UserDirectory {
  get(userId: string): KeywardUser | null | undefined | Promise<KeywardUser | null | undefined>
}

/** Who made a request, as the guard hands it to the host. */
export interface Principal {
  readonly userId: string
  /** The API key the request came with (directly or through an auth token); null for a host login's tokens. */
  readonly keyId: string | null
  readonly permissions: readonly string[]
  readonly credential: 'api_key' | 'auth_token'
  readonly user: KeywardUser
}

/**
 * The longest user id keyward stores, in UTF-16 code units (JavaScript's string length): 512 of
 * them are at most 1,536 bytes of UTF-8, within PostgreSQL's index row limit.
 */
export const MAX_USER_ID_LENGTH = 512

/**
 * A user id about to be written to the store (with a key, a refresh token or a TOTP secret) or
 * looked up in it by the host's calls. Checked first, so that an id no store can hold is a 400
 * naming it, not a store failure (503) on PostgreSQL alone; and so that a lone surrogate, which
 * the PostgreSQL and Redis drivers send as U+FFFD, cannot name another user's keys.
 */
export function validUserId(userId: unknown): string {
  if (
    typeof userId !== 'string' ||
    userId.length < 1 ||
    userId.length > MAX_USER_ID_LENGTH ||
    /[\p{Cc}\p{Cs}]/u.test(userId)
  ) {
    throw new KeywardError(
      'INVALID_INPUT',
      `userId must be a string of 1 to ${MAX_USER_ID_LENGTH} UTF-16 code units, with no control character or lone surrogate`,
      { field: 'userId' },
    )
  }
  return userId
}
