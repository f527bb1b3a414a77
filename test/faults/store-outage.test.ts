/**
 * Fail closed under store faults: a bounded load runs against a real Fastify server whose
 * store reaches the real PostgreSQL or Redis through a proxy that the test cuts and restores.
 * Every response is counted: a bad key is never accepted, a good key gets 200 or 503 (never
 * 401, never a crash), and service resumes by itself once the store is back.
 */
import { createKeyward, type KeyStore } from '@keyward/core'
import { keyward as keywardPlugin } from '@keyward/fastify'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { type CuttableProxy, cuttableProxy } from '../support/cuttable-proxy.js'
import { describeWith } from '../support/services.js'

const TOTAL = 3000
const CONCURRENCY = 20
const BAD_KEY = 'ms-0123456789abcdef0123456789abcdef'

interface Tally {
  good: Record<number, number>
  bad: Record<number, number>
}

async function runLoad(url: string, goodKeys: string[], proxy: CuttableProxy): Promise<Tally> {
  const tally: Tally = { good: {}, bad: {} }
  let sent = 0
  let done = 0
  const worker = async () => {
    while (sent < TOTAL) {
      const index = sent++
      if (index === Math.floor(TOTAL / 3)) proxy.cut()
      if (index === Math.floor((2 * TOTAL) / 3)) proxy.restore()
      const good = index % 2 === 0
      const key = good ? (goodKeys[index % goodKeys.length] as string) : BAD_KEY
      const response = await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': key } })
      const body = await response.json()
      expect(body).toEqual(
        response.status === 200
          ? { ok: true }
          : expect.objectContaining({ error: expect.any(String), message: expect.any(String) }),
      )
      const bucket = good ? tally.good : tally.bad
      bucket[response.status] = (bucket[response.status] ?? 0) + 1
      done++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  expect(done).toBe(TOTAL)
  return tally
}

async function faultScenario(name: string, store: KeyStore, proxy: CuttableProxy) {
  const keyward = createKeyward({
    jwtSecret: 'fault-secret-fault-secret-fault-secret-00',
    users: { get: (id) => ({ id, permissions: [] }) },
    store,
    cache: { max: 2 }, // almost every request goes to the store
    rateLimit: false,
  })
  const app = Fastify()
  await app.register(keywardPlugin, { keyward })
  app.get('/v1/agents', { config: { keyward: true } }, async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  try {
    const goodKeys = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        keyward.issueKey(`user-${i}`, { name: 'load' }).then((k) => k.key),
      ),
    )
    const tally = await runLoad(url, goodKeys, proxy)
    console.log(
      `[faults] ${name}: ${TOTAL} requests under a store cut; good keys ${JSON.stringify(tally.good)}, bad keys ${JSON.stringify(tally.bad)}; false accepts: ${tally.bad[200] ?? 0}`,
    )
    expect(tally.bad[200] ?? 0).toBe(0)
    expect(
      Object.keys(tally.bad)
        .map(Number)
        .every((status) => status === 401 || status === 503),
    ).toBe(true)
    expect(
      Object.keys(tally.good)
        .map(Number)
        .every((status) => status === 200 || status === 503),
    ).toBe(true)
    expect(tally.good[503] ?? 0).toBeGreaterThan(0)
    // Recovers by itself: poll (bounded) until every good key answers 200 again.
    await expect
      .poll(
        async () => {
          const statuses = await Promise.all(
            goodKeys.map((key) =>
              fetch(`${url}/v1/agents`, { headers: { 'x-api-key': key } }).then((r) => r.status),
            ),
          )
          return statuses.every((status) => status === 200)
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(true)
  } finally {
    await app.close()
    await keyward.close()
  }
}

describeWith('DATABASE_URL', 'PostgreSQL outage: fail closed, then recover', (databaseUrl) => {
  const target = new URL(databaseUrl)
  const schema = `kw_fault_${process.pid}_${Date.now()}`
  let proxy: CuttableProxy
  let pool: pg.Pool
  afterAll(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
    await pool?.end()
    await proxy?.close()
  })

  it(`answers ${TOTAL} requests with no false accept while the connection is cut`, async () => {
    proxy = await cuttableProxy(target.hostname, Number(target.port || 5432))
    const viaProxy = new URL(databaseUrl)
    viaProxy.hostname = '127.0.0.1'
    viaProxy.port = String(proxy.port)
    pool = new pg.Pool({ connectionString: viaProxy.toString(), connectionTimeoutMillis: 500, max: 10 })
    pool.on('error', () => {})
    await migrate(pool, { schema })
    await faultScenario('PostgreSQL', postgresStore({ client: pool, schema }), proxy)
  }, 120_000)
})

describeWith('REDIS_URL', 'Redis outage: fail closed, then recover', (redisUrl) => {
  const target = new URL(redisUrl)
  const prefix = `kw-fault-${process.pid}-${Date.now()}:`
  let proxy: CuttableProxy
  let client: Redis
  afterAll(async () => {
    if (client) {
      const keys = await client.keys(`${prefix}*`).catch(() => [] as string[])
      if (keys.length > 0) await client.del(...keys)
      client.disconnect()
    }
    await proxy?.close()
  })

  it(`answers ${TOTAL} requests with no false accept while the connection is cut`, async () => {
    proxy = await cuttableProxy(target.hostname, Number(target.port || 6379))
    client = new Redis({
      host: '127.0.0.1',
      port: proxy.port,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => 100,
    })
    client.on('error', () => {})
    await new Promise<void>((resolve) => client.once('ready', () => resolve()))
    await faultScenario('Redis', redisStore({ client, prefix }), proxy)
  }, 120_000)
})
