import type { PostgresClient } from './client.js'
import { type Names, names } from './names.js'
import { queryRunner } from './runner.js'

interface Migration {
  readonly version: number
  readonly name: string
  statements(tables: Names): string[]
}

/** Ordered, append-only: a released migration is never edited, a change is a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys, refresh tokens, totp, counters',
    statements: (t) => [
      `CREATE TABLE ${t.keys} (
        id text PRIMARY KEY,
        user_id text NOT NULL,
        name text NOT NULL,
        digest text NOT NULL UNIQUE,
        preview text NOT NULL,
        created_on timestamptz NOT NULL,
        expires_on timestamptz NOT NULL,
        last_used_on timestamptz
      )`,
      `CREATE INDEX keyward_api_keys_user_id ON ${t.keys} (user_id, created_on)`,
      `CREATE TABLE ${t.refreshTokens} (
        digest text PRIMARY KEY,
        family_id text NOT NULL,
        user_id text NOT NULL,
        key_id text,
        created_on timestamptz NOT NULL,
        expires_on timestamptz NOT NULL,
        spent_at timestamptz
      )`,
      `CREATE INDEX keyward_refresh_tokens_family_id ON ${t.refreshTokens} (family_id)`,
      `CREATE TABLE ${t.totp} (
        user_id text PRIMARY KEY,
        sealed_secret text NOT NULL,
        enabled boolean NOT NULL,
        last_step bigint,
        created_on timestamptz NOT NULL
      )`,
      `CREATE TABLE ${t.counters} (
        bucket text PRIMARY KEY,
        count integer NOT NULL,
        reset_at timestamptz NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'indexes for pruneExpired',
    // Without them the hourly prune reads every row of both tables. A counter's index entry
    // changes only when its window starts again; the increments within a window stay HOT updates.
    statements: (t) => [
      `CREATE INDEX IF NOT EXISTS keyward_refresh_tokens_expires_on ON ${t.refreshTokens} (expires_on)`,
      `CREATE INDEX IF NOT EXISTS keyward_counters_reset_at ON ${t.counters} (reset_at)`,
    ],
  },
  {
    version: 3,
    name: 'index for pruning expired keys',
    // last_used_on is not indexed, so the batched last-use writes stay HOT updates.
    statements: (t) => [`CREATE INDEX IF NOT EXISTS keyward_api_keys_expires_on ON ${t.keys} (expires_on)`],
  },
  {
    version: 4,
    name: "index for ending a user's sessions",
    statements: (t) => [
      `CREATE INDEX IF NOT EXISTS keyward_refresh_tokens_user_id ON ${t.refreshTokens} (user_id)`,
    ],
  },
  {
    version: 5,
    name: 'index for pruning pending TOTP enrolments',
    // Partial: it holds only the pending rows, so the prune never reads the enabled ones (nearly
    // all, and never pruned), and accepting a code of an enabled one stays a HOT update.
    statements: (t) => [
      `CREATE INDEX IF NOT EXISTS keyward_totp_pending_created_on ON ${t.totp} (created_on) WHERE NOT enabled`,
    ],
  },
]

export interface MigrateOptions {
  /** The schema holding keyward's tables; created if missing. Default `public`. */
  readonly schema?: string | undefined
}

export interface MigrateResult {
  /** Versions applied by this call, in order; empty when the schema was already current. */
  readonly applied: number[]
  /** The schema's version now. */
  readonly version: number
}

/**
 * Creates or upgrades keyward's tables. Run it on deploy or at start-up, explicitly: the store
 * never migrates by itself. Idempotent, and safe when several processes run it at once (they
 * queue on a transaction-level advisory lock; everything runs in one transaction).
 * The transaction is READ COMMITTED whatever the database's default: the statements after the
 * lock must see what the process that held it before committed (the schema, the versions),
 * which a snapshot taken by the lock statement under REPEATABLE READ would hide.
 */
export async function migrate(client: PostgresClient, options: MigrateOptions = {}): Promise<MigrateResult> {
  const tables = names(options.schema)
  return queryRunner(client).transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `keyward.migrate.${tables.schema}`,
    ])
    // CREATE SCHEMA IF NOT EXISTS would still need CREATE on the database, which a role that
    // owns only an existing schema (such as public) may lack.
    const schemas = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [tables.schema])
    if (schemas.length === 0) await tx.query(`CREATE SCHEMA "${tables.schema}"`)
    // So would CREATE TABLE IF NOT EXISTS on the schema, even with the table there: a role that
    // only uses what an administrator migrated finds the schema current, and changes nothing.
    const [registry] = await tx.query<{ present: string }>('SELECT to_regclass($1) IS NOT NULL AS present', [
      tables.migrations,
    ])
    // The runner reads every value as PostgreSQL's text: a boolean is 't' or 'f'.
    if (registry?.present !== 't') {
      await tx.query(`CREATE TABLE IF NOT EXISTS ${tables.migrations} (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_on timestamptz NOT NULL DEFAULT now()
      )`)
    }
    const done = new Set(
      (await tx.query<{ version: string }>(`SELECT version FROM ${tables.migrations}`)).map((row) =>
        Number(row.version),
      ),
    )
    const latest = MIGRATIONS.at(-1)?.version ?? 0
    const newer = [...done].filter((version) => version > latest)
    if (newer.length > 0) {
      throw new Error(
        `keyward: schema "${tables.schema}" is at version ${Math.max(...newer)}, newer than this package's ${latest}`,
      )
    }
    const applied: number[] = []
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue
      for (const statement of migration.statements(tables)) await tx.query(statement)
      await tx.query(`INSERT INTO ${tables.migrations} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ])
      applied.push(migration.version)
    }
    return { applied, version: latest }
  })
}
