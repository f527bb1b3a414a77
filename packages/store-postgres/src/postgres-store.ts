import { createHash } from 'node:crypto'
import {
  type ApiKeyRecord,
  decodeStoreEvent,
  type KeyStore,
  KeywardConfigError,
  PENDING_TOTP_LIFETIME_MS,
  type RefreshTokenRecord,
  type RotateRefreshResult,
  type TotpRecord,
} from '@keyward/core'
import type { PostgresClient } from './client.js'
import { type Names, names } from './names.js'
import { type PreparedStatement, queryRunner } from './runner.js'

export interface PostgresStoreOptions {
  /** A `pg.Pool` or a `PGlite` instance. The host owns it: the store never ends or closes it. */
  readonly client: PostgresClient
  /** The schema `migrate` created the tables in. Default `public`. */
  readonly schema?: string | undefined
}

/**
 * Times are read back as whole epoch milliseconds: an integer's text is exact, where a timestamp's
 * depends on the session's DateStyle and TimeZone and a float's on its extra_float_digits (a
 * negative one rounded an expiry years later). The columns stay timestamptz.
 */
const ms = (column: string, table = '') =>
  `round(extract(epoch from ${table}${column}) * 1000)::int8 AS ${column}`
/** The advisory lock key (64-bit) serializing rotation and revocation of one refresh family. */
const familyLock = (prefix: string, familyId: string) => `hashtextextended(${prefix} || ${familyId}, 0)`
/** Rows as the runner reads them: every value PostgreSQL's text (see runner.ts). */
type Text = string
const toDate = (epochMs: Text) => new Date(Number(epochMs))
/** A boolean's text. */
const isTrue = (value: Text) => value === 't'
const iso = (date: Date) => date.toISOString()

/** Rows one prune statement deletes at most: a backlog is many short statements, never one long one. */
export const PRUNE_BATCH = 1000

/**
 * One batch of the rows of `table` that are `expired` (a condition on $1, the prune's time), with
 * how many went. Rows another statement holds are skipped, not waited for, so the prune never
 * waits on a lock and never deadlocks (the batched last-use writes lock keys in id order, the
 * prune in another). A row changed by a statement that commits first is checked again as it is
 * then (READ COMMITTED): a pending enrolment enabled or replaced meanwhile is not deleted.
 */
const pruneBatch = (table: string, key: string, expired: string) =>
  `WITH doomed AS (
     SELECT ${key} FROM ${table} WHERE ${expired} LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED
   ), deleted AS (
     DELETE FROM ${table} AS gone USING doomed WHERE gone.${key} = doomed.${key} RETURNING 1
   )
   SELECT count(*)::int AS deleted FROM deleted`

/**
 * What `pruneExpired` runs, with the time as $1; each is served by an index of migration 2, 3 or
 * 5. An expired key is refused everywhere already, as Redis drops one by itself; deleting it needs
 * no event. A pending TOTP enrolment goes once its lifetime is over (keyward refuses it from then
 * on), an enabled one never.
 */
export const pruneStatements = (t: Names) => [
  pruneBatch(t.keys, 'id', 'expires_on <= $1'),
  pruneBatch(t.refreshTokens, 'digest', 'expires_on <= $1'),
  pruneBatch(t.counters, 'bucket', 'reset_at <= $1'),
  pruneBatch(
    t.totp,
    'user_id',
    `NOT enabled AND created_on <= $1::timestamptz - interval '${PENDING_TOTP_LIFETIME_MS} milliseconds'`,
  ),
]

/** Families of a user that one transaction of `revokeUserRefreshTokens` locks and revokes. */
export const USER_REVOKE_BATCH = 500

/** The next batch of a user's families to revoke, found through migration 4's index. */
export const userFamiliesSelect = (t: Names) =>
  `SELECT DISTINCT family_id FROM ${t.refreshTokens} WHERE user_id = $1 ORDER BY family_id LIMIT ${USER_REVOKE_BATCH}`

/** Named after its text, so stores on different schemas sharing a pool never clash. */
const prepare = (text: string): PreparedStatement => ({
  name: `keyward_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`,
  text,
})

interface KeyRow {
  id: Text
  user_id: Text
  name: Text
  digest: Text
  preview: Text
  created_on: Text
  expires_on: Text
  last_used_on: Text | null
}

interface RefreshRow {
  digest: Text
  family_id: Text
  user_id: Text
  key_id: Text | null
  created_on: Text
  expires_on: Text
}

interface TotpRow {
  user_id: Text
  sealed_secret: Text
  enabled: Text
  last_step: Text | null
  created_on: Text
}

interface CounterRow {
  count: Text
  reset_at: Text
}

const keyRecord = (row: KeyRow): ApiKeyRecord => ({
  id: row.id,
  userId: row.user_id,
  name: row.name,
  digest: row.digest,
  preview: row.preview,
  createdOn: toDate(row.created_on),
  expiresOn: toDate(row.expires_on),
  lastUsedOn: row.last_used_on === null ? null : toDate(row.last_used_on),
})

const refreshRecord = (row: RefreshRow): RefreshTokenRecord => ({
  digest: row.digest,
  familyId: row.family_id,
  userId: row.user_id,
  keyId: row.key_id,
  createdOn: toDate(row.created_on),
  expiresOn: toDate(row.expires_on),
})

const totpRecord = (row: TotpRow): TotpRecord => ({
  userId: row.user_id,
  sealedSecret: row.sealed_secret,
  enabled: isTrue(row.enabled),
  lastStep: row.last_step === null ? null : Number(row.last_step),
  createdOn: toDate(row.created_on),
})

const counterHit = (row: CounterRow) => ({ count: Number(row.count), resetAt: toDate(row.reset_at) })

/** A store on PostgreSQL: its prune and its subscription are always there, for a host to call. */
export type PostgresStore = KeyStore & Required<Pick<KeyStore, 'pruneExpired' | 'subscribe'>>

/**
 * A KeyStore in PostgreSQL (node-postgres) or PGlite, over tables created by `migrate`.
 * Every operation that must be atomic is a single statement, except revoking a refresh family
 * (a READ COMMITTED transaction under the family's advisory lock); key deletions are announced
 * to every instance with NOTIFY on a channel named after the schema. The single statements
 * assume READ COMMITTED, PostgreSQL's default (see the README).
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  if (typeof options !== 'object' || options === null)
    throw new KeywardConfigError(
      'options',
      'of postgresStore() must be an object: postgresStore({ client, schema? })',
    )
  const t = names(options.schema)
  const db = queryRunner(options.client)
  const keyColumns = `id, user_id, name, digest, preview, ${ms('created_on')}, ${ms('expires_on')}, ${ms('last_used_on')}`
  const refreshColumns = `digest, family_id, user_id, key_id, ${ms('created_on')}, ${ms('expires_on')}`
  const totpColumns = `user_id, sealed_secret, enabled, last_step, ${ms('created_on')}`
  const keyByDigest = prepare(`SELECT ${keyColumns} FROM ${t.keys} WHERE digest = $1`)
  const keyById = prepare(`SELECT ${keyColumns} FROM ${t.keys} WHERE id = $1`)
  // Per schema, so stores on different schemas never wait on each other's families.
  const familyLockPrefix = `keyward.refresh_family.${t.schema}.`

  return {
    async insertKey(record) {
      await db.query(
        `INSERT INTO ${t.keys} (id, user_id, name, digest, preview, created_on, expires_on, last_used_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          record.id,
          record.userId,
          record.name,
          record.digest,
          record.preview,
          iso(record.createdOn),
          iso(record.expiresOn),
          record.lastUsedOn === null ? null : iso(record.lastUsedOn),
        ],
      )
    },

    async findKeyByDigest(digest) {
      const [row] = await db.prepared<KeyRow>(keyByDigest, [digest])
      return row === undefined ? null : keyRecord(row)
    },

    async findKeyById(id) {
      const [row] = await db.prepared<KeyRow>(keyById, [id])
      return row === undefined ? null : keyRecord(row)
    },

    async listKeys(userId) {
      const rows = await db.query<KeyRow>(
        `SELECT ${keyColumns} FROM ${t.keys} WHERE user_id = $1 ORDER BY created_on, id`,
        [userId],
      )
      return rows.map(keyRecord)
    },

    async deleteKey(userId, selector) {
      const [column, value] = 'id' in selector ? ['id', selector.id] : ['digest', selector.digest]
      // One statement: the row goes and the notification is queued in the same transaction,
      // so it is sent exactly when the deletion commits. Of two simultaneous deletions, the
      // second finds no row.
      const [row] = await db.query<KeyRow>(
        `WITH deleted AS (DELETE FROM ${t.keys} WHERE user_id = $1 AND ${column} = $2 RETURNING *)
         SELECT deleted.id, user_id, name, digest, preview,
           ${ms('created_on', 'deleted.')}, ${ms('expires_on', 'deleted.')}, ${ms('last_used_on', 'deleted.')},
           pg_notify($3, json_build_object('type', 'key.deleted', 'keyId', deleted.id, 'digest', deleted.digest)::text) AS notified
         FROM deleted`,
        [userId, value, t.channel],
      )
      return row === undefined ? null : keyRecord(row)
    },

    async recordKeyUsage(usage) {
      if (usage.length === 0) return
      // Rows are locked in id order first, so two instances flushing overlapping batches queue
      // behind each other instead of deadlocking.
      await db.query(
        `WITH used AS (
           SELECT id, max(used_on) AS used_on
           FROM unnest($1::text[], $2::timestamptz[]) AS batch(id, used_on) GROUP BY id
         ), locked AS MATERIALIZED (
           SELECT k.id FROM ${t.keys} k JOIN used ON used.id = k.id ORDER BY k.id FOR UPDATE OF k
         )
         UPDATE ${t.keys} AS k SET last_used_on = GREATEST(k.last_used_on, used.used_on)
         FROM used JOIN locked ON locked.id = used.id
         WHERE k.id = used.id AND (k.last_used_on IS NULL OR k.last_used_on < used.used_on)`,
        [usage.map((entry) => entry.id), usage.map((entry) => iso(entry.lastUsedOn))],
      )
    },

    async pruneExpired(now, signal) {
      // Each table on its own: one that fails (a statement timeout, say) leaves the others pruned.
      // Once keyward closes (`signal`), no further batch: the next prune goes on from there.
      const failures: unknown[] = []
      for (const statement of pruneStatements(t)) {
        try {
          let deleted = PRUNE_BATCH
          while (deleted === PRUNE_BATCH && signal?.aborted !== true) {
            const [row] = await db.query<{ deleted: Text }>(statement, [iso(now)])
            deleted = Number(row?.deleted ?? 0)
          }
        } catch (error) {
          failures.push(error)
        }
      }
      // Every table's failure reaches the operator's error event, not only the first.
      if (failures.length === 1) throw failures[0]
      if (failures.length > 1)
        throw new AggregateError(failures, `keyward: pruning failed on ${failures.length} tables`)
    },

    async insertRefreshToken(record) {
      await db.query(
        `INSERT INTO ${t.refreshTokens} (digest, family_id, user_id, key_id, created_on, expires_on)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          record.digest,
          record.familyId,
          record.userId,
          record.keyId,
          iso(record.createdOn),
          iso(record.expiresOn),
        ],
      )
    },

    async findRefreshToken(digest, now) {
      const [row] = await db.query<RefreshRow>(
        `SELECT ${refreshColumns} FROM ${t.refreshTokens} WHERE digest = $1 AND expires_on > $2::timestamptz`,
        [digest, iso(now)],
      )
      return row === undefined ? null : refreshRecord(row)
    },

    async rotateRefreshToken(digest, next, now): Promise<RotateRefreshResult> {
      // Spending and storing the successor is one statement: of two simultaneous redemptions,
      // the second waits on the row lock, then sees spent_at set and matches nothing. Before
      // it touches the row it takes its family's advisory lock (held to commit), which the
      // revocation below also takes before it reads the family: a rotation's successor is
      // therefore either committed before the revocation looks, or never stored.
      const [row] = await db.query<RefreshRow & { rotated: Text }>(
        `WITH family AS MATERIALIZED (
           SELECT family_id, pg_advisory_xact_lock(${familyLock('$6', 'family_id')}) AS locked
           FROM ${t.refreshTokens}
           WHERE digest = $1 AND spent_at IS NULL AND expires_on > $2::timestamptz
         ), spent AS (
           UPDATE ${t.refreshTokens} SET spent_at = $2::timestamptz
           WHERE digest = $1 AND spent_at IS NULL AND expires_on > $2::timestamptz
             AND family_id = (SELECT family_id FROM family)
           RETURNING *
         ), successor AS (
           INSERT INTO ${t.refreshTokens} (digest, family_id, user_id, key_id, created_on, expires_on)
           SELECT $3, family_id, user_id, key_id, $4::timestamptz, $5::timestamptz FROM spent
         )
         SELECT ${refreshColumns}, true AS rotated FROM spent
         UNION ALL
         SELECT ${refreshColumns}, false AS rotated FROM ${t.refreshTokens}
         WHERE digest = $1 AND expires_on > $2::timestamptz AND NOT EXISTS (SELECT FROM spent)`,
        [digest, iso(now), next.digest, iso(next.createdOn), iso(next.expiresOn), familyLockPrefix],
      )
      if (row === undefined) return { status: 'not_found' } // unknown or expired: one round trip
      if (isTrue(row.rotated)) return { status: 'rotated', previous: refreshRecord(row) }
      // Not spent by us: already spent (reuse), or spent or revoked by another call just now.
      // A reuse revokes the family, successors included. The revocation first waits for the
      // family's lock, so no rotation of a member is in flight; then, READ COMMITTED, the
      // DELETE's snapshot is taken after every earlier rotation committed and sees its
      // successor, and later rotations find their token gone. Between the statements a token
      // can only go from live to spent or from spent to revoked, and both answers stay right.
      const reused = await db.transaction(async (tx) => {
        const locked = await tx.query(
          `SELECT pg_advisory_xact_lock(${familyLock('$3', 'family_id')}) AS locked
           FROM ${t.refreshTokens}
           WHERE digest = $1 AND spent_at IS NOT NULL AND expires_on > $2::timestamptz`,
          [digest, iso(now), familyLockPrefix],
        )
        if (locked.length === 0) return undefined
        const [revoked] = await tx.query<RefreshRow>(
          `WITH reused AS (
             SELECT * FROM ${t.refreshTokens}
             WHERE digest = $1 AND spent_at IS NOT NULL AND expires_on > $2::timestamptz
           ), revoked AS (
             DELETE FROM ${t.refreshTokens} WHERE family_id IN (SELECT family_id FROM reused)
           )
           SELECT ${refreshColumns} FROM reused`,
          [digest, iso(now)],
        )
        return revoked
      })
      return reused === undefined
        ? { status: 'not_found' }
        : { status: 'reused', previous: refreshRecord(reused) }
    },

    async revokeUserRefreshTokens(userId) {
      // As a reuse revokes one family: under the family's lock, so that a rotation in flight
      // commits its successor before the DELETE's snapshot (READ COMMITTED) is taken, and a later
      // one finds its token gone. The locks are taken in family order (two revocations never
      // deadlock), a batch per transaction: each lock holds an entry of the server's shared lock
      // table (max_locks_per_transaction per connection), which a user's thousands of sessions
      // in one transaction would run out of, for every session of the server.
      for (;;) {
        const revoked = await db.transaction(async (tx) => {
          const families = await tx.query<{ family_id: Text }>(
            `SELECT family_id, pg_advisory_xact_lock(${familyLock('$2', 'family_id')}) AS locked
             FROM (${userFamiliesSelect(t)}) AS families`,
            [userId, familyLockPrefix],
          )
          if (families.length > 0)
            await tx.query(
              `DELETE FROM ${t.refreshTokens} WHERE user_id = $1 AND family_id = ANY($2::text[])`,
              [userId, families.map((row) => row.family_id)],
            )
          return families.length
        })
        if (revoked < USER_REVOKE_BATCH) return
      }
    },

    async getTotp(userId) {
      const [row] = await db.query<TotpRow>(`SELECT ${totpColumns} FROM ${t.totp} WHERE user_id = $1`, [
        userId,
      ])
      return row === undefined ? null : totpRecord(row)
    },

    async putPendingTotp(record) {
      const rows = await db.query(
        `INSERT INTO ${t.totp} AS totp (user_id, sealed_secret, enabled, last_step, created_on)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO UPDATE SET
           sealed_secret = EXCLUDED.sealed_secret, enabled = EXCLUDED.enabled,
           last_step = EXCLUDED.last_step, created_on = EXCLUDED.created_on
         WHERE NOT totp.enabled
         RETURNING user_id`,
        [record.userId, record.sealedSecret, record.enabled, record.lastStep, iso(record.createdOn)],
      )
      return rows.length > 0
    },

    async acceptTotpStep(userId, sealedSecret, step, resealedSecret) {
      // The row as it was, locked: a step accepted meanwhile by another request is waited for and
      // seen (without the lock, both would read `enabled` from before either).
      const [row] = await db.query<{ was_enabled: Text }>(
        `UPDATE ${t.totp} AS totp SET enabled = true, last_step = $3,
           sealed_secret = COALESCE($4::text, totp.sealed_secret)
         FROM (SELECT user_id, enabled FROM ${t.totp} WHERE user_id = $1 FOR UPDATE) AS before
         WHERE totp.user_id = before.user_id AND totp.sealed_secret = $2
           AND (totp.last_step IS NULL OR totp.last_step < $3)
         RETURNING before.enabled AS was_enabled`,
        [userId, sealedSecret, step, resealedSecret ?? null],
      )
      if (row === undefined) return 'refused'
      return isTrue(row.was_enabled) ? 'accepted' : 'enabled'
    },

    async deleteTotp(userId) {
      await db.query(`DELETE FROM ${t.totp} WHERE user_id = $1`, [userId])
    },

    async incrementCounter(bucket, windowMs, now) {
      // The window comes from the caller's clock, not the database's, like every other time.
      const [row] = await db.query<CounterRow>(
        `INSERT INTO ${t.counters} AS counter (bucket, count, reset_at) VALUES ($1, 1, $3::timestamptz)
         ON CONFLICT (bucket) DO UPDATE SET
           count = CASE WHEN counter.reset_at <= $2::timestamptz THEN 1 ELSE counter.count + 1 END,
           reset_at = CASE WHEN counter.reset_at <= $2::timestamptz THEN EXCLUDED.reset_at ELSE counter.reset_at END
         RETURNING count, ${ms('reset_at')}`,
        [bucket, iso(now), iso(new Date(now.getTime() + windowMs))],
      )
      if (row === undefined) throw new Error('keyward: counter upsert returned no row')
      return counterHit(row)
    },

    async peekCounter(bucket, now) {
      const [row] = await db.query<CounterRow>(
        `SELECT count, ${ms('reset_at')} FROM ${t.counters} WHERE bucket = $1 AND reset_at > $2::timestamptz`,
        [bucket, iso(now)],
      )
      return row === undefined ? null : counterHit(row)
    },

    async resetCounter(bucket) {
      await db.query(`DELETE FROM ${t.counters} WHERE bucket = $1`, [bucket])
    },

    async subscribe(listener, onError, onResumed) {
      return db.listen(
        t.channel,
        (payload) => {
          const event = decodeStoreEvent(payload)
          if (event === undefined) return
          // The listener runs inside the driver's notification handler: a throw must not reach it.
          try {
            listener(event)
          } catch {}
        },
        onError,
        onResumed,
      )
    },
  }
}
