/**
 * One benchmark server, in its own process: `node bench/server.mjs <framework> <guard>`.
 * guard: none | key | token (keyward, either credential) | noop (a guard slot that admits everyone:
 * what the framework charges for one more hook or middleware) | peer (@fastify/bearer-auth on
 * Fastify, passport-headerapikey on Express).
 * It issues one key (and a token from it) in a memory store, listens on 127.0.0.1:0 and prints
 * one JSON line { port, key, token } when ready.
 */
import { createKeyward } from '@keyward/core'

const [framework, guard] = process.argv.slice(2)
const BENCH_USER = { id: 'bench', permissions: ['agents:read'] }
const keyward = createKeyward({
  jwtSecret: 'bench-secret-bench-secret-bench-secret-00',
  // A host's directory would hand out its cached user, not build one per request.
  users: { get: (id) => (id === BENCH_USER.id ? BENCH_USER : null) },
})
const { key } = await keyward.issueKey('bench', { name: 'bench' })
const { auth_token: token } = await keyward.authenticateWithApiKey(key)
const payload = { data: [{ id: 'agt_1', name: 'Invoice reader' }] }

async function fastify() {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ logger: false })
  if (guard === 'peer') {
    await app.register((await import('@fastify/bearer-auth')).default, { keys: new Set([key]) })
    app.get('/v1/agents', async () => payload)
  } else {
    await app.register((await import('@keyward/fastify')).keyward, { keyward })
    const keywardGuarded = guard === 'key' || guard === 'token'
    const config = keywardGuarded ? { keyward: { permissions: ['agents:read'] } } : {}
    const onRequest = guard === 'noop' ? (_request, _reply, done) => done() : undefined
    app.get('/v1/agents', { config, onRequest }, async () => payload)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app.server.address().port
}

async function express() {
  const { default: Express } = await import('express')
  const app = Express()
  app.disable('x-powered-by')
  if (guard === 'peer') {
    const { default: passport } = await import('passport')
    const { HeaderAPIKeyStrategy } = await import('passport-headerapikey')
    passport.use(
      new HeaderAPIKeyStrategy({ header: 'X-Api-Key', prefix: '' }, false, (apiKey, done) =>
        done(null, apiKey === key ? { id: 'bench' } : false),
      ),
    )
    app.use(passport.initialize())
    app.get('/v1/agents', passport.authenticate('headerapikey', { session: false }), (_req, res) =>
      res.json(payload),
    )
  } else {
    const auth = (await import('@keyward/express')).keywardExpress(keyward)
    app.use(auth.routes)
    const handlers = {
      none: [],
      noop: [(_req, _res, next) => next()],
    }[guard] ?? [auth.requireAuth({ permissions: ['agents:read'] })]
    app.get('/v1/agents', ...handlers, (_req, res) => res.json(payload))
  }
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })
}

async function koa() {
  const { default: Koa } = await import('koa')
  const { default: Router } = await import('@koa/router')
  const auth = (await import('@keyward/koa')).keywardKoa(keyward)
  const app = new Koa()
  const router = new Router()
  app.use(auth.routes)
  const handlers = {
    none: [],
    noop: [(_ctx, next) => next()],
  }[guard] ?? [auth.requireAuth({ permissions: ['agents:read'] })]
  router.get('/v1/agents', ...handlers, (ctx) => {
    ctx.body = payload
  })
  app.use(router.routes())
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })
}

const port = await { fastify, express, koa }[framework]()
console.log(JSON.stringify({ port, key, token }))
process.on('SIGTERM', () => process.exit(0))
