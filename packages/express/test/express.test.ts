import { IncomingMessage } from 'node:http'
import { type Keyward, KeywardConfigError } from '@keyward/core'
import { keywardExpress } from '@keyward/express'
import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express'
import express4 from 'express-4.21.2'
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

async function serve(app: Express): Promise<string> {
  const server = await listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  running.push(server.close)
  return server.url
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

describe('keywardExpress', () => {
  it('refuses at construction anything but a keyward engine', () => {
    const { keyward } = createFixture()
    expect(() => keywardExpress({} as Keyward)).toThrow(KeywardConfigError)
    expect(() => keywardExpress(undefined as unknown as Keyward)).toThrow(
      'option "keyward" must be the engine that createKeyward() returned',
    )
    // Half an engine (its routes' handler without its guard) is no engine either.
    expect(() => keywardExpress({ handle: keyward.handle } as Keyward)).toThrow(KeywardConfigError)
  })

  it("adds no promise to a request that is not for keyward's routes", async () => {
    const { keyward } = createFixture()
    const hostApp = (withRoutes: boolean) => {
      const app = express()
      if (withRoutes) app.use(keywardExpress(keyward).routes)
      app.get('/public', (_req, res) => {
        res.json({ public: true })
      })
      return app
    }
    const without = await promisesPerRequest(`${await serve(hostApp(false))}/public`)
    const withRoutes = await promisesPerRequest(`${await serve(hostApp(true))}/public`)
    // An async middleware would add two per request; a stray promise of the test runner's, a fraction.
    expect(withRoutes - without).toBeLessThan(0.5)
  })

  it('serves the routes under basePath, below the path the app mounts them at', async () => {
    const { keyward } = createFixture({ basePath: '/auth' })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const body = JSON.stringify({ api_key: key })
    const atRoot = await serve(express().use(keywardExpress(keyward).routes))
    expect((await post(`${atRoot}/auth/accounts/auth-with-api-key`, body)).status).toBe(200)
    expect((await post(`${atRoot}/accounts/auth-with-api-key`, body)).status).toBe(404)
    // basePath comes after the mount path, as after koa-mount's prefix and a Fastify scope's.
    const atPath = await serve(express().use('/api', keywardExpress(keyward).routes))
    expect((await post(`${atPath}/api/auth/accounts/auth-with-api-key`, body)).status).toBe(200)
    for (const path of ['/auth/accounts', '/api/accounts', '/auth/auth/accounts'])
      expect((await post(`${atPath}${path}/auth-with-api-key`, body)).status).toBe(404)
  })

  it.each([
    ['5', express],
    ['4.21.2', express4],
  ] as const)(
    'serves the routes mounted at a path, in an app, a router or a sub-app, and names the path in base_url (Express %s)',
    async (_, framework) => {
      const { keyward } = createFixture()
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      const inApp = framework().use('/api', keywardExpress(keyward).routes)
      const inRouter = framework().use('/api', framework.Router().use(keywardExpress(keyward).routes))
      const inSubApp = framework().use('/api', framework().use(keywardExpress(keyward).routes))
      for (const app of [inApp, inRouter, inSubApp]) {
        const url = await serve(app as Express)
        const exchange = await post(`${url}/api/accounts/auth-with-api-key`, JSON.stringify({ api_key: key }))
        expect(exchange.status).toBe(200)
        expect(
          (await post(`${url}/accounts/auth-with-api-key`, JSON.stringify({ api_key: key }))).status,
        ).toBe(404)
        const issued = await post(`${url}/api/accounts/api-key`, JSON.stringify({ key_name: 'cli' }), {
          'x-api-key': key,
        })
        expect(issued.status).toBe(200)
        const { data } = (await issued.json()) as { data: { creds: string } }
        expect(JSON.parse(data.creds)).toMatchObject({ base_url: `${url}/api` })
      }
    },
  )

  it.each([
    ['5', express],
    ['4.21.2', express4],
  ] as const)(
    'uses the body a host parser already produced, and reads it itself when the parser passed (Express %s)',
    async (_, framework) => {
      const { keyward } = createFixture()
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      const app = framework() as Express
      // The host parses its own media type: keyward must take the parsed value, not re-read the
      // stream. Passing a request by, Express 4's parser still sets req.body to {} (Express 5's not).
      app.use(framework.json({ type: 'application/x-host-json' }))
      app.use(keywardExpress(keyward).routes)
      const url = await serve(app)
      const exchange = `${url}/accounts/auth-with-api-key`
      const hostParsed = await post(exchange, JSON.stringify({ api_key: key }), {
        'content-type': 'application/x-host-json',
      })
      expect(hostParsed.status).toBe(200)
      expect((await post(exchange, JSON.stringify({ api_key: key }))).status).toBe(200)
      expect((await post(exchange, 'api_key', { 'content-type': 'text/plain' })).status).toBe(415)
    },
  )

  it("holds keyward's body rules over what a host parser mounted first produced: no form, no larger body", async () => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const app = express()
    app.use(express.urlencoded({ extended: false }), express.json({ limit: '1mb' }))
    app.use(keywardExpress(keyward).routes)
    const exchange = `${await serve(app)}/accounts/auth-with-api-key`
    const form = await post(exchange, new URLSearchParams({ api_key: key }).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(form.status).toBe(415)
    expect(await form.json()).toMatchObject({ message: 'Send the request body as application/json' })
    const large = await post(exchange, JSON.stringify({ api_key: key, padding: 'x'.repeat(20_000) }))
    expect(large.status).toBe(413)
    expect((await post(exchange, JSON.stringify({ api_key: key }))).status).toBe(200)
  })

  it('answers at once, from an empty body, when a host middleware already read the stream', async () => {
    const { keyward } = createFixture()
    const app = express()
    // A host middleware that consumes the body without leaving a parsed req.body (e.g. a raw logger).
    app.use(async (req, _res, next) => {
      for await (const _chunk of req);
      next()
    })
    app.use(keywardExpress(keyward).routes)
    const reply = await post(`${await serve(app)}/accounts/auth-with-api-key`, '{"api_key":"ms-1"}')
    expect(reply.status).toBe(400)
    expect(await reply.json()).toMatchObject({ field: 'api_key' })
  })

  it("hands the host's error handler nothing when the client goes away mid-body", async () => {
    const { keyward } = createFixture()
    const seen: unknown[] = []
    const app = express()
    app.use(keywardExpress(keyward).routes)
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error)
      res.status(500).end()
    })
    await resetMidBody(await serve(app), '/accounts/auth-with-api-key')
    expect(seen).toEqual([])
  })

  it('guards with requireAuth: req.auth for the handler, the core answer otherwise, next() never called', async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const bob = (await keyward.issueKey('bob', { name: 'ci' })).key
    const auth = keywardExpress(keyward)
    let reached = 0
    const router = express.Router()
    router.use(auth.requireAuth({ permissions: ['agents:read'] }))
    router.get('/agents', (req, res) => {
      reached++
      res.json({ user: req.auth.userId, keyId: req.auth.keyId })
    })
    const url = await serve(express().use('/v1', router))
    const ok = await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': alice } })
    expect(await ok.json()).toEqual({ user: 'alice', keyId: expect.any(String) })
    const forbidden = await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': bob } })
    expect(forbidden.status).toBe(403)
    expect(forbidden.headers.get('x-powered-by')).toBe('Express')
    expect(reached).toBe(1)
  })

  it('calls next() once: an async handler after the guard answers, not the app’s 404', async () => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const app = express()
    app.get('/slow', keywardExpress(keyward).requireAuth(), async (req, res) => {
      await new Promise((settle) => setImmediate(settle))
      res.json({ user: req.auth.userId })
    })
    // The host's own catch-all 404, which a second next() from the guard would reach at once.
    app.use((_req, res) => {
      res.status(404).json({ error: 'host 404' })
    })
    const reply = await fetch(`${await serve(app)}/slow`, { headers: { 'x-api-key': key } })
    expect(reply.status).toBe(200)
    expect(await reply.json()).toEqual({ user: 'alice' })
  })

  it('protects a handler: admitted after a store read, from memory and from the cache alike; refused before it', async () => {
    const { served, expectRoutes } = await protectedRoutesFixture()
    const auth = keywardExpress(served)
    let reached = 0
    const app = express()
    app.get(
      '/v1/agents',
      auth.protect({ permissions: ['agents:read'] }, (req, res) => {
        reached++
        res.json({ user: req.auth.userId })
      }),
    )
    // The protected handler's next() goes on along the route, as after requireAuth.
    app.get(
      '/v1/me',
      auth.protect((_req, _res, next) => next()),
      (req, res) => res.json({ after: req.auth.userId }),
    )
    await expectRoutes(await serve(app), () => reached)
  })

  it('refuses guard options that would require no permission, as the route is declared', () => {
    const { requireAuth, protect } = keywardExpress(createFixture().keyward)
    const handler: RequestHandler = (_req, res) => res.end()
    expect(() => requireAuth('agents:read' as never)).toThrow(
      /"requireAuth\(options\)" must be \{ permissions/,
    )
    expect(() => protect({ permission: ['agents:read'] } as never, handler)).toThrow(
      /"protect\(options\)" has no option "permission"/,
    )
    expect(() => requireAuth({ permissions: 'agents:read' } as never)).toThrow(KeywardConfigError)
  })

  it('refuses to protect anything but a request handler', () => {
    const { protect } = keywardExpress(createFixture().keyward)
    expect(() => protect(undefined as unknown as RequestHandler)).toThrow(KeywardConfigError)
    expect(() => protect({ permissions: ['agents:read'] }, 'handler' as unknown as RequestHandler)).toThrow(
      /"handler" of protect\(\) must be a request handler/,
    )
    // An error handler (four parameters) is never a route's handler.
    const errorHandler = (_error: unknown, _req: Request, _res: Response, next: NextFunction) => next()
    expect(() => protect(errorHandler as unknown as RequestHandler)).toThrow(KeywardConfigError)
  })

  describe("Express's trust proxy setting", () => {
    async function failedAttemptFrom(trustProxy: boolean, proto: string = FORWARDED['x-forwarded-proto']) {
      const { keyward, events } = createFixture()
      const app = express()
      app.set('trust proxy', trustProxy ? 'loopback' : false)
      const auth = keywardExpress(keyward)
      app.use(auth.routes)
      app.get('/v1/me', auth.requireAuth(), (_req, res) => res.end())
      const url = await serve(app)
      await fetch(`${url}/v1/me`, { headers: { ...FORWARDED, 'x-api-key': `ms-${'0'.repeat(32)}` } })
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      const issued = await post(`${url}/accounts/api-key`, JSON.stringify({ key_name: 'x' }), {
        ...FORWARDED,
        'x-forwarded-proto': proto,
        'x-api-key': key,
      })
      const { data } = (await issued.json()) as { data: { creds: string } }
      await failExchangeViaProxy(url)
      const failedFrom = failedAddresses(events)
      return { failedFrom, baseUrl: JSON.parse(data.creds).base_url as string, port: new URL(url).port }
    }

    it('gives the core the forwarded address and protocol when the proxy is trusted', async () => {
      const { failedFrom, baseUrl, port } = await failedAttemptFrom(true)
      expect(failedFrom).toEqual(['203.0.113.7', '203.0.113.7'])
      expect(baseUrl).toBe(`https://127.0.0.1:${port}`)
    })

    it('builds base_url from http or https only, whatever protocol a trusted proxy forwards', async () => {
      const { baseUrl, port } = await failedAttemptFrom(true, 'javascript')
      expect(baseUrl).toBe(`http://127.0.0.1:${port}`)
    })

    it('ignores X-Forwarded-* when it is not', async () => {
      const { failedFrom, baseUrl, port } = await failedAttemptFrom(false)
      expect(failedFrom).toEqual(['127.0.0.1', '127.0.0.1'])
      expect(baseUrl).toBe(`http://127.0.0.1:${port}`)
    })
  })
})

describe('req.auth', () => {
  const get = (url: string, key?: string) =>
    fetch(url, { headers: key === undefined ? {} : { 'x-api-key': key } })

  it("is each request's own principal", async () => {
    const { keyward } = createFixture()
    const alice = (await keyward.issueKey('alice', { name: 'ci' })).key
    const bob = (await keyward.issueKey('bob', { name: 'ci' })).key
    const { requireAuth } = keywardExpress(keyward)
    const app = express()
    app.get('/open', (req, res) => res.json({ auth: req.auth ?? null, own: Object.hasOwn(req, 'auth') }))
    app.get('/mine', requireAuth(), (req, res) =>
      res.json({ user: req.auth.userId, own: Object.hasOwn(req, 'auth') }),
    )
    // What templates and `JSON.stringify(res.locals)` see of the request's locals.
    app.get('/locals', requireAuth(), (req, res) =>
      res.json({ user: req.auth.userId, names: Object.keys(res.locals), json: JSON.stringify(res.locals) }),
    )
    const url = await serve(app)
    const answers = await Promise.all(
      [alice, bob, alice, bob].map(async (key) => (await get(`${url}/mine`, key)).json()),
    )
    // The guard adds no own property to the request it admits: req.auth is read through Express's prototypes.
    expect(answers).toEqual(['alice', 'bob', 'alice', 'bob'].map((user) => ({ user, own: false })))
    // An unguarded request has no principal, and the guard added no own property to anyone.
    expect(await (await get(`${url}/open`, alice)).json()).toEqual({ auth: null, own: false })
    // Nor an auth to Node's own request prototype, or those above it up to Object's.
    expect(Object.hasOwn(IncomingMessage.prototype, 'auth')).toBe(false)
    expect('auth' in {}).toBe(false)
    // The principal is kept out of res.locals' named entries (a template sees no `auth`).
    expect(await (await get(`${url}/locals`, bob)).json()).toEqual({ user: 'bob', names: [], json: '{}' })
  })

  it.each([
    ['5', express],
    ['4.21.2', express4],
  ] as const)('outlives a later middleware that replaces res.locals (Express %s)', async (_, framework) => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const app = framework()
    app.get(
      '/page',
      keywardExpress(keyward).requireAuth(),
      (_req: Request, res: Response, next: NextFunction) => {
        res.locals = { title: 'page' }
        next()
      },
      (req: Request, res: Response) => {
        res.json({ user: req.auth?.userId, locals: res.locals })
      },
    )
    expect(await (await get(`${await serve(app as Express)}/page`, key)).json()).toEqual({
      user: 'alice',
      locals: { title: 'page' },
    })
  })

  it('is read in the parent app after a sub-app that guarded the request', async () => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('bob', { name: 'ci' })
    const sub = express()
    sub.get('/who', keywardExpress(keyward).requireAuth(), (_req, _res, next) => next())
    const app = express()
    app.use('/sub', sub)
    app.get('/sub/who', (req, res) => res.json({ user: req.auth?.userId ?? null }))
    const url = await serve(app)
    expect(await (await get(`${url}/sub/who`, key)).json()).toEqual({ user: 'bob' })
  })

  it("is assigned plainly when another library already put an auth on Express's request prototype, which it leaves in place", async () => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { requireAuth } = keywardExpress(keyward)
    const app = express()
    // Another library's default, on the app's request prototype: keyward must not hide behind it,
    // nor replace it, in the app or in a sub-app, whose request prototype inherits the app's.
    Object.defineProperty(app.request, 'auth', { value: null, writable: true, configurable: true })
    const sub = express()
    for (const routes of [app, sub]) {
      routes.get('/mine', requireAuth(), (req, res) => res.json({ user: req.auth?.userId }))
      routes.get('/open', (req, res) => res.json({ auth: req.auth }))
    }
    app.use('/sub', sub)
    const url = await serve(app)
    for (const at of ['', '/sub']) {
      expect(await (await get(`${url}${at}/mine`, key)).json()).toEqual({ user: 'alice' })
      expect(await (await get(`${url}${at}/open`)).json()).toEqual({ auth: null })
    }
  })

  it('replaces a value another middleware assigned before the guard, and can be assigned after it', async () => {
    const { keyward } = createFixture()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { requireAuth } = keywardExpress(keyward)
    const app = express()
    app.get(
      '/before',
      (req, _res, next) => {
        ;(req as { auth: unknown }).auth = 'placeholder'
        next()
      },
      requireAuth(),
      (req, res) => res.json({ user: req.auth.userId }),
    )
    app.get(
      '/after',
      requireAuth(),
      (req, _res, next) => {
        req.auth = { ...req.auth, userId: 'changed' }
        next()
      },
      (req, res) => res.json({ user: req.auth.userId }),
    )
    app.get(
      '/defined',
      (req, _res, next) => {
        // An own property, as a middleware leaves one that ran before keyward's accessor was on the prototypes.
        Object.defineProperty(req, 'auth', { value: 'placeholder', writable: true, configurable: true })
        next()
      },
      requireAuth(),
      (req, res) => res.json({ user: req.auth.userId }),
    )
    const url = await serve(app)
    expect(await (await get(`${url}/before`, key)).json()).toEqual({ user: 'alice' })
    expect(await (await get(`${url}/defined`, key)).json()).toEqual({ user: 'alice' })
    expect(await (await get(`${url}/after`, key)).json()).toEqual({ user: 'changed' })
  })
})

describe.each([
  ['Express 5', express],
  ['Express 4.21.2', express4],
])("a failure on %s, in keyward's routes or in a protected handler", (_release, framework) => {
  it("reaches the host's error handler: Express 4 does not catch a rejected promise itself", async () => {
    const { keyward } = createFixture()
    // An engine whose handler fails, as no real one does: each of its failures is an answer.
    const failing = {
      owns: (path: string) => keyward.owns(path),
      bodyLimit: keyward.bodyLimit,
      guard: keyward.guard.bind(keyward),
      handle: async () => {
        throw new Error('handler failed')
      },
    } as unknown as Keyward
    const seen: unknown[] = []
    const app = framework()
    app.use(keywardExpress(failing).routes)
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error)
      res.status(500).json({ error: 'host error handler' })
    })
    const url = await serve(app as Express)
    const response = await post(`${url}/accounts/auth-with-api-key`, JSON.stringify({ api_key: 'k' }))
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: 'host error handler' })
    expect(seen).toEqual([new Error('handler failed')])
  })

  it("passes what a protected handler throws, or rejects with, to the host's error handler", async () => {
    // A thenable that is not a native promise, as some query builders return: Express 5 waits for
    // any object with a `then` that a handler returns.
    const rejectingThenable = {
      // biome-ignore lint/suspicious/noThenProperty: the thenable is what this test is about
      then: (_done: unknown, failed: (error: Error) => void) => failed(new Error('thenable')),
    }
    const { issuer, served, reads } = coldEngine()
    const { protect } = keywardExpress(served)
    const seen: unknown[] = []
    const app = framework()
    app.get(
      '/fails',
      protect((req) => {
        if (req.query.how === 'throw') throw new Error('thrown')
        if (req.query.how === 'thenable') return rejectingThenable
        // A rejection with no reason still reaches the error handler, as Express 5 passes it on.
        if (req.query.how === 'nothing') return Promise.reject(undefined)
        return Promise.reject(new Error('rejected'))
      }),
    )
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error.message)
      res.status(500).json({ error: 'host error handler' })
    })
    const connection = oneConnection(await serve(app as Express))
    try {
      // Each key once after a store read (this engine has not seen it), then from the connection's memory.
      for (const how of ['throw', 'reject', 'thenable', 'nothing']) {
        const { key } = await issuer.issueKey('alice', { name: how })
        for (let time = 0; time < 2; time++)
          expect((await connection.send(`/fails?how=${how}`, { 'x-api-key': key })).status).toBe(500)
      }
      expect(reads.count).toBe(4)
      // Once each: Express 5's own wait for a returned promise must not pass it on a second time.
      expect(seen).toEqual([
        'thrown',
        'thrown',
        'rejected',
        'rejected',
        'thenable',
        'thenable',
        'Rejected promise',
        'Rejected promise',
      ])
    } finally {
      connection.close()
    }
  })
})
