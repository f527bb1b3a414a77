import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { createKeyward, type KeyStore } from '@keyward/core'

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
