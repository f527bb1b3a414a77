import { runStoreConformance } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { describe } from 'vitest'
import { dumpSchema, PGLITES } from './support.js'

// In-memory PGlite, the default schema: always runs, no server needed.
describe.each(PGLITES)('on %s', (release, open) => {
  runStoreConformance({
    name: `postgres store on ${release}`,
    setup: async () => {
      const db = open()
      await migrate(db)
      return {
        store: postgresStore({ client: db }),
        dump: () => dumpSchema(db, 'public'),
        // PGlite is one process: another instance is another store over the same database.
        peer: async () => postgresStore({ client: db }),
        teardown: () => db.close(),
      }
    },
  })
})
