import { runStoreConformance } from '@keyward/core/testing'
import { describe } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { onPostgres, POOLS } from './support.js'

describeWith('DATABASE_URL', 'postgres store on PostgreSQL', (url) => {
  describe.each(POOLS)('through %s', (release, connect) => {
    runStoreConformance({
      name: `postgres store on PostgreSQL (${release}, pg.Pool)`,
      setup: onPostgres(url, connect),
    })
  })
})
