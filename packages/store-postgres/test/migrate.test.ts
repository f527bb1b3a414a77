import { PGlite } from '@electric-sql/pglite'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Client, Pool } from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { keywardOver, randomSchema } from './support.js'

const TABLES = [
  'keyward_api_keys',
  'keyward_counters',
  'keyward_migrations',
  'keyward_refresh_tokens',
  'keyward_totp',
]

describe('migrate on PGlite', () => {
  // One database for these tests (PGlite takes seconds to start); each test has its own schema.
  const db = new PGlite()
  afterAll(() => db.close())

  it('creates the tables once, records the version, and does nothing the second time', async () => {
    expect(await migrate(db, { schema: 'auth' })).toEqual({ applied: [1, 2, 3, 4, 5], version: 5 })
    expect(await migrate(db, { schema: 'auth' })).toEqual({ applied: [], version: 5 })
    const { rows: versions } = await db.query(
      'SELECT version, name FROM auth.keyward_migrations ORDER BY version',
    )
    expect(versions).toEqual([
      { version: 1, name: expect.any(String) },
      { version: 2, name: expect.any(String) },
      { version: 3, name: expect.any(String) },
      { version: 4, name: expect.any(String) },
      { version: 5, name: expect.any(String) },
    ])
    const { rows: tables } = await db.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'auth' ORDER BY tablename",
    )
    expect(tables.map((row) => row.tablename)).toEqual(TABLES)
  })

  it('gives every column the store finds rows by an index, and no other', async () => {
    await migrate(db, { schema: 'indexed' })
    const { rows } = await db.query<{ indexdef: string }>(
      "SELECT indexdef FROM pg_indexes WHERE schemaname = 'indexed' ORDER BY indexname",
    )
    // One for each way the store finds rows: the request path's reads (a key by digest or id, a
    // refresh token by digest, a user's keys in order), the upserts' conflict targets, a family's
    // revocation, ending a user's sessions, and the prune's four. Without one a read scans the
    // table. last_used_on and count stay unindexed, so the batched last-use writes and a window's
    // increments remain HOT updates.
    const on = (table: string) => `ON indexed.${table} USING btree`
    expect(rows.map((row) => row.indexdef)).toEqual([
      `CREATE UNIQUE INDEX keyward_api_keys_digest_key ${on('keyward_api_keys')} (digest)`,
      `CREATE INDEX keyward_api_keys_expires_on ${on('keyward_api_keys')} (expires_on)`,
      `CREATE UNIQUE INDEX keyward_api_keys_pkey ${on('keyward_api_keys')} (id)`,
      `CREATE INDEX keyward_api_keys_user_id ${on('keyward_api_keys')} (user_id, created_on)`,
      `CREATE UNIQUE INDEX keyward_counters_pkey ${on('keyward_counters')} (bucket)`,
      `CREATE INDEX keyward_counters_reset_at ${on('keyward_counters')} (reset_at)`,
      `CREATE UNIQUE INDEX keyward_migrations_pkey ${on('keyward_migrations')} (version)`,
      `CREATE INDEX keyward_refresh_tokens_expires_on ${on('keyward_refresh_tokens')} (expires_on)`,
      `CREATE INDEX keyward_refresh_tokens_family_id ${on('keyward_refresh_tokens')} (family_id)`,
      `CREATE UNIQUE INDEX keyward_refresh_tokens_pkey ${on('keyward_refresh_tokens')} (digest)`,
      `CREATE INDEX keyward_refresh_tokens_user_id ${on('keyward_refresh_tokens')} (user_id)`,
      `CREATE INDEX keyward_totp_pending_created_on ${on('keyward_totp')} (created_on) WHERE (NOT enabled)`,
      `CREATE UNIQUE INDEX keyward_totp_pkey ${on('keyward_totp')} (user_id)`,
    ])
  })

  it("takes a schema named like a reserved word through a key's and a session's life: the statements quote it", async () => {
    expect(await migrate(db, { schema: 'user' })).toEqual({ applied: [1, 2, 3, 4, 5], version: 5 })
    const store = postgresStore({ client: db, schema: 'user' })
    const keyward = keywardOver(store)
    try {
      const issued = await keyward.issueKey('alice', { name: 'ci' })
      expect(await keyward.verifyKey(issued.key)).toEqual(expect.objectContaining({ ok: true }))
      const { refresh_token } = await keyward.authenticateWithApiKey(issued.key)
      await keyward.refreshTokens(refresh_token)
      await keyward.generateTotpKey('alice')
      await keyward.flushUsage()
      expect((await keyward.listKeys('alice')).map((key) => key.id)).toEqual([issued.id])
      await keyward.endSessions('alice')
      await keyward.resetTotp('alice')
      expect(await keyward.deleteKey('alice', { id: issued.id })).toEqual(
        expect.objectContaining({ id: issued.id }),
      )
      await store.pruneExpired(new Date())
      expect(await store.incrementCounter('bucket', 1000, new Date())).toEqual(
        expect.objectContaining({ count: 1 }),
      )
    } finally {
      await keyward.close()
    }
  })

  it('never migrates by itself: a store over an empty schema rejects, it does not answer null', async () => {
    const store = postgresStore({ client: db, schema: 'empty' })
    await expect(store.findKeyByDigest('0'.repeat(64))).rejects.toThrow(/does not exist/)
    await expect(store.incrementCounter('bucket', 1000, new Date())).rejects.toThrow(/does not exist/)
    const { rows } = await db.query("SELECT 1 FROM pg_namespace WHERE nspname = 'empty'")
    expect(rows).toEqual([])
  })

  it('refuses a schema newer than the package knows', async () => {
    await migrate(db, { schema: 'future' })
    // Several versions ahead: the message names the schema's version, the newest.
    await db.query(
      "INSERT INTO future.keyward_migrations (version, name) VALUES (99, 'from the future'), (6, 'next')",
    )
    await expect(migrate(db, { schema: 'future' })).rejects.toThrow(
      `keyward: schema "future" is at version 99, newer than this package's 5`,
    )
  })

  it('checks the schema name and the client at once, naming the option', async () => {
    const refusal = (option: string) => expect.objectContaining({ name: 'KeywardConfigError', option })
    expect(() => postgresStore({ client: db, schema: 'Bad-Name"; DROP' })).toThrow(refusal('schema'))
    await expect(migrate(db, { schema: '1st' })).rejects.toThrow(refusal('schema'))
    // PostgreSQL's own prefix: CREATE SCHEMA would fail with 42939, naming no option.
    await expect(migrate(db, { schema: 'pg_keyward' })).rejects.toThrow(refusal('schema'))
    expect(() => postgresStore({ client: db, schema: 'pg_keyward' })).toThrow(refusal('schema'))
    // Spliced into SQL: the whole name is checked, not a start of it, nor one past PostgreSQL's limit.
    expect(() => postgresStore({ client: db, schema: 'keyward"; DROP SCHEMA public; --' })).toThrow(
      refusal('schema'),
    )
    await expect(migrate(db, { schema: 'k'.repeat(49) })).rejects.toThrow(refusal('schema'))
    // The tables are quoted and kept as written, the LISTEN channel is not and would be folded.
    expect(() => postgresStore({ client: db, schema: 'Keyward' })).toThrow(refusal('schema'))
    // Only a string: another value's text could pass the check.
    // @ts-expect-error not a string
    expect(() => postgresStore({ client: db, schema: ['keyward'] })).toThrow(refusal('schema'))
    // @ts-expect-error not a client
    expect(() => postgresStore({ client: {} })).toThrow(refusal('client'))
    // @ts-expect-error not a client
    expect(() => postgresStore({ client: null })).toThrow(refusal('client'))
    // @ts-expect-error no client
    expect(() => postgresStore({ schema: 'keyward' })).toThrow(refusal('client'))
    // A pg.Client is one connection, not a pool to check connections out of.
    // @ts-expect-error not a pool
    expect(() => postgresStore({ client: new Client() })).toThrow(refusal('client'))
    // @ts-expect-error no options
    expect(() => postgresStore()).toThrow(refusal('options'))
    // @ts-expect-error no options
    expect(() => postgresStore(null)).toThrow(refusal('options'))
  })
})

describeWith('DATABASE_URL', 'migrate on PostgreSQL', (url) => {
  const schema = randomSchema()
  const pools = [new Pool({ connectionString: url }), new Pool({ connectionString: url })]
  afterAll(async () => {
    await pools[0]?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await Promise.all(pools.map((pool) => pool.end()))
  })

  it('is safe when several processes migrate the same schema at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => migrate(pools[i % 2] as Pool, { schema })),
    )
    expect(results.filter((result) => result.applied.length > 0)).toEqual([
      { applied: [1, 2, 3, 4, 5], version: 5 },
    ])
    const { rows } = await (pools[0] as Pool).query(
      `SELECT version FROM "${schema}".keyward_migrations ORDER BY version`,
    )
    expect(rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }])
    const { rows: tables } = await (pools[1] as Pool).query(
      'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
      [schema],
    )
    expect(tables.map((row) => row.tablename)).toEqual(TABLES)
  })

  it('finds a current schema current for a role that may use its tables but not create in it', async () => {
    const current = randomSchema()
    const role = `keyward_app_${current}`
    const admin = pools[0] as Pool
    await migrate(admin, { schema: current })
    await admin.query(`CREATE ROLE ${role} LOGIN`)
    await admin.query(`GRANT USAGE ON SCHEMA "${current}" TO ${role}`)
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${current}" TO ${role}`)
    const asApp = new URL(url)
    asApp.username = role
    const app = new Pool({ connectionString: asApp.toString() })
    try {
      await expect(app.query(`CREATE TABLE "${current}".probe (id int)`)).rejects.toThrow(/permission denied/)
      expect(await migrate(app, { schema: current })).toEqual({ applied: [], version: 5 })
      expect(await postgresStore({ client: app, schema: current }).findKeyById('missing')).toBeNull()
    } finally {
      await app.end()
      await admin.query(`DROP SCHEMA IF EXISTS "${current}" CASCADE`)
      await admin.query(`DROP OWNED BY ${role}`)
      await admin.query(`DROP ROLE ${role}`)
    }
  })

  for (const isolation of ['repeatable read', 'serializable']) {
    it(`is safe for processes queued on the lock when the default isolation is ${isolation}`, async () => {
      const queued = randomSchema()
      const admin = pools[0] as Pool
      const others = [1, 2, 3].map(
        () =>
          new Pool({
            connectionString: url,
            options: `-c default_transaction_isolation=${isolation.replace(' ', '\\ ')}`,
          }),
      )
      // Hold the migration lock first, so every migrate() waits on it with its transaction
      // already open: the forced version of several processes starting at once.
      const holder = await admin.connect()
      try {
        await holder.query('BEGIN')
        await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
          `keyward.migrate.${queued}`,
        ])
        const running = others.map((pool) => migrate(pool, { schema: queued }))
        for (let i = 0; ; i++) {
          const { rows } = await admin.query(
            `SELECT count(*)::int AS waiting FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
            [`keyward.migrate.${queued}`],
          )
          if (rows[0].waiting >= others.length) break
          if (i > 400) throw new Error('the migrations never queued on the lock')
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
        await holder.query('COMMIT')
        const results = await Promise.all(running)
        expect(results.filter((result) => result.applied.length > 0)).toEqual([
          { applied: [1, 2, 3, 4, 5], version: 5 },
        ])
        expect(results.every((result) => result.version === 5)).toBe(true)
        const store = postgresStore({ client: others[0] as Pool, schema: queued })
        expect(await store.findKeyById('missing')).toBeNull()
      } finally {
        holder.release()
        await admin.query(`DROP SCHEMA IF EXISTS "${queued}" CASCADE`)
        await Promise.all(others.map((pool) => pool.end()))
      }
    })
  }
})
