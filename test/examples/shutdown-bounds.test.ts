/**
 * An example stops on SIGTERM, with exit code 0, even when the network path to its PostgreSQL or
 * Redis has gone silent (no FIN, no RST) and a key was used since last-used times were last
 * written, so that closing has a write to make on the silent connection. The Fastify example (the
 * shutdown is shared code, the same for all three) runs on the real server through a proxy the
 * test stalls. What is asserted is that the process exits within the test's own generous bound,
 * not how long it took: without the drivers' timeouts and a limit on closing the store, it waits
 * for the silent connection for as long as TCP does (minutes).
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { cuttableProxy } from '../support/cuttable-proxy.js'
import { describeWith } from '../support/services.js'
import { call } from './support/client.js'
import { type RunningServer, START_TIMEOUT_MS, startServer } from './support/server-process.js'

const SECRET = 'shutdown-bounds-secret-shutdown-bounds-0'
/** Far above what a bounded shutdown takes (keyward's storeTimeout is 5 s), far below TCP's minutes. */
const EXIT_BOUND_MS = 30_000

/** The exit code of a server sent SIGTERM, or 'still running' (then killed) after `ms`. */
async function exitWithin(server: RunningServer, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms)
  })
  const outcome = await Promise.race([server.stop(), late])
  clearTimeout(timer)
  if (outcome === 'still running') await server.kill()
  return outcome
}

/** `url` with its host and port replaced by the proxy's. */
function through(url: string, proxyPort: number): string {
  const proxied = new URL(url)
  proxied.hostname = '127.0.0.1'
  proxied.port = String(proxyPort)
  return proxied.href
}

/**
 * Starts the example on the store at `storeUrl` behind a proxy, uses a key (its last-used time is
 * then pending in memory, written once a minute or at close), stalls every open connection and
 * sends SIGTERM.
 */
async function stopWhileStalled(
  storeUrl: string,
  defaultPort: number,
  env: (proxiedUrl: string) => Record<string, string>,
): Promise<void> {
  const target = new URL(storeUrl)
  const proxy = await cuttableProxy(target.hostname, Number(target.port || defaultPort))
  try {
    const server = await startServer('fastify', {
      KEYWARD_JWT_SECRET: SECRET,
      ...env(through(storeUrl, proxy.port)),
    })
    let exit: number | null | 'still running' | undefined
    try {
      const login = await call(`${server.url}/login`, { json: { username: 'demo', password: 'demo' } })
      const created = await call(`${server.url}/accounts/api-key`, {
        headers: { authorization: `Bearer ${login.body.data.auth_token}` },
        json: { key_name: 'used before the stall' },
      })
      const used = await call(`${server.url}/v1/agents`, { headers: { 'x-api-key': created.body.data.key } })
      expect(used.status).toBe(200)
      proxy.stall()
      exit = await exitWithin(server, EXIT_BOUND_MS)
    } finally {
      if (exit === undefined) await server.kill()
    }
    expect(exit, server.output()).toBe(0)
    // The pending write was tried on the silent connection, and failed: the scenario under test.
    expect(server.output()).toMatch(/keyward: STORE_UNAVAILABLE during last-used: \S/)
    expect(server.output()).not.toMatch(/\n\s+at /)
  } finally {
    await proxy.close()
  }
}

const TEST_TIMEOUT_MS = START_TIMEOUT_MS + EXIT_BOUND_MS + 20_000

describeWith('DATABASE_URL', 'an example stopping while PostgreSQL is silent', (databaseUrl) => {
  const schema = `kw_shutdown_${process.pid}_${Date.now()}`
  afterAll(async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl })
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })

  it(
    'exits 0 on SIGTERM',
    () =>
      stopWhileStalled(databaseUrl, 5432, (proxied) => ({
        DATABASE_URL: proxied,
        REDIS_URL: '',
        KEYWARD_PG_SCHEMA: schema,
      })),
    TEST_TIMEOUT_MS,
  )
})

describeWith('REDIS_URL', 'an example stopping while Redis is silent', (redisUrl) => {
  const prefix = `kw-shutdown-${randomUUID()}:`
  afterAll(async () => {
    const client = new Redis(redisUrl)
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    client.disconnect()
  })

  it(
    'exits 0 on SIGTERM',
    () =>
      stopWhileStalled(redisUrl, 6379, (proxied) => ({
        REDIS_URL: proxied,
        DATABASE_URL: '',
        KEYWARD_REDIS_PREFIX: prefix,
      })),
    TEST_TIMEOUT_MS,
  )
})
