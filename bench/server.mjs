/**
 * One benchmark process: `node bench/server.mjs <framework> [--steps] [--base <root>]`. It starts
 * one app per guard, each on its own port on 127.0.0.1, all in this process, so that every variant
 * runs on the same framework code, JIT state and heap, and a comparison measures the guard, not
 * one process's luck:
 *   none     the unguarded route
 *   control  a second unguarded app: the noise floor of a comparison (its ratio to `none` should be 1)
 *   keyward  keyward's guard (an API key or an auth token)
 *   noop     a guard that admits everyone: what the framework charges for one more hook or middleware
 *   peer     @fastify/bearer-auth on Fastify, passport-headerapikey on Express (no peer on Koa)
 *   floor    keyward's necessary per-request work in one hook or middleware (bench/lib/floor-guard.mjs)
 *   protect  keyward's guard and the route's handler in one function (`auth.protect`; Express, Koa)
 * With --steps, also the floor taken apart, one app per step (floorSteps: state, header, clock,
 * memo, user). With --base <root>, also `base`: keyward's guard as another checkout built it (its
 * core and this framework's adapter, e.g. a `git worktree` of the base commit), on the same store
 * and key, so that two builds meet head to head in one framework process (bench/ablate.mjs).
 * It issues one key (and a token from it) in a memory store and prints one JSON line
 * { ports: { none, control, keyward, noop, peer?, floor?, protect?, ... }, key, token } when ready.
 */
import { resolve as resolvePath } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createKeyward, memoryStore } from '@keyward/core'
import { floorFor, floorSteps, mountCheck } from './lib/floor-guard.mjs'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { steps: { type: 'boolean', default: false }, base: { type: 'string' } },
})
const [framework] = positionals
const BENCH_USER = { id: 'bench', permissions: ['agents:read'] }
// A host's directory would hand out its cached user, not build one per request.
const users = { get: (id) => (id === BENCH_USER.id ? BENCH_USER : null) }
const jwtSecret = 'bench-secret-bench-secret-bench-secret-00'
const store = memoryStore()
// The issuance figure issues thousands of keys to one user: maxKeysPerUser would refuse them.
const keyward = createKeyward({ jwtSecret, users, store, maxKeysPerUser: false })
const { key, id: keyId } = await keyward.issueKey('bench', { name: 'bench' })
const { auth_token: token } = await keyward.authenticateWithApiKey(key)
const payload = { data: [{ id: 'agt_1', name: 'Invoice reader' }] }
const PERMISSIONS = ['agents:read']
const floorOptions = { key, keyId, userId: BENCH_USER.id, users, permissions: PERMISSIONS }
const steps = flags.steps ? floorSteps(floorOptions) : {}
/** The other build's engine and adapter module, reading the same store. */
const base =
  flags.base === undefined
    ? undefined
    : await (async (root) => {
        const from = (path) => import(pathToFileURL(resolvePath(root, path)).href)
        const core = await from('packages/core/dist/index.js')
        return {
          engine: core.createKeyward({ jwtSecret, users, store }),
          adapter: await from(`packages/${framework}/dist/index.js`),
        }
      })(flags.base)
/** The apps a framework serves beside its own: the steps and the other build, if asked for. */
const extraGuards = [...Object.keys(steps), ...(base ? ['base'] : [])]
/** Express and Koa apps listen through Node's http server that `listen` returns. */
const listening = (app) =>
  new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })

const fastify = {
  async start(guard) {
    const { default: Fastify } = await import('fastify')
    const app = Fastify({ logger: false })
    if (guard === 'peer') {
      // keyward's plugin on the peer's app too (no hook on an unguarded route, only the request's
      // `auth` slot), so that the apps differ only in the guard.
      await app.register((await import('@keyward/fastify')).keyward, { keyward })
      await app.register((await import('@fastify/bearer-auth')).default, { keys: new Set([key]) })
      app.get('/v1/agents', async () => payload)
    } else {
      const [plugin, engine] =
        guard === 'base'
          ? [base.adapter.keyward, base.engine]
          : [(await import('@keyward/fastify')).keyward, keyward]
      await app.register(plugin, { keyward: engine })
      const config = guard === 'keyward' || guard === 'base' ? { keyward: { permissions: PERMISSIONS } } : {}
      const onRequest =
        guard === 'noop'
          ? (_request, _reply, done) => done()
          : guard === 'floor'
            ? floorFor('fastify', floorOptions)
            : guard in steps
              ? mountCheck.fastify(steps[guard])
              : undefined
      app.get('/v1/agents', { config, onRequest }, async () => payload)
    }
    await app.listen({ port: 0, host: '127.0.0.1' })
    return app.server.address().port
  },
  guards: ['none', 'control', 'keyward', 'noop', 'peer', 'floor', ...extraGuards],
}

const express = {
  async start(guard) {
    const { default: Express } = await import('express')
    const app = Express()
    app.disable('x-powered-by')
    if (guard === 'base') {
      // A copy of Express's shared request prototype for this app alone: auth-slot.ts defines its
      // `auth` accessor on the prototypes above the request, and on a shared one the first build to
      // guard would own it, the other then handing off through that build's setter.
      const { auth: _taken, ...own } = Object.getOwnPropertyDescriptors(Express.request)
      Object.setPrototypeOf(app.request, Object.create(Object.getPrototypeOf(Express.request), own))
    }
    // keyward's routes on every app, the peer's too: the apps then differ only in the guard.
    const auth = (await import('@keyward/express')).keywardExpress(keyward)
    app.use(auth.routes)
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
      const handlers =
        {
          noop: [(_req, _res, next) => next()],
          keyward: [auth.requireAuth({ permissions: PERMISSIONS })],
          floor: [floorFor('express', floorOptions)],
          base: base && [base.adapter.keywardExpress(base.engine).requireAuth({ permissions: PERMISSIONS })],
        }[guard] ?? (guard in steps ? [mountCheck.express(steps[guard])] : [])
      const respond = (_req, res) => res.json(payload)
      if (guard === 'protect') app.get('/v1/agents', auth.protect({ permissions: PERMISSIONS }, respond))
      else app.get('/v1/agents', ...handlers, respond)
    }
    return listening(app)
  },
  guards: ['none', 'control', 'keyward', 'noop', 'peer', 'floor', 'protect', ...extraGuards],
}

const koa = {
  async start(guard) {
    const { default: Koa } = await import('koa')
    const { default: Router } = await import('@koa/router')
    const auth = (await import('@keyward/koa')).keywardKoa(keyward)
    const app = new Koa()
    const router = new Router()
    app.use(auth.routes)
    const handlers =
      {
        noop: [(_ctx, next) => next()],
        keyward: [auth.requireAuth({ permissions: PERMISSIONS })],
        floor: [floorFor('koa', floorOptions)],
        base: base && [base.adapter.keywardKoa(base.engine).requireAuth({ permissions: PERMISSIONS })],
      }[guard] ?? (guard in steps ? [mountCheck.koa(steps[guard])] : [])
    const respond = (ctx) => {
      ctx.body = payload
    }
    if (guard === 'protect') router.get('/v1/agents', auth.protect({ permissions: PERMISSIONS }, respond))
    else router.get('/v1/agents', ...handlers, respond)
    app.use(router.routes())
    return listening(app)
  },
  guards: ['none', 'control', 'keyward', 'noop', 'floor', 'protect', ...extraGuards],
}

const host = { fastify, express, koa }[framework]
if (host === undefined) throw new Error(`unknown framework ${framework}`)
const ports = {}
for (const guard of host.guards) ports[guard] = await host.start(guard)
console.log(JSON.stringify({ ports, key, token }))
process.on('SIGTERM', () => process.exit(0))
