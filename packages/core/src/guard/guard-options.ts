import { KeywardConfigError, shownValue as show } from '../errors.js'
import type { AuthenticateOptions } from './authenticator.js'

/**
 * A guard's options, checked once as a route declares its guard. A mistake a type checker would
 * have caught in TypeScript otherwise guards with no permission at all from JavaScript:
 * `requireAuth('agents:read')` and `{ permission: [...] }` both read as "no permissions
 * required", and `{ permissions: 'agents:read' }` as one permission per letter. `where` names the
 * call in the error, e.g. `requireAuth(options)`.
 */
export function checkGuardOptions(options: unknown, where: string): AuthenticateOptions | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new KeywardConfigError(where, `must be { permissions: [...] } or left out (got ${show(options)})`)
  for (const name of Object.keys(options)) {
    if (name !== 'permissions')
      throw new KeywardConfigError(where, `has no option "${name}": its one option is permissions`)
  }
  const { permissions } = options as { readonly permissions?: unknown }
  if (
    permissions !== undefined &&
    !(Array.isArray(permissions) && permissions.every((permission) => typeof permission === 'string'))
  )
    throw new KeywardConfigError(
      `${where}.permissions`,
      `must be an array of strings (got ${show(permissions)})`,
    )
  return options as AuthenticateOptions
}
