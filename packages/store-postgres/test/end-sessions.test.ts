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

it("revokes a user's sessions in a batch of theirs, whatever other users' families sort before them", async () => {
  // Other users' families that sort first fill a whole batch: a batch of anyone's families would
  // come back full again and again, and never reach the user's.
  const schema = 'crowded'
  await migrate(db, { schema })
  await db.query(
    `INSERT INTO ${schema}.keyward_refresh_tokens (digest, family_id, user_id, key_id, created_on, expires_on)
     SELECT md5('crowd' || n), 'a-family-' || n, 'crowd-' || n, NULL, now(), now() + interval '30 days'
     FROM generate_series(1, $1::int) AS n
     UNION ALL SELECT md5('leaving'), 'z-family', 'leaving', NULL, now(), now() + interval '30 days'`,
    [USER_REVOKE_BATCH],
  )
  // The user's one family takes one transaction; one that never ends is refused at the fourth.
  let transactions = 0
  const counted = {
    query: db.query.bind(db),
    listen: db.listen.bind(db),
    transaction: ((work: Parameters<typeof db.transaction>[0]) => {
      transactions += 1
      if (transactions > 3) throw new Error('keyward revoked in more transactions than the user has batches')
      return db.transaction(work)
    }) as typeof db.transaction,
  }
  await postgresStore({ client: counted, schema }).revokeUserRefreshTokens('leaving')
  expect(transactions).toBe(1)
  const { rows } = await db.query<{ users: number; leaving: number }>(
    `SELECT count(DISTINCT user_id)::int AS users, count(*) FILTER (WHERE user_id = 'leaving')::int AS leaving
     FROM ${schema}.keyward_refresh_tokens`,
  )
  expect(rows).toEqual([{ users: USER_REVOKE_BATCH, leaving: 0 }])
})
