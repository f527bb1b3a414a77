/**
 * A browser app on another origin calls keyward's routes and the guarded ones through each
 * framework's own CORS plugin, mounted in the order the adapters' READMEs give: its preflights
 * are answered, and every answer it reads (keyward's and the guard's refusals too) carries
 * Access-Control-Allow-Origin, which a browser needs to let the page read it.
 */
import fastifyCors from '@fastify/cors'
import { createKeyward, type Keyward } from '@keyward/core'
import { keywardExpress } from '@keyward/express'
import { keyward as keywardFastify } from '@keyward/fastify'
import { keywardKoa } from '@keyward/koa'
import koaCors from '@koa/cors'
import Router from '@koa/router'
import cors from 'cors'
import express from 'express'
import fastify, { type FastifyInstance } from 'fastify'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET } from './support/fixture.js'
import type { RunningServer } from './support/host.js'
import { listenOnLoopback } from './support/listen.js'

const APP_ORIGIN = 'https://app.example'
/** The methods keyward's routes use (the plugins' defaults may leave DELETE out), and the headers a page must read. */
const METHODS = ['GET', 'HEAD', 'POST', 'DELETE']
const EXPOSED = ['Retry-After', 'WWW-Authenticate', 'RateLimit', 'RateLimit-Policy']

/** Declares the guarded route and listens. */
async function fastifyListening(app: FastifyInstance): Promise<RunningServer> {
  app.get('/v1/me', { config: { keyward: true } }, async (request) => ({ user: request.auth.userId }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const running = await listenOnLoopback(app.server, [])
  return { ...running, close: () => app.close() }
}

const HOSTS = {
  async express(engine: Keyward): Promise<RunningServer> {
    const auth = keywardExpress(engine)
    const app = express()
    app.use(cors({ origin: APP_ORIGIN, methods: METHODS, exposedHeaders: EXPOSED }))
    app.use(auth.routes)
    app.get('/v1/me', auth.requireAuth(), (req, res) => {
      res.json({ user: req.auth.userId })
    })
    return listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  },
  async fastify(engine: Keyward): Promise<RunningServer> {
    const app = fastify()
    await app.register(keywardFastify, { keyward: engine })
    await app.register(fastifyCors, { origin: APP_ORIGIN, methods: METHODS, exposedHeaders: EXPOSED })
    return fastifyListening(app)
  },
  // A route declared before keyward puts it in its one-hook mode: @fastify/cors goes first there.
  async 'fastify, one-hook mode'(engine: Keyward): Promise<RunningServer> {
    const app = fastify()
    app.get('/public', async () => ({ public: true }))
    await app.register(fastifyCors, { origin: APP_ORIGIN, methods: METHODS, exposedHeaders: EXPOSED })
    await app.register(keywardFastify, { keyward: engine })
    return fastifyListening(app)
  },
  async koa(engine: Keyward): Promise<RunningServer> {
    const auth = keywardKoa(engine)
    const app = new Koa()
    const router = new Router()
    app.use(koaCors({ origin: APP_ORIGIN, allowMethods: METHODS, exposeHeaders: EXPOSED }))
    app.use(auth.routes)
    router.get('/v1/me', auth.requireAuth(), (ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    })
    app.use(router.routes())
    return listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  },
} satisfies Record<string, (engine: Keyward) => Promise<RunningServer>>

describe.each(Object.keys(HOSTS) as Array<keyof typeof HOSTS>)('CORS on %s', (framework) => {
  let server: RunningServer
  let engine: Keyward
  let key: string
  beforeAll(async () => {
    engine = createKeyward({
      jwtSecret: JWT_SECRET,
      users: { get: (id) => ({ id, permissions: [] }) },
    })
    key = (await engine.issueKey('alice', { name: 'browser' })).key
    server = await HOSTS[framework](engine)
  })
  afterAll(async () => {
    await server.close()
    await engine.close()
  })

  const fromApp = (method: string, path: string, headers: Record<string, string> = {}, json?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        origin: APP_ORIGIN,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: json === undefined ? undefined : JSON.stringify(json),
    })
  const listed = (value: string | null) => value?.toLowerCase().split(/\s*,\s*/)

  it.each([
    ['DELETE', '/accounts/api-key', 'x-api-key'],
    ['POST', '/accounts/auth-with-api-key', 'content-type'],
    ['GET', '/v1/me', 'authorization'],
  ])('answers the preflight of %s %s with %s', async (method, path, header) => {
    const reply = await fromApp('OPTIONS', path, {
      'access-control-request-method': method,
      'access-control-request-headers': header,
    })
    expect(reply.status).toBeLessThan(300)
    expect(reply.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(listed(reply.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase())
    expect(listed(reply.headers.get('access-control-allow-headers'))).toContain(header)
  })

  it.each([
    ['the guard refusing no credential', () => fromApp('GET', '/v1/me'), 401],
    ['the guard letting a key through', () => fromApp('GET', '/v1/me', { 'x-api-key': key }), 200],
    [
      "keyward's route refusing a wrong key",
      () => fromApp('POST', '/accounts/auth-with-api-key', {}, { api_key: `ms-${'0'.repeat(32)}` }),
      401,
    ],
    ["keyward's route refusing a method", () => fromApp('PUT', '/accounts/api-key'), 405],
  ])('lets the page read %s', async (_case, send, status) => {
    const reply = await send()
    expect(reply.status).toBe(status)
    expect(reply.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(listed(reply.headers.get('access-control-expose-headers'))).toContain('www-authenticate')
  })
})
