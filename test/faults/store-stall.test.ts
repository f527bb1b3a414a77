/**
 * A connection that goes silent without closing (a load balancer's idle drop, a failover) must
 * not hold requests: keyward bounds every store call a request waits for (`storeTimeout`), so the
 * request fails closed with a 503 and the operator is told why, while the driver, configured as
 * a host would by default (no timeouts of its own), would wait for the operating system.
 */
import { createKeyward, type KeyStore, type KeywardEvent } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { type CuttableProxy, cuttableProxy } from '../support/cuttable-proxy.js'
import { describeWith } from '../support/services.js'

const UNKNOWN_KEY = 'ms-0123456789abcdef0123456789abcdef'
const UNAVAILABLE = {
  error: 'Service unavailable',
  message: 'Authentication is temporarily unavailable. Please retry shortly',
}

/** The guard and a route over a store whose connection the proxy then stalls. */
async function expectBoundedWhileStalled(store: KeyStore, proxy: CuttableProxy) {
  const events: KeywardEvent[] = []
  const keyward = createKeyward({
    jwtSecret: 'stall-secret-stall-secret-stall-secret-00',
    users: { get: (id) => ({ id, permissions: [] }) },
    store,
    storeTimeout: '300ms',
    rateLimit: false,
    onEvent: (event) => events.push(event),
  })
  try {
    const issued = await keyward.issueKey('alice', { name: 'before the stall' })
    proxy.stall()
    const outcome = await keyward.guard({ headers: { 'x-api-key': UNKNOWN_KEY } })
    expect(outcome).toMatchObject({
      ok: false,
      response: { status: 503, headers: { 'retry-after': '5' }, body: UNAVAILABLE },
    })
    const listed = await keyward.handle({
      method: 'DELETE',
      path: '/accounts/api-key',
      query: { id: issued.id },
      headers: { 'x-api-key': issued.key },
      body: undefined,
    })
    expect(listed).toMatchObject({ status: 503, body: UNAVAILABLE })
    expect(events.filter((event) => event.type === 'error')).toEqual([
      expect.objectContaining({
        during: 'request',
        code: 'STORE_UNAVAILABLE',
        error: new Error('keyward: the store did not answer findKeyByDigest within 300 ms'),
      }),
      expect.objectContaining({ during: 'request', code: 'STORE_UNAVAILABLE' }),
    ])
  } finally {
    // Ends the calls still waiting on the silent connection, so the clients can close.
    proxy.cut()
    await keyward.close()
  }
}

describeWith(
  'DATABASE_URL',
  'PostgreSQL connection gone silent: requests fail closed in time',
  (databaseUrl) => {
    const target = new URL(databaseUrl)
    const schema = `kw_stall_${process.pid}_${Date.now()}`
    let proxy: CuttableProxy
    let pool: pg.Pool
    afterAll(async () => {
      await pool?.end()
      await proxy?.close()
      const cleanup = new pg.Pool({ connectionString: databaseUrl })
      await cleanup.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {})
      await cleanup.end()
    })

    it('answers 503 within storeTimeout, not when the operating system gives up', async () => {
      proxy = await cuttableProxy(target.hostname, Number(target.port || 5432))
      const viaProxy = new URL(databaseUrl)
      viaProxy.hostname = '127.0.0.1'
      viaProxy.port = String(proxy.port)
      // No timeouts of its own; two connections, one of them keyward's listener's: the stalled
      // connection left is the one every query takes.
      pool = new pg.Pool({ connectionString: viaProxy.toString(), max: 2 })
      pool.on('error', () => {})
      await migrate(pool, { schema })
      await expectBoundedWhileStalled(postgresStore({ client: pool, schema }), proxy)
    }, 30_000)
  },
)

describeWith('REDIS_URL', 'Redis connection gone silent: requests fail closed in time', (redisUrl) => {
  const target = new URL(redisUrl)
  const prefix = `kw-stall-${process.pid}-${Date.now()}:`
  let proxy: CuttableProxy
  let client: Redis
  afterAll(async () => {
    client?.disconnect()
    await proxy?.close()
    const cleanup = new Redis(redisUrl)
    const keys = await cleanup.keys(`${prefix}*`)
    if (keys.length > 0) await cleanup.del(...keys)
    cleanup.disconnect()
  })

  it('answers 503 within storeTimeout, not when the operating system gives up', async () => {
    proxy = await cuttableProxy(target.hostname, Number(target.port || 6379))
    // ioredis without commandTimeout: a command written to a silent socket waits for TCP.
    client = new Redis({ host: '127.0.0.1', port: proxy.port, retryStrategy: () => null })
    client.on('error', () => {})
    await new Promise<void>((resolve) => client.once('ready', () => resolve()))
    await expectBoundedWhileStalled(redisStore({ client, prefix }), proxy)
  }, 30_000)
})
