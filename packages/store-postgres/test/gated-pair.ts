import { migrate, postgresStore } from '@keyward/store-postgres'
import { Client, Pool } from 'pg'
import { afterAll, beforeAll } from 'vitest'
import { randomSchema } from './support.js'

type Timing = 'AFTER INSERT' | 'AFTER UPDATE' | 'AFTER DELETE'

/**
 * Two instances of the store (two pools) on a schema of their own, and a way to force how their
 * transactions interleave. A trigger in the schema stops one side inside its transaction, on an
 * advisory lock the test holds (the gate), until the other side is seen waiting for it; then the
 * gate opens. No step depends on timing. PostgreSQL only: PGlite has one connection, so two
 * transactions never overlap on it. Registers its own setup and teardown: call it in a describe.
 */
export function gatedPair<Role extends string>(url: string, roles: readonly [Role, Role]) {
  const schema = randomSchema()
  // Named, so that pg_stat_activity tells the two instances and the gate apart.
  const names = Object.fromEntries([...roles, 'gate'].map((role) => [role, `${schema}_${role}`])) as Record<
    Role | 'gate',
    string
  >
  const admin = new Pool({ connectionString: url })
  const gate = new Client({ connectionString: url, application_name: names.gate })
  const pools = roles.map((role) => new Pool({ connectionString: url, application_name: names[role] }))
  const stores = Object.fromEntries(
    roles.map((role, index) => [role, postgresStore({ client: pools[index] as Pool, schema })]),
  ) as Record<Role, ReturnType<typeof postgresStore>>
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
    await Promise.all([admin.end(), gate.end(), ...pools.map((pool) => pool.end())])
  })

  /**
   * Resolves once a backend of `waiter` waits for a lock that a backend of `holder` holds.
   * PostgreSQL announces no lock wait, so the lock table is read until it shows one; the wait
   * lasts until the gate opens, so no read can miss it.
   */
  const waitsFor = async (waiter: Role | 'gate', holder: Role | 'gate') => {
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
   * Runs `work` with the gate shut and a trigger on `table` that waits at it, for each row, with
   * its statement's transaction open; `open` lets those waiting through.
   */
  const withGate = async <T>(
    table: string,
    timing: Timing,
    work: (open: () => Promise<void>) => Promise<T>,
  ) => {
    const qualified = `"${schema}".${table}`
    await gate.query(`SELECT pg_advisory_lock(${gateKey})`)
    let shut = true
    const open = async () => {
      if (!shut) return
      shut = false
      await gate.query(`SELECT pg_advisory_unlock(${gateKey})`)
    }
    await admin.query(
      `CREATE TRIGGER test_gate ${timing} ON ${qualified} FOR EACH ROW EXECUTE FUNCTION "${schema}".test_gate()`,
    )
    try {
      return await work(open)
    } finally {
      // Opened first: dropping the trigger waits for the transactions held at the gate.
      await open()
      await admin.query(`DROP TRIGGER test_gate ON ${qualified}`)
    }
  }

  return { schema, admin, stores, waitsFor, withGate }
}
