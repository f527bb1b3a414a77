import type { AddressInfo } from 'node:net'
import { startExample } from '@keyward/example-shared'
import { keywardExpress } from '@keyward/express'
import express, { type NextFunction, type Request, type Response } from 'express'

const example = await startExample()
const auth = keywardExpress(example.keyward)
const app = express()

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
app.use(auth.routes)

// The host's own login, as a real application has one.
app.post('/login', express.json(), async (req, res) => {
  const { status, headers = {}, body } = await example.login(req.body)
  res.status(status).set(headers).json(body)
})

// A route of the host's, guarded: an API key (X-Api-Key or Bearer) or an auth token.
app.get('/v1/agents', auth.requireAuth({ permissions: ['agents:read'] }), (req, res) => {
  res.json(example.agents(req.auth))
})

// What the host's body parser refuses (malformed JSON on /login) is answered in JSON, never with
// Express's default page, which shows the stack trace outside production.
app.use((error: { status?: number; expose?: boolean }, _req: Request, res: Response, next: NextFunction) => {
  if (res.headersSent) return next(error)
  const status = error.expose === true && error.status !== undefined ? error.status : 500
  res
    .status(status)
    .json(
      status === 500
        ? { error: 'Internal error', message: 'Something went wrong' }
        : { error: 'Invalid request', message: 'Send JSON { "username": "...", "password": "..." }' },
    )
})

// Express 5 hands a failed listen (a port in use, a bad HOST) to this callback.
const server = app.listen(example.config.port, example.config.host, (error?: Error) => {
  if (error) throw error
  example.listening(
    'express',
    (server.address() as AddressInfo).port,
    () => new Promise((done) => server.close(() => done())),
  )
})
