import { type KeyStore, settledWithin } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import type { ExampleConfig } from './config.js'
import { lockDataDir } from './data-dir-lock.js'
import { dataDirMajorMismatch } from './data-dir-major.js'

export interface OpenedStore {
  readonly store: KeyStore
  /** Where keys live, for the start-up line. */
  readonly description: string
  /**
   * Closes the client. A PostgreSQL or Redis one still closing after CLOSE_LIMIT_MS is given up;
   * PGlite, in process, has no connection to fall silent and is waited for.
   */
  close(): Promise<void>
}

/**
 * How long closing a PostgreSQL or Redis client may take at shutdown. A server that fell silent
 * (no FIN, no RST) answers no QUIT, and pg's pool.end() waits for a connection whose query is
 * stuck on it for as long as TCP retries (many minutes). The drivers' timeouts below end any such
 * call within 3 s; past this, shutdown drops the connection or leaves it to the process's exit.
 */
const CLOSE_LIMIT_MS = 3_000

/**
 * Whether `closing` (a client's close) finished within CLOSE_LIMIT_MS. A close that fails or takes
 * longer is reported on stderr and answers false, leaving the client to be dropped or to the
 * process's exit: shutdown goes on either way.
 */
const closedInTime = (closing: Promise<boolean>, server: string): Promise<boolean> =>
  settledWithin(
    closing,
    CLOSE_LIMIT_MS,
    `keyward example: ${server} did not close in ${CLOSE_LIMIT_MS / 1000} s; stopping anyway`,
  ).catch((failed: Error) => {
    console.error(failed.message)
    return false
  })

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
      // A command on a connection that fell silent fails (keyward answers 503) instead of hanging;
      // below keyward's storeTimeout (5 s), as the store's README says.
      commandTimeout: 2_000,
      // ...and the silent connection is dropped, so that ioredis reconnects: without it the
      // instance answers 503 for good, even once Redis is back. Above commandTimeout (a slow reply
      // costs its command, not the connection), below storeTimeout (see the store's README).
      socketTimeout: 3_000,
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
      // Redis may be away at shutdown: quit politely if it answers, else just drop the socket.
      close: async () => {
        const quit = client.quit().then(
          () => true,
          () => false,
        )
        if (!(await closedInTime(quit, 'Redis'))) client.disconnect()
      },
    }
  }
  if (config.databaseUrl) {
    const { default: pg } = await import('pg')
    const connection = {
      connectionString: config.databaseUrl,
      connectionTimeoutMillis: 2_000,
      keepAlive: true,
    }
    // migrate's one transaction may queue behind another instance's migration, or build indexes:
    // it gets a pool of its own, without the store's query timeouts (see the store's README).
    const migrating = new pg.Pool({ ...connection, max: 1 })
    migrating.on('error', () => {})
    try {
      await migrate(migrating, { schema: config.schema })
    } finally {
      await migrating.end()
    }
    const pool = new pg.Pool({
      ...connection,
      // A query on a connection that fell silent fails (keyward answers 503) and frees its
      // connection, instead of holding it for as long as TCP retries; below keyward's storeTimeout
      // (5 s), as the store's README says.
      query_timeout: 3_000,
      statement_timeout: 3_000,
    })
    // An idle connection that drops must not crash the server: the next query reconnects.
    pool.on('error', () => {})
    return {
      store: postgresStore({ client: pool, schema: config.schema }),
      description: 'PostgreSQL',
      // pool.end() waits for every connection in use to come back.
      close: async () => {
        await closedInTime(
          pool.end().then(() => true),
          'PostgreSQL',
        )
      },
    }
  }
  // Before PGlite opens the folder: a second process on it would corrupt it.
  const lock = lockDataDir(config.dataDir)
  try {
    const { PGlite } = await import('@electric-sql/pglite')
    const db = await PGlite.create(config.dataDir).catch(async (error: unknown) => {
      if (error instanceof Error) {
        // A folder an earlier PGlite made, of another PostgreSQL major: say so, and what to do.
        // Should finding out fail too, PGlite's own error is the one to show.
        const mismatch = await dataDirMajorMismatch(config.dataDir).catch(() => undefined)
        throw mismatch === undefined ? error : new Error(mismatch)
      }
      // PGlite's file-system errors (Emscripten's ErrnoError) are not Errors and carry no message.
      throw new Error(
        `PGlite cannot open KEYWARD_DATA_DIR ${config.dataDir} (${describeFsError(error)}): set KEYWARD_DATA_DIR to a folder of its own, or to a path that does not exist yet.`,
      )
    })
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

/** An Emscripten file-system error by its name and number, e.g. `ErrnoError 44`. */
function describeFsError(error: unknown): string {
  const { name, errno } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown
    errno?: unknown
  }
  return [typeof name === 'string' ? name : 'error', typeof errno === 'number' ? errno : undefined]
    .filter((part) => part !== undefined)
    .join(' ')
}
