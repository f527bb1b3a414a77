import { randomBytes } from 'node:crypto'
import { parseDuration } from '@keyward/core'

export interface ExampleConfig {
  readonly port: number
  readonly host: string
  readonly jwtSecret: string
  /** Secrets jwtSecret replaced: their tokens live out their lifetime, their derived TOTP keys still open. */
  readonly previousJwtSecrets: string[]
  /** Seals TOTP secrets at rest; keyward derives one from jwtSecret when it is not set. */
  readonly totpKey: string | undefined
  /** Keys totpKey replaced: the enrolments they sealed still open, and are sealed again with totpKey. */
  readonly previousTotpKeys: string[]
  readonly keyLifetime: string
  readonly dataDir: string
  readonly databaseUrl: string | undefined
  readonly redisUrl: string | undefined
  /** PostgreSQL schema for keyward's tables (default public), so apps can share a database. */
  readonly schema: string | undefined
  /** Redis key prefix (default `keyward:`), so apps can share a Redis. */
  readonly redisPrefix: string | undefined
}

/** keyward's own bound on every lifetime (options.ts), in milliseconds. */
const HUNDRED_YEARS_MS = 36_525 * 86_400_000

/**
 * Configuration from the environment, checked before anything starts: keyward checks the lifetime
 * and the secrets too, but only once the store is open (a data folder made, a database migrated).
 * A variable set to the empty string counts as unset.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  const port = env.PORT ? parsePort(env.PORT) : 3000
  const keyLifetime = env.KEYWARD_KEY_LIFETIME || '3mo'
  const lifetime = parseDuration(keyLifetime)
  if (!lifetime || lifetime.months * (HUNDRED_YEARS_MS / 1200) + lifetime.milliseconds > HUNDRED_YEARS_MS)
    throw new Error(
      `KEYWARD_KEY_LIFETIME must be a lifetime such as 3mo, 90d or 2s, at most 100y (got ${keyLifetime})`,
    )
  let jwtSecret = env.KEYWARD_JWT_SECRET
  const totpKey = env.KEYWARD_TOTP_KEY || undefined
  if (!jwtSecret) {
    jwtSecret = randomBytes(32).toString('base64url')
    console.warn(
      `KEYWARD_JWT_SECRET is not set: using a random one, so auth tokens end with this process${totpKey ? '' : ", and a TOTP enrolment made now cannot be opened after a restart (its user's login then fails until the data folder is removed)"}. Set it in production.`,
    )
  }
  requireBytes('KEYWARD_JWT_SECRET', jwtSecret)
  // Comma-separated: a secret from openssl rand -base64 (or -hex) holds no comma.
  const previousJwtSecrets = env.KEYWARD_PREVIOUS_JWT_SECRETS
    ? env.KEYWARD_PREVIOUS_JWT_SECRETS.split(',')
    : []
  for (const [index, secret] of previousJwtSecrets.entries())
    requireBytes(`KEYWARD_PREVIOUS_JWT_SECRETS (secret ${index + 1})`, secret)
  // AES-256 takes exactly 32 bytes; createKeyward would refuse any other, after the store is open.
  if (totpKey !== undefined) requireTotpKey('KEYWARD_TOTP_KEY', totpKey)
  const previousTotpKeys = env.KEYWARD_PREVIOUS_TOTP_KEYS ? env.KEYWARD_PREVIOUS_TOTP_KEYS.split(',') : []
  if (previousTotpKeys.length > 0 && totpKey === undefined)
    throw new Error('KEYWARD_PREVIOUS_TOTP_KEYS needs KEYWARD_TOTP_KEY, the key that replaced them')
  for (const [index, key] of previousTotpKeys.entries())
    requireTotpKey(`KEYWARD_PREVIOUS_TOTP_KEYS (key ${index + 1})`, key)
  return {
    port,
    host: env.HOST || '127.0.0.1',
    jwtSecret,
    previousJwtSecrets,
    totpKey,
    previousTotpKeys,
    keyLifetime,
    dataDir: env.KEYWARD_DATA_DIR || '.keyward-data',
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    schema: env.KEYWARD_PG_SCHEMA || undefined,
    redisPrefix: env.KEYWARD_REDIS_PREFIX || undefined,
  }
}

/** Decimal digits only: Number() would also take ' ' (as 0), 0x50 and 1e3. */
function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535)
    throw new Error(`PORT must be a port number from 0 to 65535 (got ${JSON.stringify(text)})`)
  return Number(text)
}

function requireTotpKey(name: string, key: string): void {
  if (Buffer.byteLength(key) !== 32)
    throw new Error(
      `${name} must be exactly 32 bytes, such as the output of openssl rand -base64 24 (got ${Buffer.byteLength(key)})`,
    )
}

function requireBytes(name: string, secret: string): void {
  const bytes = Buffer.byteLength(secret)
  if (bytes < 32) throw new Error(`${name} must be at least 32 bytes (got ${bytes})`)
}
