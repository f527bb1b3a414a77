import type { AddressInfo } from 'node:net'
import { startExample } from '@keyward/example-shared'
import { keywardKoa } from '@keyward/koa'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa, { type Middleware } from 'koa'

const example = await startExample()
const auth = keywardKoa(example.keyward)
const app = new Koa()
const router = new Router()

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
app.use(auth.routes)

// What the body parser refuses (malformed JSON on /login, a body too large) is answered in JSON,
// not with Koa's plain-text default and a stack trace in the log.
const jsonErrors: Middleware = async (ctx, next) => {
  try {
    await next()
  } catch (error) {
    const status = (error as { status?: unknown }).status
    if (typeof status !== 'number' || status < 400 || status >= 500) throw error
    ctx.status = status
    ctx.body = { error: 'Invalid request', message: 'Send JSON { "username": "...", "password": "..." }' }
  }
}

// The host's own login, as a real application has one.
router.post('/login', jsonErrors, bodyParser(), async (ctx) => {
  const { status, headers = {}, body } = await example.login(ctx.request.body)
  ctx.status = status
  ctx.set(headers)
  ctx.body = body
})

// A route of the host's, guarded: an API key (X-Api-Key or Bearer) or an auth token. protect() is
// the guard and the handler in one middleware; auth.requireAuth({ ... }) before the handler does the
// same as a middleware of its own, which Koa charges for on every request.
router.get(
  '/v1/agents',
  auth.protect({ permissions: ['agents:read'] }, (ctx) => {
    ctx.body = example.agents(ctx.state.auth)
  }),
)

app.use(router.routes()).use(router.allowedMethods())

const server = app.listen(example.config.port, example.config.host, () => {
  example.listening(
    'koa',
    (server.address() as AddressInfo).port,
    () => new Promise((done) => server.close(() => done())),
  )
})
