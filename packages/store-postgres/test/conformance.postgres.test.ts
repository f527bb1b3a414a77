import { runStoreConformance } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { describeWith } from '../../../test/support/services.js'
import { dumpSchema, randomSchema } from './support.js'

describeWith('DATABASE_URL', 'postgres store on PostgreSQL', (url) => {
  runStoreConformance({
    name: 'postgres store on PostgreSQL (pg.Pool)',
    setup: async () => {
      const schema = randomSchema()
      const pool = new Pool({ connectionString: url })
      // Another instance: its own pool, so its LISTEN runs on its own connection.
      const peerPool = new Pool({ connectionString: url })
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
