import {
  type AuthenticateOptions,
  type GuardOutcome,
  type GuardRequest,
  type Keyward,
  KeywardConfigError,
  type Principal,
} from '@keyward/core'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { send } from './reply.js'
import { keywardRoutes } from './routes.js'

export interface KeywardPluginOptions {
  /** The engine from createKeyward(). */
  readonly keyward: Keyward
}

/** A route's `config.keyward`: `true` for any authenticated caller, or the permissions required. */
export type KeywardRouteGuard = true | { readonly permissions: readonly string[] }

const isRouteGuard = (rule: unknown): rule is KeywardRouteGuard =>
  rule === true ||
  (typeof rule === 'object' &&
    rule !== null &&
    Array.isArray((rule as { permissions?: unknown }).permissions) &&
    (rule as { permissions: unknown[] }).permissions.every((permission) => typeof permission === 'string'))

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request; set on the routes the guard protects. */
    auth: Principal
  }
  interface FastifyInstance {
    /** The guard as an onRequest hook: sets `request.auth`, or answers 400/401/403/429/503 itself. */
    keywardAuth(options?: AuthenticateOptions): onRequestHookHandler
  }
  interface FastifyContextConfig {
    /** Guards the route: `true` for any authenticated caller, or `{ permissions }`. */
    keyward?: KeywardRouteGuard
  }
}

/** What the core reads of a request: the raw header lines, its connection, and the address only if it must. */
class GuardView implements GuardRequest {
  constructor(private readonly request: FastifyRequest) {}
  get rawHeaders(): readonly string[] {
    return this.request.raw.rawHeaders
  }
  get ip(): string {
    return this.request.ip
  }
  get socket(): object {
    return this.request.raw.socket
  }
}

function admit(outcome: GuardOutcome, request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (!outcome.ok) {
    send(reply, outcome.response)
    return
  }
  request.auth = outcome.auth
  done()
}

const plugin: FastifyPluginAsync<KeywardPluginOptions> = async (fastify, options) => {
  const engine = options?.keyward
  if (typeof engine?.handle !== 'function' || typeof engine.guard !== 'function') {
    throw new KeywardConfigError('keyward', 'must be the engine that createKeyward() returned')
  }

  /**
   * The guard runs in onRequest: the cheapest place, before any body is read. It is a callback
   * hook, not an async one, because the core answers a warm key without a promise: first from
   * memory alone (admitFromMemory), else through the full guard.
   */
  const guard = (guardOptions?: AuthenticateOptions): onRequestHookHandler => {
    return function keywardGuard(request, reply, done) {
      const known = engine.admitFromMemory(request.raw, guardOptions)
      if (known !== undefined) {
        request.auth = known
        done()
        return
      }
      const outcome = engine.guard(new GuardView(request), guardOptions)
      if (outcome instanceof Promise) outcome.then((settled) => admit(settled, request, reply, done), done)
      else admit(outcome, request, reply, done)
    }
  }

  fastify.decorateRequest('auth', null as unknown as Principal)
  fastify.decorate('keywardAuth', guard)
  fastify.addHook('onRoute', (route) => {
    const rule: unknown = route.config?.keyward
    if (rule === undefined) return
    if (!isRouteGuard(rule)) {
      const where = `${route.method} ${route.url}`
      throw new KeywardConfigError('config.keyward', `of ${where} must be true or { permissions: [...] }`)
    }
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat()
    route.onRequest = [guard(rule === true ? undefined : rule), ...own]
  })
  await fastify.register(keywardRoutes(engine))
}

/** The Fastify plugin: `await app.register(keyward, { keyward: engine })`. */
export const keyward = fp(plugin, { fastify: '5.x', name: '@keyward/fastify' })
