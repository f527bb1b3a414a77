import { runStoreConformance } from '@keyward/core/testing'
import { describe } from 'vitest'
import { onPGlite, PGLITES } from './support.js'

// In-memory PGlite, the default schema: always runs, no server needed.
describe.each(PGLITES)('on %s', (release, open) => {
  runStoreConformance({ name: `postgres store on ${release}`, setup: onPGlite(open) })
})
