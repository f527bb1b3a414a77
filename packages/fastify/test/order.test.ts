import type { Keyward } from '@keyward/core'
import { keyward } from '@keyward/fastify'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { createFixture } from '../../../test/contract/support/fixture.js'
import { INVALID_ROUTE_RULES } from './invalid-rules.js'

/*
 * Routes declared before the plugin has loaded never reach its onRoute hook. These cases used to
 * answer 200 with `request.auth` null; each must now be guarded, whatever the order.
 */

const running: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()))
})

function app(): { app: FastifyInstance; hostErrors: unknown[] } {
  const instance = Fastify()
  running.push(instance)
  const hostErrors: unknown[] = []
  instance.setErrorHandler<FastifyError>((error, _request, reply) => {
    hostErrors.push(error)
    return reply.code(500).send({ handledBy: 'host' })
  })
  return { app: instance, hostErrors }
}

/** The host's routes: one for any caller, one by permission, one open. */
function declareRoutes(scope: FastifyInstance): void {
  scope.get('/secret', { config: { keyward: true } }, async (request) => ({ user: request.auth.userId }))
  scope.get('/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) => ({
    user: request.auth.userId,
  }))
  // A plugin loaded before keyward's request decorator sees `auth` undefined rather than null.
  scope.get('/open', async (request) => ({ auth: request.auth ?? null }))
}

async function keys(engine: Keyward) {
  return {
    alice: (await engine.issueKey('alice', { name: 'ci' })).key,
    bob: (await engine.issueKey('bob', { name: 'ci' })).key,
  }
}

const as = (key: string) => ({ headers: { 'x-api-key': key } })

async function expectGuarded(url: string, { alice, bob }: { alice: string; bob: string }) {
  const secret = await fetch(`${url}/secret`)
  expect(secret.status).toBe(401)
  expect(secret.headers.get('www-authenticate')).toMatch(/^Bearer/)
  expect((await fetch(`${url}/secret`, { method: 'HEAD' })).status).toBe(401)
  expect(await (await fetch(`${url}/secret`, as(bob))).json()).toEqual({ user: 'bob' })
  expect((await fetch(`${url}/agents`)).status).toBe(401)
  expect((await fetch(`${url}/agents`, as(bob))).status).toBe(403)
  expect(await (await fetch(`${url}/agents`, as(alice))).json()).toEqual({ user: 'alice' })
  expect(await (await fetch(`${url}/open`)).json()).toEqual({ auth: null })
  expect((await fetch(`${url}/nowhere`)).status).toBe(404)
}

const listen = (instance: FastifyInstance) => instance.listen({ host: '127.0.0.1', port: 0 })

describe('@keyward/fastify guards routes whatever the order they were declared in', () => {
  it('routes declared before `await app.register(keyward)`', async () => {
    const { keyward: engine } = createFixture()
    const { app: host } = app()
    declareRoutes(host)
    await host.register(keyward, { keyward: engine })
    await expectGuarded(await listen(host), await keys(engine))
  })

  it('routes declared right after `app.register(keyward)` without await', async () => {
    const { keyward: engine } = createFixture()
    const { app: host } = app()
    host.register(keyward, { keyward: engine })
    declareRoutes(host)
    await expectGuarded(await listen(host), await keys(engine))
  })

  it.each([
    ['awaited', true],
    ['not awaited', false],
  ])('routes of a plugin registered before keyward (%s)', async (_, awaited) => {
    const { keyward: engine } = createFixture()
    const { app: host } = app()
    const routes = host.register(async (scope) => declareRoutes(scope))
    if (awaited) await routes
    const registered = host.register(keyward, { keyward: engine })
    if (awaited) await registered
    await expectGuarded(await listen(host), await keys(engine))
  })

  it('routes declared after keyward too, when earlier routes were declared before it', async () => {
    const { keyward: engine } = createFixture()
    const { app: host } = app()
    host.get('/health', async () => ({ ok: true }))
    await host.register(keyward, { keyward: engine })
    declareRoutes(host)
    await expectGuarded(await listen(host), await keys(engine))
  })

  it('guards before the route’s own onRequest hooks, in any order', async () => {
    const { keyward: engine } = createFixture()
    const { app: host } = app()
    const seenByOwnHook: unknown[] = []
    host.register(keyward, { keyward: engine })
    host.get(
      '/secret',
      {
        config: { keyward: true },
        onRequest: async (request) => void seenByOwnHook.push(request.auth.userId),
      },
      async () => ({}),
    )
    const url = await listen(host)
    expect((await fetch(`${url}/secret`)).status).toBe(401)
    expect((await fetch(`${url}/secret`, as((await keys(engine)).bob))).status).toBe(200)
    expect(seenByOwnHook).toEqual(['bob'])
  })

  it.each([
    // The guard is the route's first own hook: after every onRequest hook of the scope.
    ['registered first', false, { before: [null, null, null], after: [null, null, null], own: ['bob'] }],
    // The guard is a scope hook where the plugin was registered: before the hooks added after it.
    ['registered after a route', true, { before: [null, null, null], after: ['bob', null], own: ['bob'] }],
  ])(
    "runs where the README's Order section says, among the app's onRequest hooks (%s)",
    async (_, routeFirst, expected) => {
      const { keyward: engine } = createFixture()
      const { app: host } = app()
      const seen: Record<string, unknown[]> = { before: [], after: [], own: [] }
      const record = (name: string) => async (request: FastifyRequest) =>
        void seen[name]?.push(request.auth?.userId ?? request.auth)
      if (routeFirst) host.get('/health', async () => ({ ok: true }))
      host.addHook('onRequest', record('before'))
      await host.register(keyward, { keyward: engine })
      host.addHook('onRequest', record('after'))
      host.get('/secret', { config: { keyward: true }, onRequest: record('own') }, async () => ({}))
      host.get('/open', async () => ({}))
      const url = await listen(host)
      expect((await fetch(`${url}/secret`, as((await keys(engine)).bob))).status).toBe(200)
      expect((await fetch(`${url}/open`)).status).toBe(200)
      expect((await fetch(`${url}/secret`)).status).toBe(401)
      expect(seen).toEqual(expected)
    },
  )

  it.each(INVALID_ROUTE_RULES)(
    'fails closed on config.keyward = %j of a route declared before keyward',
    async (rule) => {
      const { app: host, hostErrors } = app()
      let served = false
      host.get('/x', { config: { keyward: rule as never } }, async () => {
        served = true
        return 'ok'
      })
      await host.register(keyward, { keyward: createFixture().keyward })
      const response = await fetch(`${await listen(host)}/x`)
      expect(response.status).toBe(500)
      expect(served).toBe(false)
      expect(String(hostErrors[0])).toMatch(/config\.keyward" of GET \/x must be true or \{ permissions/)
    },
  )

  it('refuses an invalid rule at declaration when declared after keyward, in either mode', async () => {
    const { app: host } = app()
    host.get('/health', async () => ({ ok: true }))
    await host.register(keyward, { keyward: createFixture().keyward })
    expect(() => host.get('/x', { config: { keyward: false as never } }, async () => 'ok')).toThrow(
      /config\.keyward" of GET \/x must be true/,
    )
  })
})

describe('what each order costs', () => {
  /** The onRequest hooks of a route, by name, as Fastify itself lists them. */
  function onRequestOf(instance: FastifyInstance, path: string): string {
    const routes = instance.printRoutes({ includeMeta: ['onRequest'], commonPrefix: false })
    const lines = routes.split('\n')
    const at = lines.findIndex((line) => line.includes(`${path} (GET`))
    const meta = lines[at + 1] ?? ''
    return meta.includes('(onRequest)') ? meta : ''
  }

  it('registered first: only the guarded routes get a hook, and the others none', async () => {
    const { app: host } = app()
    await host.register(keyward, { keyward: createFixture().keyward })
    declareRoutes(host)
    await host.ready()
    expect(onRequestOf(host, '/secret')).toContain('keywardGuard')
    expect(onRequestOf(host, '/agents')).toContain('keywardGuard')
    expect(onRequestOf(host, '/open')).toBe('')
  })

  it('registered after routes: one app-wide hook that reads the route config', async () => {
    const { app: host } = app()
    declareRoutes(host)
    await host.register(keyward, { keyward: createFixture().keyward })
    await host.ready()
    for (const path of ['/secret', '/agents', '/open']) {
      expect(onRequestOf(host, path)).toMatch(/\["keywardRouteConfigGuard\(\)"\]$/)
    }
  })
})
