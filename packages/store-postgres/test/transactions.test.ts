/**
 * The pool runner's transactions (revoking a user's refresh families, a reused token's family):
 * one whose statement fails is rolled back before its connection goes back to the pool, so the
 * host's next call on that connection is not refused as part of an aborted transaction.
 */
import { randomUUID } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { POOLS, randomSchema, refreshTokenFor } from './support.js'

describeWith('DATABASE_URL', 'postgres store transactions', (url) => {
  describe.each(POOLS)('through %s', (_release, connect) => {
    const schema = randomSchema()
    // One connection, made by the first call: every later call is served by it.
    const pool = connect(url)
    beforeAll(() => migrate(pool, { schema }))
    afterAll(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
    })

    it('rolls back a transaction whose statement fails, and the connection serves the next call', async () => {
      const store = postgresStore({ client: pool, schema })
      const user = `user-${randomUUID()}`
      const token = refreshTokenFor(user)
      await store.insertRefreshToken(token)
      expect(pool.totalCount).toBe(1)
      // PostgreSQL refuses a NUL in text: the transaction's first statement fails.
      await expect(store.revokeUserRefreshTokens('bad\u0000user')).rejects.toThrow(/0x00/)
      expect(await store.findRefreshToken(token.digest, new Date())).toEqual(token)
      await store.revokeUserRefreshTokens(user)
      expect(await store.findRefreshToken(token.digest, new Date())).toBeNull()
    })

    it('leaves no listener of its own on the connection, however many transactions it serves', async () => {
      const store = postgresStore({ client: pool, schema })
      // Counted as each transaction gives the connection back (the pool's own listener included).
      const listening: number[] = []
      const onRelease = (_error: unknown, connection: EventEmitter) => {
        listening.push(connection.listenerCount('error'))
      }
      pool.on('release', onRelease)
      try {
        for (let round = 0; round < 12; round++) await store.revokeUserRefreshTokens(`user-${randomUUID()}`)
      } finally {
        pool.off('release', onRelease)
      }
      expect(listening).toHaveLength(12)
      expect(new Set(listening).size).toBe(1)
    })
  })
})
