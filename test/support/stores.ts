/**
 * Every store keyward ships, opened fresh for one suite: memory and PGlite always, PostgreSQL
 * and Redis when DATABASE_URL and REDIS_URL are set (skipped with a message otherwise). Each
 * real one gets a schema or prefix of its own, dropped when the suite closes it.
 */
import { PGlite } from '@electric-sql/pglite'
import { type KeyStore, memoryStore } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import pg from 'pg'
import { randomSchema } from '../../packages/store-postgres/test/support.js'
import { deleteUnder, randomPrefix } from '../../packages/store-redis/test/support.js'
import { describeWith } from './services.js'

export interface OpenStore {
  readonly store: KeyStore
  close(): Promise<void>
}

export type StoreSuite = (name: string, open: () => Promise<OpenStore>) => void

/** Defines `suite` once per store. */
export function eachStore(suite: StoreSuite): void {
  suite('the memory store', async () => ({ store: memoryStore(), close: async () => {} }))

  suite('PGlite', async () => {
    const db = new PGlite()
    await migrate(db)
    return { store: postgresStore({ client: db }), close: () => db.close() }
  })

  describeWith('DATABASE_URL', 'on PostgreSQL', (url) => {
    suite('PostgreSQL', async () => {
      const schema = randomSchema()
      const pool = new pg.Pool({ connectionString: url })
      await migrate(pool, { schema })
      return {
        store: postgresStore({ client: pool, schema }),
        async close() {
          await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
          await pool.end()
        },
      }
    })
  })

  describeWith('REDIS_URL', 'on Redis', (url) => {
    suite('Redis', async () => {
      const prefix = randomPrefix()
      const client = new Redis(url)
      return {
        store: redisStore({ client, prefix }),
        async close() {
          await deleteUnder(client, prefix)
          await client.quit()
        },
      }
    })
  })
}
