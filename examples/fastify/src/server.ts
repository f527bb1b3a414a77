import {
  type ExampleResponse,
  loginMethodNotAllowed,
  startExample,
  thrownResponse,
} from '@keyward/example-shared'
import { keyward } from '@keyward/fastify'
import Fastify, { type FastifyError, type FastifyReply } from 'fastify'

const example = await startExample()
const app = Fastify()

const send = (reply: FastifyReply, { status, headers, body }: ExampleResponse) =>
  reply.code(status).headers(headers).send(body)

// keyward's routes: /accounts/auth-with-api-key, /accounts/api-key, /accounts/generate-totp-key, ...
await app.register(keyward, { keyward: example.keyward })

// The host's own login, as a real application has one, in a scope of its own: its error handler
// answers what the body parser refuses (malformed JSON, another media type) in JSON as Express
// and Koa do, and like theirs it takes JSON only (Fastify would also parse text/plain).
await app.register(async (login) => {
  login.removeContentTypeParser('text/plain')
  login.setErrorHandler<FastifyError>(async (error, request, reply) =>
    // Express and Koa read an empty JSON body as no body, where Fastify refuses it.
    error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
      ? send(reply, await example.login(undefined, request.ip))
      : send(reply, thrownResponse(error)),
  )
  login.post('/login', async (request, reply) => send(reply, await example.login(request.body, request.ip)))
  // HEAD comes with GET.
  login.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/login',
    handler: (_request, reply) => send(reply, loginMethodNotAllowed),
  })
})

// Sign out everywhere: any credential of the user's ends all of the user's sessions.
app.post('/logout', { config: { keyward: true } }, async (request, reply) =>
  send(reply, await example.logout(request.auth)),
)

// Readiness, for a load balancer: 503 while the store does not answer.
app.get('/ready', async (_request, reply) => send(reply, await example.ready()))

// A route of the host's, guarded: an API key (X-Api-Key or Bearer) or an auth token.
app.get('/v1/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) =>
  example.agents(request.auth),
)
// A write needs agents:write: alice, who holds agents:read only, gets the guide's 403.
app.delete<{ Params: { id: string } }>(
  '/v1/agents/:id',
  { config: { keyward: { permissions: ['agents:write'] } } },
  async (request, reply) => send(reply, example.deleteAgent(request.params.id, request.auth)),
)

try {
  await app.listen({ port: example.config.port, host: example.config.host })
} catch (error) {
  await example.cannotListen(error)
}
example.listening('fastify', app.server, () => app.close())
