import type { KeywardUser, Principal } from '../users.js'

/** Who sent an API key: its user, with the user's permissions now (not those at issue). */
export const keyPrincipal = (keyId: string, user: KeywardUser): Principal => ({
  userId: user.id,
  keyId,
  permissions: user.permissions,
  credential: 'api_key',
  user,
})

/** Who sent an auth token: its subject, and the key it came from (null for a host login). */
export const tokenPrincipal = (user: KeywardUser, keyId: string | null): Principal => ({
  userId: user.id,
  keyId,
  permissions: user.permissions,
  credential: 'auth_token',
  user,
})

export function hasAll(granted: readonly string[], required: readonly string[]): boolean {
  for (const permission of required) if (!granted.includes(permission)) return false
  return true
}
