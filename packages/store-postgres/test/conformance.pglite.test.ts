import { PGlite } from '@electric-sql/pglite'
import { runStoreConformance } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { dumpSchema } from './support.js'

// In-memory PGlite, the default schema: always runs, no server needed.
runStoreConformance({
  name: 'postgres store on PGlite',
  setup: async () => {
    const db = new PGlite()
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
