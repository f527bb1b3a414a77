import { type Keyward, KeywardConfigError } from '@keyward/core'
import { keywardKoa } from '@keyward/koa'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa from 'koa'
import mount from 'koa-mount'
import { afterEach, describe, expect, it } from 'vitest'
import { oneConnection } from '../../../test/contract/support/connection.js'
import { coldEngine, createFixture } from '../../../test/contract/support/fixture.js'
import { FORWARDED, failExchangeViaProxy, failedAddresses } from '../../../test/contract/support/forwarded.js'
import { resetMidBody } from '../../../test/contract/support/gone.js'
import { listenOnLoopback } from '../../../test/contract/support/listen.js'
import { promisesPerRequest } from '../../../test/contract/support/promises.js'
import { protectedRoutesFixture } from '../../../test/contract/support/protected.js'

const running: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((close) => close()))
})

async function serve(app: Koa): Promise<string> {
  const server = await listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  running.push(server.close)
  return server.url
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

describe('keywardKoa', () => {
  it('refuses at construction anything but a keyward engine', () => {
    const { keyward } = createFixture()
    expect(() => keywardKoa({} as Keyward)).toThrow(KeywardConfigError)
    expect(() => keywardKoa(undefined as unknown as Keyward)).toThrow(
      'option "keyward" must be the engine that createKeyward() returned',
    )
    // Half an engine (its routes' handler without its guard) is no engine either.
    expect(() => keywardKoa({ handle: keyward.handle } as Keyward)).toThrow(KeywardConfigError)
  })

  it("adds no promise to a request that is not for keyward's routes", async () => {
    const { keyward } = createFixture()
    const hostApp = (routes?: Koa.Middleware) => {
      const app = new Koa()
      if (routes !== undefined) app.use(routes)
      app.use((ctx) => {
        ctx.body = { public: true }
      })
      return app
    }
    const without = await promisesPerRequest(`${await serve(hostApp())}/public`)
    const withRoutes = await promisesPerRequest(`${await serve(hostApp(keywardKoa(keyward).routes))}/public`)
    // An async middleware would add two per request; a stray promise of the test runner's, a fraction.
    expect(withRoutes - without).toBeLessThan(0.5)
  })

  it('works as plain middleware, without a router', async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const auth = keywardKoa(keyward)
    const app = new Koa()
    app.use(auth.routes)
    app.use(auth.requireAuth({ permissions: ['agents:read'] }))
    app.use((ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    })
    const url = await serve(app)
    expect(await (await fetch(`${url}/anything`, { headers: { 'x-api-key': alice } })).json()).toEqual({
      user: 'alice',
    })
    expect((await fetch(`${url}/anything`)).status).toBe(401)
    const exchange = await post(`${url}/accounts/auth-with-api-key`, JSON.stringify({ api_key: alice }))
    expect(exchange.status).toBe(200)
  })

  it('works with @koa/router, under a router prefix, and serves basePath', async () => {
    const { keyward } = createFixture({ basePath: '/auth' })
    const bob = (await keyward.issueKey('bob', { name: 'ci' })).key
    const auth = keywardKoa(keyward)
    const router = new Router({ prefix: '/v1' })
    router.get('/agents', auth.requireAuth({ permissions: ['agents:read'] }), (ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    })
    const app = new Koa()
    app.use(auth.routes)
    app.use(router.routes())
    const url = await serve(app)
    expect((await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': bob } })).status).toBe(403)
    expect(
      (await post(`${url}/auth/accounts/auth-with-api-key`, JSON.stringify({ api_key: bob }))).status,
    ).toBe(200)
    expect((await post(`${url}/accounts/auth-with-api-key`, JSON.stringify({ api_key: bob }))).status).toBe(
      404,
    )
  })

  it("serves the routes under koa-mount's prefix, and names it in the credentials' base_url", async () => {
    const { keyward } = createFixture({ basePath: '/auth' })
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const app = new Koa()
    app.use(mount('/api', keywardKoa(keyward).routes))
    const url = await serve(app)
    const issued = await post(`${url}/api/auth/accounts/api-key`, JSON.stringify({ key_name: 'cli' }), {
      'x-api-key': alice,
    })
    expect(issued.status).toBe(200)
    const { data } = (await issued.json()) as { data: { creds: string } }
    expect(JSON.parse(data.creds)).toMatchObject({ base_url: `${url}/api/auth` })
  })

  it('waits for an async handler behind the guard, on the first request and from memory on the next', async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const router = new Router()
    router.get('/slow', keywardKoa(keyward).requireAuth(), async (ctx) => {
      await new Promise((settle) => setImmediate(settle))
      ctx.body = { user: ctx.state.auth.userId }
    })
    const app = new Koa()
    app.use(router.routes())
    // One kept-alive connection: the second request is admitted from memory.
    const connection = oneConnection(await serve(app))
    try {
      for (let request = 0; request < 2; request++)
        expect(await connection.send('/slow', { 'x-api-key': alice })).toEqual({
          status: 200,
          body: '{"user":"alice"}',
        })
      expect(connection.sockets.size).toBe(1)
    } finally {
      connection.close()
    }
  })

  it('protects a handler: admitted after a store read, from memory and from the cache alike; refused before it', async () => {
    const { served, expectRoutes } = await protectedRoutesFixture()
    const auth = keywardKoa(served)
    let reached = 0
    const router = new Router()
    router.get(
      '/v1/agents',
      auth.protect({ permissions: ['agents:read'] }, (ctx) => {
        reached++
        ctx.body = { user: ctx.state.auth.userId }
      }),
    )
    // The protected handler's next() goes on along the route, as after requireAuth.
    router.get(
      '/v1/me',
      auth.protect((_ctx, next) => next()),
      (ctx) => {
        ctx.body = { after: ctx.state.auth.userId }
      },
    )
    const app = new Koa()
    app.use(router.routes())
    await expectRoutes(await serve(app), () => reached)
  })

  it("passes what a protected handler throws, or rejects with, to the host's error handling", async () => {
    const { issuer, served, reads } = coldEngine()
    const seen: string[] = []
    const app = new Koa()
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (error) {
        seen.push((error as Error).message)
        ctx.status = 500
      }
    })
    app.use(
      keywardKoa(served).protect(async (ctx) => {
        if (ctx.query.how === 'throw') throw new Error('thrown')
        await new Promise((settle) => setImmediate(settle))
        throw new Error('rejected')
      }),
    )
    const connection = oneConnection(await serve(app))
    try {
      // Each key once after a store read (this engine has not seen it), then from the connection's memory.
      for (const how of ['throw', 'reject']) {
        const { key } = await issuer.issueKey('alice', { name: how })
        for (let time = 0; time < 2; time++)
          expect((await connection.send(`/fails?how=${how}`, { 'x-api-key': key })).status).toBe(500)
      }
    } finally {
      connection.close()
    }
    expect(reads.count).toBe(2)
    expect(seen).toEqual(['thrown', 'thrown', 'rejected', 'rejected'])
  })

  it('refuses guard options that would require no permission, as the route is declared', () => {
    const { requireAuth, protect } = keywardKoa(createFixture().keyward)
    const handler: Koa.Middleware = (ctx) => {
      ctx.body = {}
    }
    expect(() => requireAuth('agents:read' as never)).toThrow(
      /"requireAuth\(options\)" must be \{ permissions/,
    )
    expect(() => protect({ permission: ['agents:read'] } as never, handler)).toThrow(
      /"protect\(options\)" has no option "permission"/,
    )
    expect(() => requireAuth({ permissions: 'agents:read' } as never)).toThrow(KeywardConfigError)
  })

  it('refuses to protect anything but a middleware', () => {
    const { protect } = keywardKoa(createFixture().keyward)
    expect(() => protect(undefined as unknown as Koa.Middleware)).toThrow(KeywardConfigError)
    expect(() => protect({ permissions: ['agents:read'] }, 'handler' as unknown as Koa.Middleware)).toThrow(
      /"handler" of protect\(\) must be a middleware/,
    )
  })

  it('reads the body itself where @koa/bodyparser passed a request by, and takes what it parsed', async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const app = new Koa()
    // Passing a media type it does not parse by, the parser sets ctx.request.body to {} unread.
    app.use(bodyParser())
    app.use(keywardKoa(keyward).routes)
    const url = await serve(app)
    const exchange = `${url}/accounts/auth-with-api-key`
    const body = JSON.stringify({ api_key: alice })
    expect((await post(exchange, body)).status).toBe(200)
    expect((await post(exchange, body, { 'content-type': 'application/merge-patch+json' })).status).toBe(200)
    expect((await post(exchange, 'api_key', { 'content-type': 'text/plain' })).status).toBe(415)
    // What it parsed as a form (its default) is still not keyward's to take.
    const form = new URLSearchParams({ api_key: alice }).toString()
    expect((await post(exchange, form, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(
      415,
    )
  })

  it('uses ctx.request.body when a host body parser already set it', async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const app = new Koa()
    // A host parser for its own media type, as @koa/bodyparser would set ctx.request.body.
    app.use(async (ctx, next) => {
      if (ctx.is('application/x-host-json')) {
        let text = ''
        for await (const chunk of ctx.req) text += chunk
        ;(ctx.request as { body?: unknown }).body = JSON.parse(text)
      }
      await next()
    })
    app.use(keywardKoa(keyward).routes)
    const url = await serve(app)
    const exchange = `${url}/accounts/auth-with-api-key`
    const hostParsed = await post(exchange, JSON.stringify({ api_key: alice }), {
      'content-type': 'application/x-host-json',
    })
    expect(hostParsed.status).toBe(200)
    expect((await post(exchange, 'api_key', { 'content-type': 'text/plain' })).status).toBe(415)
  })

  it("never emits keyward's failures as Koa errors", async () => {
    const { keyward } = createFixture()
    const app = new Koa()
    const emitted: unknown[] = []
    app.on('error', (error) => emitted.push(error))
    app.use(keywardKoa(keyward).routes)
    const url = await serve(app)
    const exchange = `${url}/accounts/auth-with-api-key`
    expect((await post(exchange, '{')).status).toBe(400)
    expect((await post(exchange, 'x'.repeat(20_000))).status).toBe(413)
    expect((await post(exchange, JSON.stringify({ api_key: 'nope' }))).status).toBe(401)
    expect(emitted).toEqual([])
  })

  it("throws nothing down the host's middleware when the client goes away mid-body", async () => {
    const { keyward } = createFixture()
    const thrown: unknown[] = []
    const app = new Koa()
    // What Koa itself reports of the broken connection, on its 'error' event, is Koa's own.
    app.on('error', () => {})
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (error) {
        thrown.push(error)
        ctx.status = 500
      }
    })
    app.use(keywardKoa(keyward).routes)
    await resetMidBody(await serve(app), '/accounts/auth-with-api-key')
    expect(thrown).toEqual([])
  })

  it('gives the core the address and protocol that app.proxy resolved', async () => {
    for (const proxy of [true, false]) {
      const { keyward, events } = createFixture()
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      const auth = keywardKoa(keyward)
      const app = new Koa({ proxy })
      app.use(auth.routes).use(auth.requireAuth())
      const url = await serve(app)
      await fetch(`${url}/me`, { headers: { ...FORWARDED, 'x-api-key': `ms-${'0'.repeat(32)}` } })
      const issued = await post(`${url}/accounts/api-key`, '{"key_name":"x"}', {
        ...FORWARDED,
        'x-api-key': key,
      })
      const { data } = (await issued.json()) as { data: { creds: string } }
      await failExchangeViaProxy(url)
      const ip = proxy ? '203.0.113.7' : '127.0.0.1'
      expect(failedAddresses(events)).toEqual([ip, ip])
      expect(JSON.parse(data.creds).base_url).toBe(
        `${proxy ? 'https' : 'http'}://127.0.0.1:${new URL(url).port}`,
      )
    }
  })

  it.each([
    [
      'app.proxy with maxIpsCount: 1, as the README advises',
      1,
      ['203.0.113.5', '203.0.113.5', '203.0.113.5'],
      429,
    ],
    ['app.proxy alone', 0, ['198.51.100.1', '198.51.100.2', '198.51.100.3'], 401],
  ])(
    'limits failed attempts per address behind a proxy that appends to X-Forwarded-For: %s',
    async (_, maxIpsCount, counted, fourth) => {
      const { keyward, events } = createFixture({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
      const auth = keywardKoa(keyward)
      const app = new Koa({ proxy: true, maxIpsCount })
      app.use(auth.routes).use(auth.requireAuth())
      const url = await serve(app)
      // The client sends an X-Forwarded-For of its choice; its proxy appends the address it saw.
      const attempt = (spoofed: string) =>
        fetch(`${url}/me`, {
          headers: { 'x-forwarded-for': `${spoofed}, 203.0.113.5`, 'x-api-key': `ms-${'0'.repeat(32)}` },
        })
      for (const spoofed of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
        expect((await attempt(spoofed)).status).toBe(401)
      expect(failedAddresses(events)).toEqual(counted)
      expect((await attempt('198.51.100.4')).status).toBe(fourth)
    },
  )
})
