/** A user as the host application sees it. keyward does not own users. */
export interface KeywardUser {
  readonly id: string
  readonly email?: string
  readonly displayName?: string
  /** The user's permissions now; a key inherits them at every request, not at issue time. */
  readonly permissions: readonly string[]
  readonly passkeyEnabled?: boolean
}

/** The host's user directory. Return null for a user who no longer exists. */
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
