import type { Keyward } from '@keyward/core'
import { keywardKoa } from '@keyward/koa'
import Router from '@koa/router'
import Koa from 'koa'
import { AGENTS_PERMISSION, GUARDED, type RunningServer } from '../../../test/contract/support/host.js'
import { listenOnLoopback } from '../../../test/contract/support/listen.js'

/**
 * The contract suite's host application on Koa (the workspace's release unless given another),
 * with @koa/router for the host's routes.
 */
export function startKoaHost(keyward: Keyward, Application = Koa): Promise<RunningServer> {
  const hostErrors: unknown[] = []
  const auth = keywardKoa(keyward)
  const app = new Application()
  const router = new Router()
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (error) {
      hostErrors.push(error)
      ctx.status = 500
      ctx.body = { error: 'host error handler' }
    }
  })
  // What reaches Koa's own handler (thrown past the middleware above, or a response's stream
  // failing) is recorded too, but for a client that reset its connection: the client's doing.
  app.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET') hostErrors.push(error)
  })
  app.use(auth.routes)
  // Both forms of the guard: protect (guard and handler in one) and requireAuth (a middleware of its own).
  router.get(
    GUARDED.agents,
    auth.protect({ permissions: [AGENTS_PERMISSION] }, (ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    }),
  )
  router.get(GUARDED.me, auth.requireAuth(), (ctx) => {
    ctx.body = { user: ctx.state.auth.userId, credential: ctx.state.auth.credential }
  })
  router.get('/public', (ctx) => {
    ctx.body = { public: true }
  })
  router.post('/echo', async (ctx) => {
    const chunks: Buffer[] = []
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
    ctx.body = { echo: Buffer.concat(chunks).toString('utf8') }
  })
  app.use(router.routes())
  return listenOnLoopback(app.listen(0, '127.0.0.1'), hostErrors)
}
