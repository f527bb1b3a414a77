/** A user as the host application sees it. keyward does not own users. */
export interface KeywardUser {
  readonly id: string
  readonly email?: string
  readonly displayName?: string
  /** The user's permissions now; a key inherits them at every request, not at issue time. */
  readonly permissions: readonly string[]
  readonly passkeyEnabled?: boolean
}

/**
 * The host's user directory. Return null for a user who no longer exists. Answer without a promise
 * when the user is in the host's memory (or its own cache): the guard's warm path admits a
 * keep-alive client's known key or token only with a user answered at once, and a directory that
 * answers with a promise puts every request through the full guard, one promise each.
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
