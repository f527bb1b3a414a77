import type { PGlite } from '@electric-sql/pglite'
import { migrate } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { MIGRATIONS } from '../src/migrations.js'
import { names } from '../src/names.js'
import { pruneStatements, userFamiliesSelect } from '../src/postgres-store.js'
import { PGLITES, randomSchema } from './support.js'

const LATEST = MIGRATIONS.at(-1)?.version
const VERSIONS = MIGRATIONS.map((migration) => migration.version)
/** Versions after `version`, which a schema migrated that far lacks. */
const after = (version: number) => VERSIONS.filter((each) => each > version)
/** Migration 4's, for ending a user's sessions. */
const USER_INDEX = 'keyward_refresh_tokens_user_id'
/** Migration 5's, partial: the pending TOTP enrolments only. */
const PENDING_TOTP_INDEX = 'keyward_totp_pending_created_on'
const PRUNE_INDEXES = [
  'keyward_api_keys_expires_on',
  'keyward_counters_reset_at',
  'keyward_refresh_tokens_expires_on',
  PENDING_TOTP_INDEX,
]

interface Session {
  query<Row>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>
}

/**
 * Whether a line of the plan scans an index `scan` matches, bounded by an Index Cond: an index
 * scan that only filters reads every entry (a scan of another column's index, for its order).
 */
const boundedScan = (plan: string[], scan: RegExp) => {
  const at = plan.findIndex((line) => scan.test(line))
  if (at === -1) return false
  const end = plan.findIndex((line, index) => index > at && line.includes('->'))
  return plan.slice(at + 1, end === -1 ? undefined : end).some((line) => line.includes('Index Cond: '))
}

/** The index names in the schema's plan for each of pruneExpired's statements. */
async function indexesPlannedForPrune(session: Session, schema: string): Promise<string[][]> {
  // On tables this small a sequential scan is cheaper; the question is whether an index can serve.
  await session.query('SET LOCAL enable_seqscan = off')
  const plans: string[][] = []
  for (const statement of pruneStatements(names(schema))) {
    const { rows } = await session.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement}`, [
      new Date().toISOString(),
    ])
    const plan = rows.map((row) => row['QUERY PLAN'])
    plans.push(
      PRUNE_INDEXES.filter((index) => boundedScan(plan, new RegExp(`Index Scan (using|on) ${index}\\b`))),
    )
  }
  return plans
}

async function pruneIndexes(session: Session, schema: string): Promise<string[]> {
  const { rows } = await session.query<{ indexname: string }>(
    'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname = ANY($2) ORDER BY indexname',
    [schema, PRUNE_INDEXES],
  )
  return rows.map((row) => row.indexname)
}

/** What a database migrated by the release that knew only version 1 holds. */
async function downgradeToV1(session: Session, schema: string): Promise<void> {
  for (const index of [...PRUNE_INDEXES, USER_INDEX]) await session.query(`DROP INDEX "${schema}".${index}`)
  await session.query(`DELETE FROM "${schema}".keyward_migrations WHERE version > 1`)
}

/** What a database migrated by the release that knew versions 1 and 2 holds. */
async function downgradeToV2(session: Session, schema: string): Promise<void> {
  for (const index of ['keyward_api_keys_expires_on', USER_INDEX, PENDING_TOTP_INDEX])
    await session.query(`DROP INDEX "${schema}".${index}`)
  await session.query(`DELETE FROM "${schema}".keyward_migrations WHERE version > 2`)
}

/** Whether ending a user's sessions is planned on migration 4's index. */
async function userIndexServesEndingSessions(session: Session, schema: string): Promise<boolean> {
  await session.query('SET LOCAL enable_seqscan = off')
  const { rows } = await session.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN ${userFamiliesSelect(names(schema))}`,
    ['alice'],
  )
  return boundedScan(
    rows.map((row) => row['QUERY PLAN']),
    new RegExp(`Index (Only )?Scan (using|on) ${USER_INDEX}\\b`),
  )
}

describe.each(PGLITES)('prune indexes on %s', (_release, open) => {
  // Opened one at a time, so the releases do not all start at once.
  let db: PGlite
  beforeAll(async () => {
    db = open()
    await db.waitReady
  })
  afterAll(() => db?.close())

  it('are created by migrate and serve each of pruneExpired’s statements', async () => {
    expect(await migrate(db, { schema: 'fresh' })).toEqual({ applied: VERSIONS, version: LATEST })
    expect(await pruneIndexes(db, 'fresh')).toEqual(PRUNE_INDEXES)
    const plans = await db.transaction((tx) => indexesPlannedForPrune(tx, 'fresh'))
    expect(plans).toEqual([
      ['keyward_api_keys_expires_on'],
      ['keyward_refresh_tokens_expires_on'],
      ['keyward_counters_reset_at'],
      [PENDING_TOTP_INDEX],
    ])
    expect(await db.transaction((tx) => userIndexServesEndingSessions(tx, 'fresh'))).toBe(true)
  })

  it('keep in the TOTP one only the pending enrolments, never the enabled ones the prune leaves', async () => {
    await migrate(db, { schema: 'partial' })
    const { rows } = await db.query<{ indexdef: string }>(
      'SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2',
      ['partial', PENDING_TOTP_INDEX],
    )
    expect(rows).toEqual([{ indexdef: expect.stringMatching(/ \(created_on\) WHERE \(NOT enabled\)$/) }])
  })

  it('are added to a schema at version 1, which then reaches the latest version', async () => {
    await migrate(db, { schema: 'upgraded' })
    await downgradeToV1(db, 'upgraded')
    expect(await migrate(db, { schema: 'upgraded' })).toEqual({ applied: after(1), version: LATEST })
    expect(await migrate(db, { schema: 'upgraded' })).toEqual({ applied: [], version: LATEST })
    expect(await pruneIndexes(db, 'upgraded')).toEqual(PRUNE_INDEXES)
    expect(await db.transaction((tx) => userIndexServesEndingSessions(tx, 'upgraded'))).toBe(true)
  })

  it('are completed on a schema at version 2 by the versions after it', async () => {
    await migrate(db, { schema: 'at_v2' })
    await downgradeToV2(db, 'at_v2')
    expect(await pruneIndexes(db, 'at_v2')).toEqual([
      'keyward_counters_reset_at',
      'keyward_refresh_tokens_expires_on',
    ])
    expect(await migrate(db, { schema: 'at_v2' })).toEqual({ applied: after(2), version: LATEST })
    expect(await pruneIndexes(db, 'at_v2')).toEqual(PRUNE_INDEXES)
  })
})

describeWith('DATABASE_URL', 'prune indexes on PostgreSQL', (url) => {
  const pool = new Pool({ connectionString: url })
  const schemas: string[] = []
  const schema = () => {
    schemas.push(randomSchema())
    return schemas.at(-1) as string
  }
  afterAll(async () => {
    for (const name of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
    await pool.end()
  })

  /** `work` in a transaction on one connection, rolled back. */
  async function inTransaction<T>(work: (session: Session) => Promise<T>): Promise<T> {
    const connection = await pool.connect()
    try {
      await connection.query('BEGIN')
      return await work(connection)
    } finally {
      await connection.query('ROLLBACK')
      connection.release()
    }
  }

  it('are created by migrate and serve each of pruneExpired’s statements', async () => {
    const fresh = schema()
    expect(await migrate(pool, { schema: fresh })).toEqual({ applied: VERSIONS, version: LATEST })
    expect(await pruneIndexes(pool, fresh)).toEqual(PRUNE_INDEXES)
    expect(await inTransaction((session) => indexesPlannedForPrune(session, fresh))).toEqual([
      ['keyward_api_keys_expires_on'],
      ['keyward_refresh_tokens_expires_on'],
      ['keyward_counters_reset_at'],
      [PENDING_TOTP_INDEX],
    ])
    expect(await inTransaction((session) => userIndexServesEndingSessions(session, fresh))).toBe(true)
  })

  it('are added to a schema at version 1 by several processes at once, exactly once', async () => {
    const upgraded = schema()
    await migrate(pool, { schema: upgraded })
    await downgradeToV1(pool, upgraded)
    const pools = [new Pool({ connectionString: url }), new Pool({ connectionString: url })]
    try {
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) => migrate(pools[i % 2] as Pool, { schema: upgraded })),
      )
      expect(results.filter((result) => result.applied.length > 0)).toEqual([
        { applied: after(1), version: LATEST },
      ])
    } finally {
      await Promise.all(pools.map((each) => each.end()))
    }
    const { rows } = await pool.query(`SELECT version FROM "${upgraded}".keyward_migrations ORDER BY version`)
    expect(rows).toEqual(VERSIONS.map((version) => ({ version })))
    expect(await pruneIndexes(pool, upgraded)).toEqual(PRUNE_INDEXES)
  })
})
