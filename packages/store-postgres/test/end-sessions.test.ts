/**
 * Ending the sessions of a user who has very many: an agent that exchanges its key every couple
 * of minutes starts tens of thousands of refresh families in their 30 days. Each family's lock is
 * an entry of the server's shared lock table, so they are revoked a batch per transaction: all at
 * once ran the table out ("out of shared memory"), failing the call and every other session's locks.
 */
import { PGlite } from '@electric-sql/pglite'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, expect, it } from 'vitest'
import { USER_REVOKE_BATCH } from '../src/postgres-store.js'

const db = new PGlite()
afterAll(() => db.close())

/** More than PGlite's lock table holds (max_locks_per_transaction 64 × 100 connections, and some). */
const FAMILIES = 25_000

it("revokes every one of a user's tens of thousands of sessions, a batch of families at a time", async () => {
  await migrate(db)
  expect(FAMILIES).toBeGreaterThan(USER_REVOKE_BATCH * 2)
  await db.query(
    `INSERT INTO keyward_refresh_tokens (digest, family_id, user_id, key_id, created_on, expires_on)
     SELECT md5(n::text), 'family-' || n, 'busy', NULL, now(), now() + interval '30 days'
     FROM generate_series(1, $1::int) AS n
     UNION ALL SELECT md5('other'), 'family-other', 'other', NULL, now(), now() + interval '30 days'`,
    [FAMILIES],
  )
  await postgresStore({ client: db }).revokeUserRefreshTokens('busy')
  const { rows } = await db.query<{ user_id: string; tokens: number }>(
    'SELECT user_id, count(*)::int AS tokens FROM keyward_refresh_tokens GROUP BY user_id',
  )
  expect(rows).toEqual([{ user_id: 'other', tokens: 1 }])
})
