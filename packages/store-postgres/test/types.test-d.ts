import type { PGlite } from '@electric-sql/pglite'
import type { KeyStore } from '@keyward/core'
import type { PostgresClient, PostgresStore, postgresStore } from '@keyward/store-postgres'
import type { Pool } from 'pg'
import { describe, expectTypeOf, it } from 'vitest'

describe('@keyward/store-postgres types', () => {
  it("takes either driver's client, described without either driver's types", () => {
    expectTypeOf<Pool>().toExtend<PostgresClient>()
    expectTypeOf<PGlite>().toExtend<PostgresClient>()
    expectTypeOf<{ query(): Promise<unknown> }>().not.toExtend<PostgresClient>()
  })
})

describe('postgresStore()', () => {
  it('has its prune and its subscription for a host to call, not as optional methods', () => {
    expectTypeOf<ReturnType<typeof postgresStore>>().toEqualTypeOf<PostgresStore>()
    expectTypeOf<PostgresStore['pruneExpired']>().toEqualTypeOf<NonNullable<KeyStore['pruneExpired']>>()
    expectTypeOf<PostgresStore['subscribe']>().toEqualTypeOf<NonNullable<KeyStore['subscribe']>>()
    expectTypeOf<PostgresStore>().toExtend<KeyStore>()
  })
})
