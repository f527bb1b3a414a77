import type { AddressInfo } from 'node:net'
import { startExample } from '@keyward/example-shared'
import { keyward } from '@keyward/fastify'
import Fastify from 'fastify'

const example = await startExample()
const app = Fastify()

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
await app.register(keyward, { keyward: example.keyward })

// The host's own login, as a real application has one.
app.post('/login', async (request, reply) => {
  const { status, headers = {}, body } = await example.login(request.body)
  return reply.code(status).headers(headers).send(body)
})

// A route of the host's, guarded: an API key (X-Api-Key or Bearer) or an auth token.
app.get('/v1/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) =>
  example.agents(request.auth),
)

await app.listen({ port: example.config.port, host: example.config.host })
example.listening('fastify', (app.server.address() as AddressInfo).port, () => app.close())
