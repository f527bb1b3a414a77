import type { Keyward } from '@keyward/core'
import express from 'express'
import express4 from 'express-4.21.2'
import express50 from 'express-5.0.0'
import fastify from 'fastify'
import fastify50 from 'fastify-5.0.0'
import Koa from 'koa'
import Koa2 from 'koa-2.15.4'
import Koa30 from 'koa-3.0.0'
import { startExpressHost } from '../../../packages/express/test/host.js'
import { startFastifyHost } from '../../../packages/fastify/test/host.js'
import { startKoaHost } from '../../../packages/koa/test/host.js'
import type { RunningServer } from './host.js'

export type { RunningServer } from './host.js'
export { AGENTS_PERMISSION, GUARDED } from './host.js'

type StartServer = (keyward: Keyward) => Promise<RunningServer>

/**
 * The same host application on each framework, listening on 127.0.0.1:0: keyward's routes,
 * GET /v1/agents (needs agents:read), GET /v1/me (any caller), GET /public, POST /echo
 * (the text body back), and an error handler that records what reaches it. Each framework at the
 * workspace's release (the newest) and at the oldest release of each major line the adapters'
 * peerDependencies accept, installed under aliases: the contract suite runs on every one.
 */
export const START_SERVER = {
  express: (keyward) => startExpressHost(keyward, express),
  'express 5.0.0': (keyward) => startExpressHost(keyward, express50),
  'express 4.21.2': (keyward) => startExpressHost(keyward, express4),
  fastify: (keyward) => startFastifyHost(keyward, fastify),
  // Fastify ships its own types: 5.0.0's are another copy of the same declarations.
  'fastify 5.0.0': (keyward) => startFastifyHost(keyward, fastify50 as unknown as typeof fastify),
  koa: (keyward) => startKoaHost(keyward, Koa),
  'koa 3.0.0': (keyward) => startKoaHost(keyward, Koa30),
  'koa 2.15.4': (keyward) => startKoaHost(keyward, Koa2),
} satisfies Record<string, StartServer>

/** A framework at one release, as the suite names it: `express` is the workspace's. */
export type Framework = keyof typeof START_SERVER
export const FRAMEWORKS = Object.keys(START_SERVER) as readonly Framework[]
