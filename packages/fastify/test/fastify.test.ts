import { PassThrough } from 'node:stream'
import { createGunzip, gzipSync } from 'node:zlib'
import { type Keyward, KeywardConfigError } from '@keyward/core'
import keywardDefault, { keyward } from '@keyward/fastify'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { oneConnection } from '../../../test/contract/support/connection.js'
import { coldEngine, createFixture } from '../../../test/contract/support/fixture.js'
import { FORWARDED, failExchangeViaProxy, failedAddresses } from '../../../test/contract/support/forwarded.js'
import { INVALID_ROUTE_RULES } from './invalid-rules.js'

const running: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()))
})

/** A host app with keyward registered; `routes` adds the host's own before it listens. */
async function host(
  engine: Keyward,
  routes: (app: FastifyInstance) => void = () => {},
  options?: FastifyServerOptions,
) {
  const app = Fastify(options)
  running.push(app)
  const hostErrors: unknown[] = []
  app.setErrorHandler<FastifyError>((error, _request, reply) => {
    hostErrors.push(error)
    return reply.code(error.statusCode ?? 500).send({ handledBy: 'host', code: error.code })
  })
  await app.register(keyward, { keyward: engine })
  routes(app)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url, hostErrors }
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

/**
 * An app with keyward registered in a scope under `prefix`, and a call issuing a key there with
 * alice's key.
 */
async function scopedUnder(prefix: string, options?: FastifyServerOptions) {
  const { keyward: engine } = createFixture()
  const { key } = await engine.issueKey('alice', { name: 'ci' })
  const app = Fastify(options)
  running.push(app)
  await app.register(async (scope) => scope.register(keyward, { keyward: engine }), { prefix })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  const issue = (path: string) =>
    post(`${url}${path}`, JSON.stringify({ key_name: 'cli' }), { 'x-api-key': key })
  return { url, issue }
}

/** The credentials file of an issued key. */
const credsOf = async (issued: Response) =>
  JSON.parse(((await issued.json()) as { data: { creds: string } }).data.creds) as unknown

describe('the @keyward/fastify plugin', () => {
  it('is one plugin under a default and a named export, named for dependency checks', async () => {
    expect(keywardDefault).toBe(keyward)
    const { app } = await host(createFixture().keyward)
    expect(app.hasPlugin('@keyward/fastify')).toBe(true)
    expect(app.hasRequestDecorator('auth')).toBe(true)
    expect(app.hasDecorator('keywardAuth')).toBe(true)
  })

  it('refuses to start without a keyward engine', async () => {
    const app = Fastify()
    await expect(app.register(keyward, { keyward: {} as Keyward })).rejects.toThrow(KeywardConfigError)
    const { keyward: engine } = createFixture()
    // No engine at all, and half of one (its routes' handler without its guard).
    for (const half of [undefined, { handle: engine.handle }]) {
      await expect(Fastify().register(keyward, { keyward: half as Keyward })).rejects.toThrow(
        'option "keyward" must be the engine that createKeyward() returned',
      )
    }
  })

  it('refuses keywardAuth options that would require no permission, as the route is declared', async () => {
    const { app } = await host(createFixture().keyward)
    expect(() => app.keywardAuth('agents:read' as never)).toThrow(
      /"keywardAuth\(options\)" must be \{ permissions/,
    )
    expect(() => app.keywardAuth({ permission: ['agents:read'] } as never)).toThrow(
      /has no option "permission"/,
    )
    expect(() => app.keywardAuth({ permissions: 'agents:read' } as never)).toThrow(KeywardConfigError)
  })

  it('refuses a prefix given with the plugin, which Fastify would ignore, and names what to do instead', async () => {
    const { keyward: engine } = createFixture()
    const app = Fastify()
    const error: unknown = await app.register(keyward, { keyward: engine, prefix: '/api' }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(KeywardConfigError)
    expect(String(error)).toMatch(
      /option "prefix" is ignored by this plugin .*basePath.*\{ prefix: '\/api' \}/,
    )
  })

  it('serves the routes under basePath only', async () => {
    const { keyward: engine } = createFixture({ basePath: '/auth' })
    const { key } = await engine.issueKey('alice', { name: 'ci' })
    const { url } = await host(engine)
    expect(
      (await post(`${url}/auth/accounts/auth-with-api-key`, JSON.stringify({ api_key: key }))).status,
    ).toBe(200)
    expect((await post(`${url}/accounts/auth-with-api-key`, JSON.stringify({ api_key: key }))).status).toBe(
      404,
    )
  })

  it('serves the routes under the prefix of the scope it is registered in, and names it in base_url', async () => {
    const { keyward: engine } = createFixture({ basePath: '/auth' })
    const { key } = await engine.issueKey('alice', { name: 'ci' })
    const app = Fastify()
    running.push(app)
    await app.register(
      async (scope) => {
        await scope.register(keyward, { keyward: engine })
        scope.get('/v1/agents', { config: { keyward: true } }, async (request) => ({
          user: request.auth?.userId,
        }))
      },
      { prefix: '/api' },
    )
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const body = JSON.stringify({ api_key: key })
    expect((await post(`${url}/api/auth/accounts/auth-with-api-key`, body)).status).toBe(200)
    expect((await post(`${url}/auth/accounts/auth-with-api-key`, body)).status).toBe(404)
    expect(await (await fetch(`${url}/api/v1/agents`, { headers: { 'x-api-key': key } })).json()).toEqual({
      user: 'alice',
    })
    // The credentials file names where the routes are: the scope's prefix, then basePath.
    const issued = await post(`${url}/api/auth/accounts/api-key`, JSON.stringify({ key_name: 'cli' }), {
      'x-api-key': key,
    })
    const { data } = (await issued.json()) as { data: { creds: string } }
    expect(JSON.parse(data.creds)).toMatchObject({ base_url: `${url}/api/auth` })
  })

  it('serves the routes under a scope prefix that ends in a slash, or is one', async () => {
    for (const [prefix, mountedAt] of [
      ['/api/', '/api'],
      ['/', ''],
    ]) {
      const { url, issue } = await scopedUnder(prefix as string)
      const issued = await issue(`${mountedAt}/accounts/api-key`)
      expect(issued.status).toBe(200)
      expect(await credsOf(issued)).toMatchObject({ base_url: `${url}${mountedAt}` })
    }
  })

  it("serves the routes under a scope prefix with a parameter, naming the request's value in base_url", async () => {
    const { url, issue } = await scopedUnder('/:tenant')
    const issued = await issue('/acme/accounts/api-key')
    expect(issued.status).toBe(200)
    expect(await credsOf(issued)).toMatchObject({ base_url: `${url}/acme` })
    expect((await issue('/globex/accounts/api-key')).status).toBe(200)
    // Without a tenant, no route of keyward's is there.
    expect((await issue('/accounts/api-key')).status).toBe(404)
  })

  it("under a router that ignores case and doubled slashes, leaves to the host's 404 a path that spells the scope's prefix otherwise", async () => {
    // A prefix ending in slashes, which this router collapses: the routes are under /api.
    const { url, issue } = await scopedUnder('/api//', {
      routerOptions: { caseSensitive: false, ignoreDuplicateSlashes: true },
    })
    const issued = await issue('/api/accounts/api-key')
    expect(issued.status).toBe(200)
    expect(await credsOf(issued)).toMatchObject({ base_url: `${url}/api` })
    // The router takes another case: the core is not handed it.
    expect((await issue('/API/accounts/api-key')).status).toBe(404)
  })

  it("hands a failure it does not answer to the host's error handler as it is", async () => {
    const app = Fastify()
    running.push(app)
    const hostErrors: unknown[] = []
    app.setErrorHandler((error, _request, reply) => {
      hostErrors.push(error)
      return reply.code(500).send({ handledBy: 'host' })
    })
    // A host hook that fails on keyward's route too, with a code of its own.
    const failure = Object.assign(new Error('host hook failed'), { code: 'HOST_HOOK_FAILED' })
    app.addHook('onRequest', async (request) => {
      if (request.headers['x-host-fails'] !== undefined) throw failure
    })
    await app.register(keyward, { keyward: createFixture().keyward })
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    const reply = await post(`${url}/accounts/auth-with-api-key`, '{}', { 'x-host-fails': 'yes' })
    expect(reply.status).toBe(500)
    expect(await reply.json()).toEqual({ handledBy: 'host' })
    expect(hostErrors).toEqual([failure])
    expect(hostErrors[0]).toBe(failure)
  })

  describe('encapsulation', () => {
    it("keeps keyward's body handling and error handler away from the host's routes", async () => {
      const { url, hostErrors } = await host(createFixture().keyward, (app) => {
        app.post('/host/json', async (request) => ({ received: request.body }))
        app.get('/host/throws', async () => {
          throw new Error('host failure')
        })
      })
      // The host's JSON parser still parses; keyward's catch-all parser does not reach here.
      expect(await (await post(`${url}/host/json`, '{"a":1}')).json()).toEqual({ received: { a: 1 } })
      const csv = await post(`${url}/host/json`, 'a,b', { 'content-type': 'text/csv' })
      expect(await csv.json()).toEqual({ handledBy: 'host', code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' })
      // The host's error handler still handles what its own routes throw.
      expect(await (await fetch(`${url}/host/throws`)).json()).toEqual({ handledBy: 'host' })
      expect(hostErrors.map((error) => (error as Error).message)).toContain('host failure')
    })

    it("reads bodies through a host's preParsing stream (as request decompression installs)", async () => {
      const { keyward: engine } = createFixture()
      const { key } = await engine.issueKey('alice', { name: 'ci' })
      const app = Fastify()
      running.push(app)
      const transformed: string[] = []
      app.addHook('preParsing', async (request, _reply, payload) => {
        transformed.push(request.url)
        return payload.pipe(new PassThrough())
      })
      await app.register(keyward, { keyward: engine })
      const url = await app.listen({ host: '127.0.0.1', port: 0 })
      const exchange = `${url}/accounts/auth-with-api-key`
      expect((await post(exchange, JSON.stringify({ api_key: key }))).status).toBe(200)
      const tooLarge = await post(exchange, 'x'.repeat(40_000))
      expect(tooLarge.status).toBe(413)
      expect(await tooLarge.json()).toEqual({
        error: 'Payload too large',
        message: 'The request body is larger than 16384 bytes',
      })
      expect(transformed).toEqual(['/accounts/auth-with-api-key', '/accounts/auth-with-api-key'])
    })

    it('reads a body from a preParsing stream handed over paused, as @fastify/compress hands its decompressor', async () => {
      const { keyward: engine } = createFixture()
      const { key } = await engine.issueKey('alice', { name: 'ci' })
      const app = Fastify()
      running.push(app)
      app.addHook('preParsing', async (_request, _reply, payload) => {
        const decompressor = payload.pipe(createGunzip())
        decompressor.pause()
        return decompressor
      })
      await app.register(keyward, { keyward: engine })
      const url = await app.listen({ host: '127.0.0.1', port: 0 })
      const answer = await fetch(`${url}/accounts/auth-with-api-key`, {
        method: 'POST',
        body: gzipSync(JSON.stringify({ api_key: key })),
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        signal: AbortSignal.timeout(5_000),
      })
      expect(answer.status).toBe(200)
      expect(await answer.json()).toMatchObject({ data: { auth_token: expect.any(String) } })
    })

    it("never hands keyward's failures to the host's error handler", async () => {
      const { url, hostErrors } = await host(createFixture().keyward)
      const exchange = `${url}/accounts/auth-with-api-key`
      expect((await post(exchange, '{')).status).toBe(400)
      expect((await post(exchange, 'x'.repeat(20_000))).status).toBe(413)
      expect((await post(exchange, '{}', { 'content-type': 'nonsense' })).status).toBe(415)
      expect((await fetch(exchange, { method: 'PUT' })).status).toBe(405)
      // Too large, in a media type Fastify refuses before any parser: still keyward's 413.
      expect((await post(exchange, 'x'.repeat(20_000), { 'content-type': 'nonsense' })).status).toBe(413)
      expect(hostErrors).toEqual([])
    })
  })

  describe('the guard', () => {
    it('guards by route config: true for any caller, { permissions } for some', async () => {
      const { keyward: engine } = createFixture()
      const bob = (await engine.issueKey('bob', { name: 'ci' })).key
      const { url } = await host(engine, (app) => {
        app.get('/any', { config: { keyward: true } }, async (request) => ({ user: request.auth.userId }))
        app.get('/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async () => ({}))
        app.get('/open', async (request) => ({ auth: request.auth }))
      })
      expect(await (await fetch(`${url}/any`, { headers: { 'x-api-key': bob } })).json()).toEqual({
        user: 'bob',
      })
      expect((await fetch(`${url}/any`)).status).toBe(401)
      expect((await fetch(`${url}/agents`, { headers: { 'x-api-key': bob } })).status).toBe(403)
      expect(await (await fetch(`${url}/open`)).json()).toEqual({ auth: null })
    })

    it.each(INVALID_ROUTE_RULES)('refuses config.keyward = %j when the route is declared', async (rule) => {
      const app = Fastify()
      await app.register(keyward, { keyward: createFixture().keyward })
      const declare = () => app.get('/x', { config: { keyward: rule as never } }, async () => 'ok')
      expect(declare).toThrow(KeywardConfigError)
      expect(declare).toThrow(/config\.keyward" of GET \/x must be true or \{ permissions/)
    })

    it('admits the requests repeated on a connection from memory alone, by route config and by keywardAuth', async () => {
      const { issuer, served, guards } = coldEngine()
      const { key } = await issuer.issueKey('alice', { name: 'ci' })
      const { url } = await host(served, (app) => {
        app.get('/config', { config: { keyward: true } }, async (request) => ({ user: request.auth.userId }))
        app.get('/hook', { onRequest: app.keywardAuth() }, async (request) => ({ user: request.auth.userId }))
      })
      const connection = oneConnection(url)
      try {
        for (const path of ['/config', '/config', '/hook', '/hook'])
          expect(await connection.send(path, { 'x-api-key': key })).toEqual({
            status: 200,
            body: '{"user":"alice"}',
          })
      } finally {
        connection.close()
      }
      // The full guard for the first request alone: the connection's memory admits the others.
      expect(guards.count).toBe(1)
    })

    it('runs in onRequest: before the body is parsed, and before the route’s own hooks', async () => {
      const { keyward: engine } = createFixture()
      const alice = (await engine.issueKey('alice', { name: 'ci' })).key
      const seenByOwnHook: unknown[] = []
      const { url } = await host(engine, (app) => {
        app.post(
          '/agents',
          {
            config: { keyward: { permissions: ['agents:read'] } },
            onRequest: async (request) => {
              seenByOwnHook.push(request.auth.userId)
            },
          },
          async (request) => ({ body: request.body }),
        )
      })
      const anonymous = await post(`${url}/agents`, '{ not json')
      expect(anonymous.status).toBe(401)
      expect(seenByOwnHook).toEqual([])
      const ok = await post(`${url}/agents`, '{"a":1}', { 'x-api-key': alice })
      expect(await ok.json()).toEqual({ body: { a: 1 } })
      expect(seenByOwnHook).toEqual(['alice'])
    })

    it('offers app.keywardAuth() as an onRequest hook, also for a whole plugin scope', async () => {
      const { keyward: engine } = createFixture()
      const alice = (await engine.issueKey('alice', { name: 'ci' })).key
      const { url } = await host(engine, (app) => {
        app.register(async (scope) => {
          scope.addHook('onRequest', scope.keywardAuth({ permissions: ['agents:read'] }))
          scope.get('/v1/agents', async (request) => ({ user: request.auth.userId }))
        })
      })
      expect((await fetch(`${url}/v1/agents`)).status).toBe(401)
      expect(
        await (await fetch(`${url}/v1/agents`, { headers: { authorization: `Bearer ${alice}` } })).json(),
      ).toEqual({
        user: 'alice',
      })
    })
  })

  it("gives the core the address and protocol Fastify's trustProxy resolved", async () => {
    // The proxy's address, as the README advises (a hop count trusts no proxy since Fastify 5.12.1).
    for (const trustProxy of ['127.0.0.1', true, false]) {
      const { keyward: engine, events } = createFixture()
      const { key } = await engine.issueKey('alice', { name: 'ci' })
      const { url } = await host(
        engine,
        (app) => app.get('/me', { config: { keyward: true } }, async () => ({})),
        {
          trustProxy,
        },
      )
      await fetch(`${url}/me`, { headers: { ...FORWARDED, 'x-api-key': `ms-${'0'.repeat(32)}` } })
      const issued = await post(`${url}/accounts/api-key`, '{"key_name":"x"}', {
        ...FORWARDED,
        'x-api-key': key,
      })
      const { data } = (await issued.json()) as { data: { creds: string } }
      const port = new URL(url).port
      await failExchangeViaProxy(url)
      const trusted = trustProxy !== false
      const ip = trusted ? '203.0.113.7' : '127.0.0.1'
      expect(failedAddresses(events)).toEqual([ip, ip])
      expect(JSON.parse(data.creds).base_url).toBe(`${trusted ? 'https' : 'http'}://127.0.0.1:${port}`)
    }
  })
})
