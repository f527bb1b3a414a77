import { migrate, postgresStore } from '@keyward/store-postgres'
import { Client, Pool } from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { randomSchema } from './support.js'

/**
 * Two first codes of one pending TOTP enrolment, on two instances (two pools), the second
 * arriving while the first's transaction is still open. A trigger in the test's own schema stops
 * the first inside its transaction, on an advisory lock the test holds (the gate), until the
 * second is seen waiting for it; then the gate opens. The interleaving is forced, and no step
 * depends on timing. PostgreSQL only: PGlite has one connection, so two transactions never overlap.
 */
describeWith('DATABASE_URL', 'postgres store: a TOTP enrolment enabled by two codes at once', (url) => {
  const schema = randomSchema()
  // Named, so that pg_stat_activity tells the two instances and the gate apart.
  const names = { first: `${schema}_first`, second: `${schema}_second`, gate: `${schema}_gate` }
  const admin = new Pool({ connectionString: url })
  const gate = new Client({ connectionString: url, application_name: names.gate })
  const firstPool = new Pool({ connectionString: url, application_name: names.first })
  const secondPool = new Pool({ connectionString: url, application_name: names.second })
  const first = postgresStore({ client: firstPool, schema })
  const second = postgresStore({ client: secondPool, schema })
  const table = `"${schema}".keyward_totp`
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
    await Promise.all([admin.end(), gate.end(), firstPool.end(), secondPool.end()])
  })

  /** Resolves once a backend of `waiter` waits for a lock that a backend of `holder` holds. */
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

  it('says the second code, arriving while the first enables the enrolment, was accepted, not that it enabled it too', async () => {
    const userId = 'enrolling'
    await first.putPendingTotp({
      userId,
      sealedSecret: 'v1.sealed',
      enabled: false,
      lastStep: null,
      createdOn: new Date(),
    })
    await gate.query(`SELECT pg_advisory_lock(${gateKey})`)
    await admin.query(
      `CREATE TRIGGER test_gate AFTER UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION "${schema}".test_gate()`,
    )
    try {
      // The first code enables the enrolment, then waits at the gate with its transaction open.
      const enabling = first.acceptTotpStep(userId, 'v1.sealed', 100)
      await waitsFor('first', 'gate')
      // The next code arrives meanwhile, and waits for the row.
      const following = second.acceptTotpStep(userId, 'v1.sealed', 101)
      await waitsFor('second', 'first')
      await gate.query(`SELECT pg_advisory_unlock(${gateKey})`)
      // Told 'enabled' twice, keyward would emit totp.enabled twice for one enrolment.
      expect([await enabling, await following]).toEqual(['enabled', 'accepted'])
    } finally {
      await gate.query(`SELECT pg_advisory_unlock_all()`)
      await admin.query(`DROP TRIGGER test_gate ON ${table}`)
    }
    expect(await first.getTotp(userId)).toMatchObject({ enabled: true, lastStep: 101 })
  })
})
