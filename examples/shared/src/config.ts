import { randomBytes } from 'node:crypto'
import { parseDuration } from '@keyward/core'

export interface ExampleConfig {
  readonly port: number
  readonly host: string
  readonly jwtSecret: string
  readonly keyLifetime: string
  readonly dataDir: string
  readonly databaseUrl: string | undefined
  readonly redisUrl: string | undefined
  /** PostgreSQL schema for keyward's tables (default public), so apps can share a database. */
  readonly schema: string | undefined
  /** Redis key prefix (default `keyward:`), so apps can share a Redis. */
  readonly redisPrefix: string | undefined
}

/** Configuration from the environment, checked before anything starts. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  const port = Number(env.PORT ?? 3000)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new Error(`PORT must be a port number (got ${env.PORT})`)
  const keyLifetime = env.KEYWARD_KEY_LIFETIME ?? '3mo'
  if (!parseDuration(keyLifetime))
    throw new Error(`KEYWARD_KEY_LIFETIME must be a lifetime such as 3mo, 90d or 2s (got ${keyLifetime})`)
  let jwtSecret = env.KEYWARD_JWT_SECRET
  if (!jwtSecret) {
    jwtSecret = randomBytes(32).toString('base64url')
    console.warn(
      'KEYWARD_JWT_SECRET is not set: using a random one, so auth tokens end with this process. Set it in production.',
    )
  }
  // keyward checks this too, but only once the store is open (and a data folder made or a database migrated).
  const secretBytes = Buffer.byteLength(jwtSecret)
  if (secretBytes < 32) throw new Error(`KEYWARD_JWT_SECRET must be at least 32 bytes (got ${secretBytes})`)
  return {
    port,
    host: env.HOST ?? '127.0.0.1',
    jwtSecret,
    keyLifetime,
    dataDir: env.KEYWARD_DATA_DIR ?? '.keyward-data',
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    schema: env.KEYWARD_PG_SCHEMA || undefined,
    redisPrefix: env.KEYWARD_REDIS_PREFIX || undefined,
  }
}
