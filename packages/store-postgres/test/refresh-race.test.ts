import { createHash, randomUUID } from 'node:crypto'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Client, Pool } from 'pg'
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
 * instances (two pools). A trigger in the test's own schema stops one side inside its
 * transaction, on an advisory lock the test holds (the gate), until the other side is seen
 * waiting for it; then the gate opens. The interleaving is forced, and no step depends on timing.
 * PostgreSQL only: PGlite has one connection, so two transactions never overlap on it.
 */
describeWith('DATABASE_URL', 'postgres store: refresh token reuse under concurrent rotation', (url) => {
  const schema = randomSchema()
  // Named, so that pg_stat_activity tells the two instances and the gate apart.
  const names = { victim: `${schema}_victim`, attacker: `${schema}_attacker`, gate: `${schema}_gate` }
  const admin = new Pool({ connectionString: url })
  const gate = new Client({ connectionString: url, application_name: names.gate })
  const victimPool = new Pool({ connectionString: url, application_name: names.victim })
  const attackerPool = new Pool({ connectionString: url, application_name: names.attacker })
  const victim = postgresStore({ client: victimPool, schema })
  const attacker = postgresStore({ client: attackerPool, schema })
  const table = `"${schema}".keyward_refresh_tokens`
  // The gate's advisory lock key: the schema's own, so parallel runs never share it.
  const gateKey = `hashtextextended('${schema}.gate', 0)`

  beforeAll(async () => {
    await migrate(admin, { schema })
    await gate.connect()
    await admin.query(
      `CREATE FUNCTION "${schema}".test_gate() RETURNS trigger LANGUAGE plpgsql
       AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(${gateKey}); RETURN NULL; END $$`,
    )
  })
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await Promise.all([admin.end(), gate.end(), victimPool.end(), attackerPool.end()])
  })

  /**
   * Resolves once a backend of `waiter` waits for a lock that a backend of `holder` holds.
   * PostgreSQL announces no lock wait, so the lock table is read until it shows one; the wait
   * lasts until the gate opens, so no read can miss it.
   */
  const waitsFor = async (waiter: keyof typeof names, holder: keyof typeof names) => {
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      const { rows } = await admin.query(
        `SELECT 1 FROM pg_stat_activity w
         JOIN pg_stat_activity h ON h.pid = ANY (pg_blocking_pids(w.pid))
         WHERE w.application_name = $1 AND w.wait_event_type = 'Lock' AND h.application_name = $2`,
        [names[waiter], names[holder]],
      )
      if (rows.length > 0) return
    }
    throw new Error(`the ${waiter} never waited for a lock the ${holder} holds`)
  }

  /**
   * Runs `work` with the gate shut and a trigger on the refresh tokens that waits at it, for
   * each row, with its statement's transaction open; `open` lets those waiting through.
   */
  const withGate = async <T>(
    timing: 'AFTER INSERT' | 'AFTER DELETE',
    work: (open: () => Promise<void>) => Promise<T>,
  ) => {
    await gate.query(`SELECT pg_advisory_lock(${gateKey})`)
    let shut = true
    const open = async () => {
      if (!shut) return
      shut = false
      await gate.query(`SELECT pg_advisory_unlock(${gateKey})`)
    }
    await admin.query(
      `CREATE TRIGGER test_gate ${timing} ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".test_gate()`,
    )
    try {
      return await work(open)
    } finally {
      // Opened first: dropping the trigger waits for the transactions held at the gate.
      await open()
      await admin.query(`DROP TRIGGER test_gate ON ${table}`)
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
    const [rotation, reuse] = await withGate('AFTER INSERT', async (open) => {
      // The attacker's rotation inserts its successor, then waits at the gate with its
      // transaction open, holding the family's lock.
      const rotation = attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      await waitsFor('attacker', 'gate')
      // The victim presents the spent first token meanwhile: its revocation waits for the family.
      const reuse = victim.rotateRefreshToken(first.digest, next(), new Date())
      await waitsFor('victim', 'attacker')
      await open()
      return [await rotation, await reuse] as const
    })
    expect(rotation.status).toBe('rotated')
    expect(reuse.status).toBe('reused')
    expect(await rowsOf(first.familyId)).toEqual([])
    expect((await attacker.rotateRefreshToken(minted.digest, next(), new Date())).status).toBe('not_found')
  })

  it('mints no successor for a rotation that arrives while the family is being revoked', async () => {
    const { first, stolen } = await family()
    const minted = next()
    const [reuse, rotation] = await withGate('AFTER DELETE', async (open) => {
      // The victim's revocation deletes the family, then waits at the gate with its transaction
      // open, holding the family's lock.
      const reuse = victim.rotateRefreshToken(first.digest, next(), new Date())
      await waitsFor('victim', 'gate')
      // The attacker's rotation arrives meanwhile, and waits for the family.
      const rotation = attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      await waitsFor('attacker', 'victim')
      await open()
      return [await reuse, await rotation] as const
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
