/**
 * The examples' own login under a store outage answers as keyward's routes do: 503 JSON with
 * Retry-After, never a 500 or a stack trace. Each example runs on the real Redis through a
 * proxy the test cuts.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type CuttableProxy, cuttableProxy } from '../support/cuttable-proxy.js'
import { describeWith } from '../support/services.js'
import { call } from './support/client.js'
import { type Framework, startServer } from './support/server-process.js'

const FRAMEWORKS: Framework[] = ['express', 'fastify', 'koa']

describeWith('REDIS_URL', 'examples under a store outage', (redisUrl) => {
  const prefix = `kw-outage-${randomUUID()}:`
  const target = new URL(redisUrl)
  let proxy: CuttableProxy
  beforeAll(async () => {
    proxy = await cuttableProxy(target.hostname, Number(target.port || 6379))
  })
  afterAll(async () => {
    await proxy.close()
    const client = new Redis(redisUrl)
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    client.disconnect()
  })

  it.each(FRAMEWORKS)(
    '%s: /login answers 503 with Retry-After while the store is down',
    async (framework) => {
      proxy.restore()
      const server = await startServer(framework, {
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        DATABASE_URL: '',
        KEYWARD_REDIS_PREFIX: prefix,
        KEYWARD_JWT_SECRET: 'outage-secret-outage-secret-outage-000',
      })
      try {
        const login = { json: { username: 'demo', password: 'demo' } }
        expect((await call(`${server.url}/login`, login)).status).toBe(200)
        const ready = () => call(`${server.url}/ready`)
        await expect
          .poll(async () => (await ready()).body)
          .toEqual({ ok: true, store: 'up', events: 'listening' })
        proxy.cut()
        const down = await ready()
        expect(down.status).toBe(503)
        expect(down.body).toMatchObject({ ok: false, store: 'unavailable' })
        expect(down.headers.get('cache-control')).toBe('no-store')
        const refused = await call(`${server.url}/login`, login)
        expect(refused.status).toBe(503)
        expect(refused.headers.get('retry-after')).toBe('5')
        expect(refused.headers.get('content-type')).toMatch(/^application\/json/)
        expect(refused.body).toEqual({
          error: 'Service unavailable',
          message: 'Authentication is temporarily unavailable. Please retry shortly',
        })
        // The guard's 503 is the store's to explain, in the server's log, not to the client.
        const guarded = await call(`${server.url}/v1/agents`, {
          headers: { 'x-api-key': `ms-${'a'.repeat(32)}` },
        })
        expect(guarded.status).toBe(503)
        expect(JSON.stringify(guarded.body)).not.toMatch(/stream|writeable|offline/i)
        await expect.poll(() => server.output()).toMatch(/keyward: STORE_UNAVAILABLE during request: \S/)
        expect(server.output()).not.toMatch(/\n\s+at /)
      } finally {
        expect(await server.stop()).toBe(0)
      }
    },
    60_000,
  )
})
