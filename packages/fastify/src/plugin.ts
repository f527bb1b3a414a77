import {
  type AuthenticateOptions,
  checkGuardOptions,
  type Keyward,
  KeywardConfigError,
  type Principal,
} from '@keyward/core'
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifySchema,
  FastifyTypeProvider,
  FastifyTypeProviderDefault,
  onRequestHookHandler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
} from 'fastify'
import fp from 'fastify-plugin'
import { guardHook } from './guard.js'
import { checkOnRoute, guardByRouteConfig, guardOnRoute, type KeywardRouteGuard } from './route-rule.js'
import { keywardRoutes } from './routes.js'

export type { KeywardRouteGuard }

export interface KeywardPluginOptions {
  /** The engine from createKeyward(). */
  readonly keyward: Keyward
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request; set on the routes the guard protects. */
    auth: Principal
  }
  // Fastify's own type parameters, names, constraints and defaults as it declares them (declaration
  // merging requires it): the hook is typed for the instance it is called on, whatever its logger,
  // server (HTTP/2 too) or type provider.
  interface FastifyInstance<
    RawServer extends RawServerBase = RawServerDefault,
    RawRequest extends RawRequestDefaultExpression<RawServer> = RawRequestDefaultExpression<RawServer>,
    RawReply extends RawReplyDefaultExpression<RawServer> = RawReplyDefaultExpression<RawServer>,
    Logger extends FastifyBaseLogger = FastifyBaseLogger,
    TypeProvider extends FastifyTypeProvider = FastifyTypeProviderDefault,
  > {
    /** The guard as an onRequest hook: sets `request.auth`, or answers 400/401/403/429/503 itself (500 for a malformed user from the directory). */
    keywardAuth(
      options?: AuthenticateOptions,
    ): onRequestHookHandler<
      RawServer,
      RawRequest,
      RawReply,
      RouteGenericInterface,
      ContextConfigDefault,
      FastifySchema,
      TypeProvider,
      Logger
    >
  }
  interface FastifyContextConfig {
    /** Guards the route: `true` for any authenticated caller, or `{ permissions }`. */
    keyward?: KeywardRouteGuard
  }
}

/** find-my-way's answer for a router without routes; any other answer takes the path that guards them all. */
const hasRoutes = (fastify: FastifyInstance) => fastify.printRoutes() !== '(empty tree)'

const plugin: FastifyPluginAsync<KeywardPluginOptions> = async (fastify, options) => {
  const engine = options?.keyward
  if (typeof engine?.handle !== 'function' || typeof engine.guard !== 'function') {
    throw new KeywardConfigError('keyward', 'must be the engine that createKeyward() returned')
  }
  // fastify-plugin shares the parent's scope, so Fastify drops a `prefix` given here without a word
  // and the routes would be served at the root.
  if ((options as { prefix?: unknown }).prefix !== undefined) {
    throw new KeywardConfigError(
      'prefix',
      'is ignored by this plugin (it shares the scope it is registered in): give createKeyward() a ' +
        "basePath, or register the plugin inside a scope of your own with that prefix: app.register(async (api) => { await api.register(keyward, { keyward }) }, { prefix: '/api' })",
    )
  }
  const guard = (guardOptions?: AuthenticateOptions) =>
    guardHook(engine, checkGuardOptions(guardOptions, 'keywardAuth(options)'))

  fastify.decorateRequest('auth', null as unknown as Principal)
  fastify.decorate('keywardAuth', guard)
  if (hasRoutes(fastify)) {
    /*
     * Routes declared before this plugin loaded (before `await app.register(keyward)`, or by a
     * plugin loaded earlier) never reach onRoute. Fastify composes each route's hooks from its
     * instance's at ready, and hands a hook added here to the plugins already loaded too, so an
     * instance hook is the one thing that reaches them. It costs every route one hook.
     */
    fastify.addHook('onRequest', guardByRouteConfig(guard))
    fastify.addHook('onRoute', checkOnRoute)
  } else {
    // Every route is yet to come: each guarded one gets its own hook, and the others none.
    fastify.addHook('onRoute', guardOnRoute(guard))
  }
  await fastify.register(keywardRoutes(engine))
}

/** The Fastify plugin: `await app.register(keyward, { keyward: engine })`, before declaring routes. */
export const keyward = fp(plugin, { fastify: '5.x', name: '@keyward/fastify' })
