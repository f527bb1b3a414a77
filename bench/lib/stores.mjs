/**
 * The stores under benchmark, each over fresh storage: memory, PGlite (in memory), PostgreSQL
 * and Redis (when DATABASE_URL / REDIS_URL are set). `fill` adds filler keys quickly; `count`
 * asks the store how many keys it holds.
 */
import { memoryStore } from '@keyward/core'
import { fillStore } from './in-process.mjs'

/** One statement instead of a million round trips; random digests nobody holds keys for. */
const fillSql = (schema) =>
  `INSERT INTO "${schema}".keyward_api_keys (id, user_id, name, digest, preview, created_on, expires_on)
   SELECT gen_random_uuid()::text, 'filler-' || (i % 10000), 'filler', md5(random()::text) || md5(random()::text),
          'ms-…0000', now(), now() + interval '90 days'
   FROM generate_series(1, $1) AS i`

/** How PostgreSQL finds a key by its digest, as EXPLAIN names it ("Index Scan using …"). */
const lookupPlan = (query, table) => async () => {
  const rows = await query(`EXPLAIN (FORMAT JSON) SELECT * FROM ${table} WHERE digest = md5('absent')`)
  const [{ Plan }] = rows[0]['QUERY PLAN']
  return Plan['Index Name'] ? `${Plan['Node Type']} using ${Plan['Index Name']}` : Plan['Node Type']
}

/** Hands `each` every batch of Redis keys that match `pattern`, scanning (never KEYS). */
async function scanMatching(client, pattern, each) {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000)
    cursor = next
    if (keys.length > 0) await each(keys)
  } while (cursor !== '0')
}

async function countMatching(client, pattern) {
  let held = 0
  await scanMatching(client, pattern, (keys) => {
    held += keys.length
  })
  return held
}

export async function openStores() {
  // The memory store has no count (its listing scans every key): it counts the inserts it accepts.
  const plain = memoryStore()
  let inserted = 0
  const memory = {
    ...plain,
    insertKey: async (record) => {
      await plain.insertKey(record)
      inserted += 1
    },
  }
  const stores = [
    {
      name: 'memory',
      store: memory,
      fill: (n) => fillStore(memory, n),
      count: async () => inserted,
      close: async () => {},
    },
  ]
  const { migrate, postgresStore } = await import('@keyward/store-postgres')
  const { PGlite } = await import('@electric-sql/pglite')
  const lite = await PGlite.create()
  await migrate(lite)
  const liteStore = postgresStore({ client: lite })
  stores.push({
    name: 'PGlite',
    store: liteStore,
    fill: (n) => fillStore(liteStore, n),
    count: async () => (await lite.query('SELECT count(*)::int AS n FROM keyward_api_keys')).rows[0].n,
    plan: lookupPlan(async (sql) => (await lite.query(sql)).rows, 'keyward_api_keys'),
    close: () => lite.close(),
  })

  if (process.env.DATABASE_URL) {
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 })
    const schema = `kw_bench_${process.pid}`
    await migrate(pool, { schema })
    const store = postgresStore({ client: pool, schema })
    stores.push({
      name: 'PostgreSQL',
      store,
      fill: async (n) => {
        await pool.query(fillSql(schema), [n])
        // Fresh statistics and a settled table, as a server that has run a while would have.
        await pool.query(`VACUUM ANALYZE "${schema}".keyward_api_keys`)
      },
      count: async () =>
        (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".keyward_api_keys`)).rows[0].n,
      plan: lookupPlan(async (sql) => (await pool.query(sql)).rows, `"${schema}".keyward_api_keys`),
      close: async () => {
        await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
        await pool.end()
      },
    })
  }

  if (process.env.REDIS_URL) {
    const { Redis } = await import('ioredis')
    const { redisStore } = await import('@keyward/store-redis')
    const client = new Redis(process.env.REDIS_URL)
    const prefix = `kw-bench-${process.pid}:`
    const store = redisStore({ client, prefix })
    stores.push({
      name: 'Redis',
      store,
      fill: (n) => fillStore(store, n),
      // One digest index entry per key record.
      count: () => countMatching(client, `${prefix}digest:*`),
      close: async () => {
        await scanMatching(client, `${prefix}*`, (keys) => client.unlink(...keys))
        client.disconnect()
      },
    })
  }
  return stores
}
