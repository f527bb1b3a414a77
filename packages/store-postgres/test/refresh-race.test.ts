import { createHash, randomUUID } from 'node:crypto'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { randomSchema } from './support.js'

const DAY = 86_400_000
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex')
const next = () => ({
  digest: sha256Hex(randomUUID()),
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + DAY),
})

/**
 * Reuse detection against a rotation of the same family running at that moment, on two
 * instances (two pools). A trigger in the test's own schema keeps one side's transaction open
 * at a chosen point, so the interleaving is forced rather than hoped for.
 */
describeWith('DATABASE_URL', 'postgres store: refresh token reuse under concurrent rotation', (url) => {
  const schema = randomSchema()
  const admin = new Pool({ connectionString: url })
  const victimPool = new Pool({ connectionString: url })
  const attackerPool = new Pool({ connectionString: url })
  const victim = postgresStore({ client: victimPool, schema })
  const attacker = postgresStore({ client: attackerPool, schema })
  const table = `"${schema}".keyward_refresh_tokens`

  beforeAll(async () => {
    await migrate(admin, { schema })
    await admin.query(
      `CREATE FUNCTION "${schema}".test_slow() RETURNS trigger LANGUAGE plpgsql
       AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$`,
    )
  })
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await Promise.all([admin.end(), victimPool.end(), attackerPool.end()])
  })

  /** Resolves once some backend is asleep in the trigger. */
  const asleepInTrigger = async () => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await admin.query(
        `SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE $1`,
        [`%${schema}%`],
      )
      if (rows.length > 0) return
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    throw new Error('the delayed statement never reached the trigger')
  }

  const withTrigger = async <T>(timing: 'AFTER INSERT' | 'AFTER DELETE', work: () => Promise<T>) => {
    await admin.query(
      `CREATE TRIGGER test_slow ${timing} ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".test_slow()`,
    )
    try {
      return await work()
    } finally {
      await admin.query(`DROP TRIGGER test_slow ON ${table}`)
    }
  }

  const family = async () => {
    const first = { ...next(), familyId: randomUUID(), userId: 'u', keyId: null }
    await victim.insertRefreshToken(first)
    const stolen = next()
    expect((await attacker.rotateRefreshToken(first.digest, stolen, new Date())).status).toBe('rotated')
    return { first, stolen }
  }

  const rowsOf = async (familyId: string) =>
    (await admin.query(`SELECT digest FROM ${table} WHERE family_id = $1`, [familyId])).rows

  it('revokes a successor minted by a rotation that commits while the reuse waits', async () => {
    const { first, stolen } = await family()
    const minted = next()
    const [rotation, reuse] = await withTrigger('AFTER INSERT', async () => {
      // The attacker's rotation inserts its successor, then sleeps with its transaction open.
      const rotation = attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      await asleepInTrigger()
      // The victim presents the spent first token meanwhile.
      const reuse = await victim.rotateRefreshToken(first.digest, next(), new Date())
      return [await rotation, reuse] as const
    })
    expect(rotation.status).toBe('rotated')
    expect(reuse.status).toBe('reused')
    expect(await rowsOf(first.familyId)).toEqual([])
    expect((await attacker.rotateRefreshToken(minted.digest, next(), new Date())).status).toBe('not_found')
  })

  it('mints no successor for a rotation that arrives while the family is being revoked', async () => {
    const { first, stolen } = await family()
    const minted = next()
    const [reuse, rotation] = await withTrigger('AFTER DELETE', async () => {
      // The victim's revocation deletes the family, then sleeps with its transaction open.
      const reuse = victim.rotateRefreshToken(first.digest, next(), new Date())
      await asleepInTrigger()
      const rotation = await attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      return [await reuse, rotation] as const
    })
    expect(reuse.status).toBe('reused')
    expect(rotation.status).not.toBe('rotated')
    expect(await rowsOf(first.familyId)).toEqual([])
    expect((await attacker.rotateRefreshToken(minted.digest, next(), new Date())).status).toBe('not_found')
  })

  it('leaves no live member in any family revoked during concurrent rotations (unforced timing)', async () => {
    const outcomes: Record<string, number> = {}
    for (let i = 0; i < 150; i++) {
      const { first, stolen } = await family()
      const minted = next()
      const [reuse] = await Promise.all([
        victim.rotateRefreshToken(first.digest, next(), new Date()),
        attacker.rotateRefreshToken(stolen.digest, minted, new Date()),
      ])
      const after = await attacker.rotateRefreshToken(minted.digest, next(), new Date())
      const outcome = `${reuse.status}/${after.status}`
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    expect(outcomes).toEqual({ 'reused/not_found': 150 })
  })
})
