import type { PGliteInterface } from '@electric-sql/pglite'
import { KeywardConfigError } from '@keyward/core'
import type { Pool, PoolClient } from 'pg'
import type { PostgresClient } from './client.js'
import { listenOnPool } from './pool-listener.js'

export interface Queryable {
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>
}

/** A statement the server parses and plans once per connection: for the reads on the guard's miss path. */
export interface PreparedStatement {
  readonly name: string
  readonly text: string
}

/** The little the store needs from a driver; one implementation per driver, the SQL is shared. */
export interface QueryRunner extends Queryable {
  prepared<Row>(statement: PreparedStatement, params: readonly unknown[]): Promise<Row[]>
  /**
   * Runs `work` in one transaction, always READ COMMITTED whatever the database's or the
   * role's default: callers take a lock and rely on each later statement taking a fresh
   * snapshot, which REPEATABLE READ and SERIALIZABLE would fix at the first statement.
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>
  /**
   * Resolves once listening; the returned function stops listening and releases the connection.
   * `onError` hears of each trouble the listening meets later (PGlite, in process, has none), and
   * `onResumed` of each time it listens again after one.
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onError?: (error: unknown) => void,
    onResumed?: () => void,
  ): Promise<() => Promise<void>>
}

const isPGlite = (client: object): client is PGliteInterface =>
  typeof (client as PGliteInterface).transaction === 'function' &&
  typeof (client as PGliteInterface).listen === 'function'

const isPool = (client: object): client is Pool =>
  typeof (client as Pool).connect === 'function' && typeof (client as Pool).totalCount === 'number'

const READ_COMMITTED = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED'

/**
 * Every value comes back as PostgreSQL's own text, whatever parsers the host gave its driver
 * (`pg.types.setTypeParser`, a Pool's `types`, PGlite's `parsers`), and the store parses it: a
 * host that reads booleans as text would otherwise turn 'f' into a true value, and one that reads
 * integers as BigInt would break every comparison with a number.
 */
const asText = (value: string) => value
/**
 * pg's `binary: true` asks for binary results, which pg then reads as UTF-8 text, changing their
 * bytes (an int8 comes back 12 bytes long), and which a query cannot turn off. Refused with the
 * pool's option; under `pg.defaults.binary`, every read fails (a 503 whose error says why).
 */
const BINARY_REFUSED =
  "must not answer in binary (pg's `binary: true`): pg reads binary results as UTF-8, changing their bytes"
const refuseBinary = () => {
  throw new Error(`keyward: the pool ${BINARY_REFUSED}`)
}
const PG_AS_TEXT = {
  getTypeParser: (_type: number, format?: string) => (format === 'binary' ? refuseBinary : asText),
}
/** PGlite takes parsers by type: those of the columns and results the store reads, and kin. */
const PGLITE_AS_TEXT = {
  parsers: Object.fromEntries(
    [16, 20, 21, 23, 25, 700, 701, 1043, 1114, 1184, 1700].map((type) => [type, asText]),
  ),
}

export function queryRunner(client: PostgresClient): QueryRunner {
  if (typeof client === 'object' && client !== null) {
    if (isPGlite(client)) return pgliteRunner(client)
    if (isPool(client)) return poolRunner(client)
  }
  throw new KeywardConfigError('client', 'must be a pg.Pool or a PGlite instance')
}

function pgliteRunner(db: PGliteInterface): QueryRunner {
  const query = async <Row>(text: string, params: readonly unknown[] = []) =>
    (await db.query<Row>(text, [...params], PGLITE_AS_TEXT)).rows
  return {
    query,
    // In process there is no round trip to save: PGlite runs it as a plain query.
    prepared: (statement, params) => query(statement.text, params),
    transaction: (work) =>
      db.transaction(async (tx) => {
        // PGlite sends a plain BEGIN; this must be the transaction's first statement.
        await tx.query(READ_COMMITTED)
        return work({
          query: async <Row>(text: string, params: readonly unknown[] = []) =>
            (await tx.query<Row>(text, [...params], PGLITE_AS_TEXT)).rows,
        })
      }),
    async listen(channel, onPayload) {
      const unlisten = await db.listen(channel, onPayload)
      return async () => {
        await unlisten()
      }
    },
  }
}

function poolRunner(pool: Pool): QueryRunner {
  if ((pool as { options?: { binary?: unknown } }).options?.binary === true)
    throw new KeywardConfigError('client', BINARY_REFUSED)
  const on = (connection: PoolClient): Queryable => ({
    query: async <Row>(text: string, params: readonly unknown[] = []) =>
      (await connection.query({ text, values: [...params], types: PG_AS_TEXT })).rows as Row[],
  })
  return {
    async query<Row>(text: string, params: readonly unknown[] = []) {
      return (await pool.query({ text, values: [...params], types: PG_AS_TEXT })).rows as Row[]
    },
    async prepared<Row>({ name, text }: PreparedStatement, params: readonly unknown[]) {
      return (await pool.query({ name, text, values: [...params], types: PG_AS_TEXT })).rows as Row[]
    },
    async transaction(work) {
      const connection = await pool.connect()
      // A checked-out client that loses its connection between two statements emits 'error';
      // without a listener that would be an uncaught exception. Keep it to destroy the client.
      let broken: Error | undefined
      const onError = (error: Error) => {
        broken = error
      }
      connection.on('error', onError)
      try {
        await connection.query('BEGIN ISOLATION LEVEL READ COMMITTED')
        const result = await work(on(connection))
        await connection.query('COMMIT')
        return result
      } catch (error) {
        await connection.query('ROLLBACK').catch((rollbackError: Error) => {
          broken ??= rollbackError
        })
        throw error
      } finally {
        connection.removeListener('error', onError)
        connection.release(broken)
      }
    },
    listen: (channel, onPayload, onError, onResumed) =>
      listenOnPool(pool, channel, onPayload, onError, undefined, onResumed),
  }
}
