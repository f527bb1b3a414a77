import {
  type ExampleResponse,
  loginMethodNotAllowed,
  notJsonBody,
  startExample,
  thrownResponse,
} from '@keyward/example-shared'
import { keywardExpress } from '@keyward/express'
import express, { type NextFunction, type Request, type Response } from 'express'

const example = await startExample()
const auth = keywardExpress(example.keyward)
const app = express()

const send = (res: Response, { status, headers, body }: ExampleResponse) =>
  res.status(status).set(headers).json(body)

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
app.use(auth.routes)

// The host's own login, as a real application has one. express.json() passes other media types by
// (a form body would read as no body at all): refuse them, as Fastify does.
app.post(
  '/login',
  (req, res, next) => (req.is('application/json') === false ? send(res, notJsonBody) : next()),
  express.json(),
  async (req, res) => {
    send(res, await example.login(req.body, req.ip))
  },
)
app.all('/login', (_req, res) => send(res, loginMethodNotAllowed))

// Sign out everywhere: any credential of the user's ends all of the user's sessions.
app.post('/logout', auth.requireAuth(), async (req, res) => {
  send(res, await example.logout(req.auth))
})

// Readiness, for a load balancer: 503 while the store does not answer.
app.get('/ready', async (_req, res) => {
  send(res, await example.ready())
})

// A route of the host's, guarded: an API key (X-Api-Key or Bearer) or an auth token.
app.get('/v1/agents', auth.requireAuth({ permissions: ['agents:read'] }), (req, res) => {
  res.json(example.agents(req.auth))
})
// A write needs agents:write: alice, who holds agents:read only, gets the guide's 403.
app.delete('/v1/agents/:id', auth.requireAuth({ permissions: ['agents:write'] }), (req, res) => {
  send(res, example.deleteAgent(String(req.params.id), req.auth))
})

// What the host's body parser refuses (malformed JSON on /login) is answered in JSON, never with
// Express's default page, which shows the stack trace outside production.
app.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
  if (res.headersSent) return next(error)
  send(res, thrownResponse(error))
})

// Express 5 hands a failed listen (a port in use, a bad HOST) to this callback.
const server = app.listen(example.config.port, example.config.host, (error?: Error) => {
  if (error) return void example.cannotListen(error)
  example.listening('express', server)
})
