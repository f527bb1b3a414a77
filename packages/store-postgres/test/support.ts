import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { PGlite } from '@electric-sql/pglite'
import { createKeyward, type KeyStore, type RefreshTokenRecord } from '@keyward/core'
import type { StoreUnderTest } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import oldestPg from 'pg-8.0.3'
import { PGlite as PGlite02 } from 'pglite-0.2.0'
import { PGlite as PGlite03 } from 'pglite-0.3.0'
import { PGlite as PGlite04 } from 'pglite-0.4.0'
import { PGlite as PGlite05 } from 'pglite-0.5.0'

/**
 * The pg releases the store is tested on: the workspace's (the newest) and the oldest its
 * peerDependencies accept (8.0.3; 8.0.0 never finishes connecting on Node 20), installed
 * under an alias.
 */
export const POOLS: ReadonlyArray<readonly [release: string, connect: (connectionString: string) => Pool]> = [
  ["pg (the workspace's)", (connectionString) => new Pool({ connectionString })],
  ['pg 8.0.3', (connectionString) => new oldestPg.Pool({ connectionString })],
]

// PGlite exports no ./package.json; pnpm links the package's own copy into its node_modules.
const newestPGlite: string = JSON.parse(
  readFileSync(new URL('../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
).version

/**
 * The PGlite releases the store is tested on: the workspace's (the newest, which a host installing
 * today gets; it is the floor of the 0.6 line too, 0.6.0 never having been published) and the first
 * of each earlier minor line its peerDependencies accept (0.x minors may break, so each is a line of
 * its own), installed under aliases.
 */
export const PGLITES: ReadonlyArray<readonly [release: string, open: () => PGlite]> = [
  [`PGlite ${newestPGlite}`, () => new PGlite()],
  ['PGlite 0.5.0', () => new PGlite05() as unknown as PGlite],
  ['PGlite 0.4.0', () => new PGlite04() as unknown as PGlite],
  ['PGlite 0.3.0', () => new PGlite03() as unknown as PGlite],
  ['PGlite 0.2.0', () => new PGlite02() as unknown as PGlite],
]

interface Queryable {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>
}

/** A schema of its own for each run, so parallel runs and leftovers never meet. */
export const randomSchema = () => `kw_test_${randomBytes(6).toString('hex')}`

/** Every row of every table in the schema, as JSON text: what a stolen database would show. */
export async function dumpSchema(db: Queryable, schema: string): Promise<string> {
  const { rows: tables } = await db.query<{ tablename: string }>(
    'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
    [schema],
  )
  const parts: string[] = []
  for (const { tablename } of tables) {
    const { rows } = await db.query<{ rows: string }>(
      `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM "${schema}"."${tablename}" t`,
    )
    parts.push(`${tablename}: ${rows[0]?.rows}`)
  }
  return parts.join('\n')
}

/**
 * The conformance suite's subject on PostgreSQL: a schema of its own, over pools `connect` makes;
 * another instance has a pool of its own, so that its LISTEN runs on its own connection.
 */
export const onPostgres =
  (url: string, connect: (connectionString: string) => Pool) => async (): Promise<StoreUnderTest> => {
    const schema = randomSchema()
    const pool = connect(url)
    const peerPool = connect(url)
    await migrate(pool, { schema })
    return {
      store: postgresStore({ client: pool, schema }),
      dump: () => dumpSchema(pool, schema),
      peer: async () => postgresStore({ client: peerPool, schema }),
      async teardown() {
        await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
        await Promise.all([pool.end(), peerPool.end()])
      },
    }
  }

/**
 * The same on a PGlite `open` gives, in the default schema. PGlite is one process: another
 * instance is another store over the same database.
 */
export const onPGlite = (open: () => PGlite | Promise<PGlite>) => async (): Promise<StoreUnderTest> => {
  const db = await open()
  await migrate(db)
  return {
    store: postgresStore({ client: db }),
    dump: () => dumpSchema(db, 'public'),
    peer: async () => postgresStore({ client: db }),
    teardown: () => db.close(),
  }
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A keyward over the store, with every user known. */
export const keywardOver = (store: KeyStore) =>
  createKeyward({
    jwtSecret: 'store-postgres-test-secret-0123456789abcdef',
    store,
    users: { get: (id) => ({ id, permissions: [] }) },
    rateLimit: false,
  })

/** Well-formed for the default key format, but never issued. */
export const wellFormedKey = () => `ms-${randomBytes(16).toString('hex')}`

/** The first refresh token of a family of its own for `userId`, alive for a minute. */
export const refreshTokenFor = (userId: string): RefreshTokenRecord => ({
  digest: randomUUID(),
  familyId: randomUUID(),
  userId,
  keyId: null,
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 60_000),
})
