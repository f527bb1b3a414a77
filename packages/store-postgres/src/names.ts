import { KeywardConfigError } from '@keyward/core'

/**
 * Every SQL identifier the store uses, derived from one schema name. The name is checked
 * here so it can be spliced into SQL and into LISTEN, and so the channel name stays within
 * PostgreSQL's 63-byte identifier limit.
 */
const SCHEMA_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,47}$/ // pg_ names are PostgreSQL's own

export const DEFAULT_SCHEMA = 'public'

export interface Names {
  readonly schema: string
  readonly keys: string
  readonly refreshTokens: string
  readonly totp: string
  readonly counters: string
  readonly migrations: string
  /** LISTEN/NOTIFY channel for key.deleted events. */
  readonly channel: string
}

export function names(schema: string = DEFAULT_SCHEMA): Names {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new KeywardConfigError(
      'schema',
      'must be 1-48 lowercase letters, digits or "_", not starting with a digit or "pg_"',
    )
  }
  const table = (name: string) => `"${schema}".keyward_${name}`
  return {
    schema,
    keys: table('api_keys'),
    refreshTokens: table('refresh_tokens'),
    totp: table('totp'),
    counters: table('counters'),
    migrations: table('migrations'),
    channel: `keyward_events_${schema}`,
  }
}
