/**
 * keyward's hosts with each framework's own CORS plugin, configured and mounted as the adapters'
 * READMEs ("Browsers and CORS") give, for one allowed origin: the contract suite checks their
 * headers, the browser suite (test/browser) has Chromium call them from a page of that origin.
 */
import fastifyCors from '@fastify/cors'
import { createKeyward, type Keyward, type KeywardOptions } from '@keyward/core'
import { keywardExpress } from '@keyward/express'
import { keyward as keywardFastify } from '@keyward/fastify'
import { keywardKoa } from '@keyward/koa'
import koaCors from '@koa/cors'
import Router from '@koa/router'
import cors from 'cors'
import express from 'express'
import fastify, { type FastifyInstance } from 'fastify'
import Koa from 'koa'
import { JWT_SECRET } from './fixture.js'
import type { RunningServer } from './host.js'
import { listenOnLoopback } from './listen.js'

/** The headers a page must read from a refusal. */
export const EXPOSED = ['WWW-Authenticate', 'Retry-After', 'RateLimit', 'RateLimit-Policy']
/** @fastify/cors allows only GET, HEAD and POST by default; cors and @koa/cors allow DELETE already. */
const FASTIFY_METHODS = ['GET', 'HEAD', 'POST', 'DELETE']
/** The guarded route every host declares; it answers `{ user }`. */
export const GUARDED_ROUTE = '/v1/me'

/** Declares the guarded route and listens. */
async function fastifyListening(app: FastifyInstance): Promise<RunningServer> {
  app.get(GUARDED_ROUTE, { config: { keyward: true } }, async (request) => ({ user: request.auth.userId }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const running = await listenOnLoopback(app.server, [])
  return { ...running, close: () => app.close() }
}

export const CORS_HOSTS = {
  async express(engine: Keyward, origin: string): Promise<RunningServer> {
    const auth = keywardExpress(engine)
    const app = express()
    app.use(cors({ origin, exposedHeaders: EXPOSED }))
    app.use(auth.routes)
    app.get(GUARDED_ROUTE, auth.requireAuth(), (req, res) => {
      res.json({ user: req.auth.userId })
    })
    return listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  },
  async fastify(engine: Keyward, origin: string): Promise<RunningServer> {
    const app = fastify()
    await app.register(keywardFastify, { keyward: engine })
    await app.register(fastifyCors, { origin, methods: FASTIFY_METHODS, exposedHeaders: EXPOSED })
    return fastifyListening(app)
  },
  // A route declared before keyward puts it in its one-hook mode: @fastify/cors goes first there.
  async 'fastify, one-hook mode'(engine: Keyward, origin: string): Promise<RunningServer> {
    const app = fastify()
    app.get('/public', async () => ({ public: true }))
    await app.register(fastifyCors, { origin, methods: FASTIFY_METHODS, exposedHeaders: EXPOSED })
    await app.register(keywardFastify, { keyward: engine })
    return fastifyListening(app)
  },
  async koa(engine: Keyward, origin: string): Promise<RunningServer> {
    const auth = keywardKoa(engine)
    const app = new Koa()
    const router = new Router()
    app.use(koaCors({ origin, exposeHeaders: EXPOSED }))
    app.use(auth.routes)
    router.get(GUARDED_ROUTE, auth.requireAuth(), (ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    })
    app.use(router.routes())
    return listenOnLoopback(app.listen(0, '127.0.0.1'), [])
  },
} satisfies Record<string, (engine: Keyward, origin: string) => Promise<RunningServer>>

export type CorsFramework = keyof typeof CORS_HOSTS
export const CORS_FRAMEWORKS = Object.keys(CORS_HOSTS) as CorsFramework[]

export interface CorsHost {
  readonly engine: Keyward
  /** alice's key. */
  readonly key: string
  readonly server: RunningServer
  close(): Promise<void>
}

/** An engine whose users hold no permissions, a key of alice's, and the host of `framework` allowing `origin`. */
export async function startCorsHost(
  framework: CorsFramework,
  origin: string,
  options: Partial<KeywardOptions> = {},
): Promise<CorsHost> {
  const engine = createKeyward({
    jwtSecret: JWT_SECRET,
    users: { get: (id) => ({ id, permissions: [] }) },
    ...options,
  })
  const { key } = await engine.issueKey('alice', { name: 'browser' })
  const server = await CORS_HOSTS[framework](engine, origin)
  return {
    engine,
    key,
    server,
    async close() {
      await server.close()
      await engine.close()
    },
  }
}
