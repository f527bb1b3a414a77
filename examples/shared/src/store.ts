import type { KeyStore } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import type { ExampleConfig } from './config.js'
import { lockDataDir } from './data-dir-lock.js'

export interface OpenedStore {
  readonly store: KeyStore
  /** Where keys live, for the start-up line. */
  readonly description: string
  close(): Promise<void>
}

/**
 * REDIS_URL or DATABASE_URL switch the example to that server; otherwise PGlite (PostgreSQL
 * compiled to WebAssembly) keeps keys in a data folder, so they survive restarts with nothing
 * to install, one process at a time. The example owns these clients, as a host application would.
 */
export async function openStore(config: ExampleConfig): Promise<OpenedStore> {
  if (config.redisUrl) {
    const { Redis } = await import('ioredis')
    // Fail fast while Redis is away (keyward answers 503) and reconnect in the background.
    const client = new Redis(config.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      // A command whose reply a dropped connection lost fails, never runs twice (see the store's README).
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
    })
    // Once it is up, an outage is keyward's 503, not a crash; until then, say why it cannot start
    // (ioredis's own rejection only says the connection closed). The URL may hold a password.
    let cause: Error | undefined
    client.on('error', (error: Error) => {
      cause = error
    })
    try {
      await client.connect()
    } catch (error) {
      throw new Error(`cannot reach Redis at REDIS_URL: ${(cause ?? (error as Error)).message}`)
    }
    return {
      store: redisStore({ client, prefix: config.redisPrefix }),
      description: 'Redis',
      // Redis may be away at shutdown: quit politely if it can answer, else just drop the socket.
      close: () =>
        client.quit().then(
          () => undefined,
          () => client.disconnect(),
        ),
    }
  }
  if (config.databaseUrl) {
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: config.databaseUrl, connectionTimeoutMillis: 2_000 })
    // An idle connection that drops must not crash the server: the next query reconnects.
    pool.on('error', () => {})
    await migrate(pool, { schema: config.schema })
    return {
      store: postgresStore({ client: pool, schema: config.schema }),
      description: 'PostgreSQL',
      close: () => pool.end(),
    }
  }
  // Before PGlite opens the folder: a second process on it would corrupt it.
  const lock = lockDataDir(config.dataDir)
  try {
    const { PGlite } = await import('@electric-sql/pglite')
    const db = await PGlite.create(config.dataDir)
    await migrate(db)
    return {
      store: postgresStore({ client: db }),
      description: `PGlite in ${config.dataDir}`,
      close: () => db.close().finally(lock.release),
    }
  } catch (error) {
    lock.release()
    throw error
  }
}
