/**
 * A client's odd input is a client's problem on every store: an id that no key can have is
 * answered as "no such key" (null, the route's 404), never as a store error (the route's 503,
 * which reads as an outage). PostgreSQL refuses a NUL in text where memory and Redis store it.
 */
import { PGlite } from '@electric-sql/pglite'
import { createKeyward, type KeyStore, memoryStore } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomSchema } from '../../packages/store-postgres/test/support.js'
import { deleteUnder, randomPrefix } from '../../packages/store-redis/test/support.js'
import { JWT_SECRET } from '../contract/support/fixture.js'
import { describeWith } from '../support/services.js'

interface OpenStore {
  readonly store: KeyStore
  close(): Promise<void>
}

function oddIds(name: string, open: () => Promise<OpenStore>): void {
  describe(`odd ids on ${name}`, () => {
    let opened: OpenStore
    beforeAll(async () => {
      opened = await open()
    })
    afterAll(() => opened.close())

    it('deletes nothing for an id holding a NUL, and says so with null', async () => {
      const keyward = createKeyward({
        jwtSecret: JWT_SECRET,
        store: opened.store,
        users: { get: (id) => ({ id, permissions: [] }) },
      })
      try {
        const issued = await keyward.issueKey('alice', { name: 'ci' })
        for (const id of ['\u0000', `${issued.id}\u0000`, `a\u0000b`]) {
          await expect(keyward.deleteKey('alice', { id })).resolves.toBeNull()
        }
        expect((await keyward.verifyKey(issued.key)).ok).toBe(true)
        expect((await keyward.deleteKey('alice', { id: issued.id }))?.id).toBe(issued.id)
      } finally {
        await keyward.close()
      }
    })
  })
}

oddIds('the memory store', async () => ({ store: memoryStore(), close: async () => {} }))

oddIds('PGlite', async () => {
  const db = new PGlite()
  await migrate(db)
  return { store: postgresStore({ client: db }), close: () => db.close() }
})

describeWith('DATABASE_URL', 'odd ids on PostgreSQL', (url) => {
  oddIds('PostgreSQL', async () => {
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

describeWith('REDIS_URL', 'odd ids on Redis', (url) => {
  oddIds('Redis', async () => {
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
