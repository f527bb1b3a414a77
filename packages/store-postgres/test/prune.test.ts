/**
 * pruneExpired on a backlog: batches of PRUNE_BATCH rows until none is left or keyward closes, a
 * row another transaction holds skipped rather than waited for (so the prune never deadlocks with
 * the batched last-use writes), and one table that fails leaving the others pruned.
 */
import { PGlite } from '@electric-sql/pglite'
import { sampleKeyRecord } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { PRUNE_BATCH } from '../src/postgres-store.js'
import { randomSchema } from './support.js'

const NOW = new Date(Date.UTC(2027, 5, 1))
const BACKLOG = 2 * PRUNE_BATCH + 500

interface Session {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>
}

/** BACKLOG expired keys of one user and one live key, written in one statement each. */
async function withBacklog(session: Session, schema: string) {
  const expired = sampleKeyRecord('backlog', { expiresOn: NOW })
  await session.query(
    `INSERT INTO "${schema}".keyward_api_keys (id, user_id, name, digest, preview, created_on, expires_on)
     SELECT 'expired-' || n, 'backlog', 'k', md5(n::text) || md5('x' || n), 'ms-…0000', $1, $1
     FROM generate_series(1, ${BACKLOG}) AS n`,
    [expired.expiresOn.toISOString()],
  )
  const live = sampleKeyRecord('backlog', { expiresOn: new Date(NOW.getTime() + 1) })
  const store = postgresStore({ client: session as never, schema })
  await store.insertKey(live)
  return { store, live }
}

const countKeys = async (session: Session, schema: string) =>
  (await session.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".keyward_api_keys`)).rows[0]
    ?.n

describe('pruneExpired on PGlite', () => {
  const db = new PGlite()
  afterAll(() => db.close())

  it(`deletes a backlog of ${BACKLOG} expired keys in batches of ${PRUNE_BATCH}, and keeps the live one`, async () => {
    await migrate(db, { schema: 'backlog' })
    const { store, live } = await withBacklog(db, 'backlog')
    await store.pruneExpired!(NOW)
    expect(await countKeys(db, 'backlog')).toBe(1)
    expect(await store.findKeyById(live.id)).toEqual(live)
  })

  it('runs no batch after keyward closes (its signal aborted), and the next prune goes on from there', async () => {
    await migrate(db, { schema: 'stopped' })
    const stopping = new AbortController()
    // The first batch's answer comes once the signal is aborted, as when keyward closes meanwhile.
    const closingDuringFirstBatch = new Proxy(db, {
      get(target, name, receiver) {
        if (name !== 'query') return Reflect.get(target, name, receiver)
        return async (...args: Parameters<PGlite['query']>) => {
          const result = await target.query(...args)
          if (String(args[0]).includes('DELETE')) stopping.abort()
          return result
        }
      },
    })
    const { live } = await withBacklog(db, 'stopped')
    const store = postgresStore({ client: closingDuringFirstBatch, schema: 'stopped' })
    await store.pruneExpired!(NOW, stopping.signal)
    expect(await countKeys(db, 'stopped')).toBe(BACKLOG - PRUNE_BATCH + 1)
    await store.pruneExpired!(NOW)
    expect(await countKeys(db, 'stopped')).toBe(1)
    expect(await store.findKeyById(live.id)).toEqual(live)
  })

  it('prunes the other tables when one of them fails, then rejects', async () => {
    await migrate(db, { schema: 'broken' })
    const store = postgresStore({ client: db, schema: 'broken' })
    await store.incrementCounter('ended', 1000, new Date(NOW.getTime() - 1000))
    // The keys, pruned first, fail: the counters, pruned last, are pruned all the same.
    await db.query('DROP TABLE broken.keyward_api_keys')
    await expect(store.pruneExpired!(NOW)).rejects.toThrow(/keyward_api_keys/)
    expect(await store.peekCounter('ended', new Date(NOW.getTime() - 1))).toBeNull()
  })

  it('rejects with every failure when more than one table fails', async () => {
    await migrate(db, { schema: 'broken_twice' })
    const store = postgresStore({ client: db, schema: 'broken_twice' })
    await db.query('DROP TABLE broken_twice.keyward_api_keys')
    await db.query('DROP TABLE broken_twice.keyward_counters')
    const failure = await store.pruneExpired!(NOW).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(AggregateError)
    expect((failure as AggregateError).message).toBe('keyward: pruning failed on 2 tables')
    expect((failure as AggregateError).errors.map((error: Error) => error.message)).toEqual([
      expect.stringMatching(/keyward_api_keys/),
      expect.stringMatching(/keyward_counters/),
    ])
  })
})

describeWith('DATABASE_URL', 'pruneExpired on PostgreSQL', (url) => {
  const pool = new Pool({ connectionString: url })
  const schema = randomSchema()
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  })

  it('skips an expired key another transaction holds instead of waiting for it, and deletes it next time', async () => {
    await migrate(pool, { schema })
    const { store } = await withBacklog(pool, schema)
    const holder = await pool.connect()
    try {
      // As a last-use flush does: the row locked FOR UPDATE until the transaction ends.
      await holder.query('BEGIN')
      await holder.query(`SELECT id FROM "${schema}".keyward_api_keys WHERE id = 'expired-7' FOR UPDATE`)
      await store.pruneExpired!(NOW)
      expect(await countKeys(pool, schema)).toBe(2)
    } finally {
      await holder.query('COMMIT')
      holder.release()
    }
    await store.pruneExpired!(NOW)
    expect(await countKeys(pool, schema)).toBe(1)
  })
})
