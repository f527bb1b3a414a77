import type { Keyward } from '@keyward/core'
import { keyward as keywardPlugin } from '@keyward/fastify'
import Fastify from 'fastify'
import { AGENTS_PERMISSION, GUARDED, type RunningServer } from '../../../test/contract/support/host.js'
import { listenOnLoopback } from '../../../test/contract/support/listen.js'

/**
 * The contract suite's host application on Fastify (the workspace's release unless given
 * another): one guard by route config, one by hook.
 */
export async function startFastifyHost(keyward: Keyward, fastify = Fastify): Promise<RunningServer> {
  const hostErrors: unknown[] = []
  const app = fastify()
  app.setErrorHandler((error, _request, reply) => {
    hostErrors.push(error)
    return reply.code(500).send({ error: 'host error handler' })
  })
  await app.register(keywardPlugin, { keyward })
  app.get(GUARDED.agents, { config: { keyward: { permissions: [AGENTS_PERMISSION] } } }, async (request) => ({
    user: request.auth.userId,
  }))
  app.get(GUARDED.me, { onRequest: app.keywardAuth() }, async (request) => ({
    user: request.auth.userId,
    credential: request.auth.credential,
  }))
  app.get('/public', async () => ({ public: true }))
  app.post('/echo', async (request) => ({ echo: request.body }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const running = await listenOnLoopback(app.server, hostErrors)
  return { ...running, close: () => app.close() }
}
