import type { Keyward } from '@keyward/core'
import { startExpressHost } from '../../../packages/express/test/host.js'
import { startFastifyHost } from '../../../packages/fastify/test/host.js'
import { startKoaHost } from '../../../packages/koa/test/host.js'
import type { RunningServer } from './host.js'

export type { RunningServer } from './host.js'
export { AGENTS_PERMISSION, GUARDED } from './host.js'

export type Framework = 'express' | 'fastify' | 'koa'
export const FRAMEWORKS: readonly Framework[] = ['express', 'fastify', 'koa']

/**
 * The same host application on each framework, listening on 127.0.0.1:0: keyward's routes,
 * GET /v1/agents (needs agents:read), GET /v1/me (any caller), GET /public, POST /echo
 * (the text body back), and an error handler that records what reaches it.
 */
export const START_SERVER: Record<Framework, (keyward: Keyward) => Promise<RunningServer>> = {
  express: startExpressHost,
  fastify: startFastifyHost,
  koa: startKoaHost,
}
