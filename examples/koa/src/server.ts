import {
  type ExampleResponse,
  loginMethodNotAllowed,
  notJsonBody,
  startExample,
  thrownResponse,
} from '@keyward/example-shared'
import { keywardKoa } from '@keyward/koa'
import { bodyParser } from '@koa/bodyparser'
import Router from '@koa/router'
import Koa, { type Context, type Middleware } from 'koa'

const example = await startExample()
const auth = keywardKoa(example.keyward)
const app = new Koa()
const router = new Router()

const send = (ctx: Context, { status, headers, body }: ExampleResponse) => {
  ctx.status = status
  ctx.set(headers)
  ctx.body = body
}

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
app.use(auth.routes)

// What the body parser refuses (malformed JSON on /login, a body too large) is answered in JSON,
// not with Koa's plain-text default and a stack trace in the log.
const jsonErrors: Middleware = async (ctx, next) => {
  try {
    await next()
  } catch (error) {
    send(ctx, thrownResponse(error))
  }
}

// bodyParser() would also read a form body (its default types are json and form): refuse any but
// JSON, as Express and Fastify do.
const jsonOnly: Middleware = (ctx, next) =>
  ctx.is('application/json') === false ? send(ctx, notJsonBody) : next()

// The host's own login, as a real application has one.
router.post('/login', jsonErrors, jsonOnly, bodyParser({ enableTypes: ['json'] }), async (ctx) => {
  send(ctx, await example.login(ctx.request.body, ctx.ip))
})
router.all('/login', (ctx) => send(ctx, loginMethodNotAllowed))

// Readiness, for a load balancer: 503 while the store does not answer.
router.get('/ready', async (ctx) => {
  send(ctx, await example.ready())
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
// Sign out everywhere: any credential of the user's ends all of the user's sessions.
router.post(
  '/logout',
  auth.protect(async (ctx) => {
    send(ctx, await example.logout(ctx.state.auth))
  }),
)
// A write needs agents:write: alice, who holds agents:read only, gets the guide's 403.
router.delete(
  '/v1/agents/:id',
  auth.protect({ permissions: ['agents:write'] }, (ctx) => {
    send(ctx, example.deleteAgent(ctx.params.id, ctx.state.auth))
  }),
)

// No router.allowedMethods(): a wrong method is the route's to answer (405 on /login), else a 404,
// as on Fastify (Express answers OPTIONS itself, with Allow).
app.use(router.routes())

const server = app.listen(example.config.port, example.config.host, () => {
  example.listening('koa', server)
})
server.once('error', (error) => void example.cannotListen(error))
