import type { AddressInfo } from 'node:net'
import { startExample } from '@keyward/example-shared'
import { keywardExpress } from '@keyward/express'
import express from 'express'

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

const server = app.listen(example.config.port, example.config.host, () => {
  example.listening(
    'express',
    (server.address() as AddressInfo).port,
    () => new Promise((done) => server.close(() => done())),
  )
})
