import type { PGlite } from '@electric-sql/pglite'
import type { PostgresClient } from '@keyward/store-postgres'
import type { Pool } from 'pg'
import { describe, expectTypeOf, it } from 'vitest'

describe('@keyward/store-postgres types', () => {
  it("takes either driver's client, described without either driver's types", () => {
    expectTypeOf<Pool>().toExtend<PostgresClient>()
    expectTypeOf<PGlite>().toExtend<PostgresClient>()
    expectTypeOf<{ query(): Promise<unknown> }>().not.toExtend<PostgresClient>()
  })
})
