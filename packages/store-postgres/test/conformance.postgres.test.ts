import { runStoreConformance } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { describe } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { dumpSchema, POOLS, randomSchema } from './support.js'

describeWith('DATABASE_URL', 'postgres store on PostgreSQL', (url) => {
  describe.each(POOLS)('through %s', (release, connect) => {
    runStoreConformance({
      name: `postgres store on PostgreSQL (${release}, pg.Pool)`,
      setup: async () => {
        const schema = randomSchema()
        const pool = connect(url)
        // Another instance: its own pool, so its LISTEN runs on its own connection.
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
      },
    })
  })
})
