import type { Keyward, Principal } from '@keyward/core'
import { type KeywardPluginOptions, type KeywardRouteGuard, keyward } from '@keyward/fastify'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyRequest,
  type FastifyTypeProvider,
  type onRequestHookHandler,
} from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'

declare const engine: Keyward
const app = Fastify()

describe('@keyward/fastify types', () => {
  it('types request.auth as the Principal', () => {
    expectTypeOf<FastifyRequest['auth']>().toEqualTypeOf<Principal>()
    app.get('/v1/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) => {
      expectTypeOf(request.auth.userId).toEqualTypeOf<string>()
      expectTypeOf(request.auth.keyId).toEqualTypeOf<string | null>()
      return request.auth.userId
    })
  })

  it('takes a guard in route config: true, or the permissions required', () => {
    expectTypeOf<KeywardRouteGuard>().toEqualTypeOf<true | { readonly permissions: readonly string[] }>()
    app.get('/any', { config: { keyward: true } }, async () => 'ok')
    // @ts-expect-error `false` is not a guard: leave config.keyward out instead
    app.get('/none', { config: { keyward: false } }, async () => 'ok')
    // @ts-expect-error permissions are a list
    app.get('/bad', { config: { keyward: { permissions: 'agents:read' } } }, async () => 'ok')
  })

  it('decorates the instance with keywardAuth, an onRequest hook', () => {
    expectTypeOf(app.keywardAuth).returns.toEqualTypeOf<onRequestHookHandler>()
    app.get('/me', { onRequest: app.keywardAuth() }, async (request) => request.auth.userId)
    app.get<{ Params: { id: string } }>(
      '/v1/agents/:id',
      { onRequest: [app.keywardAuth()] },
      async (request) => {
        expectTypeOf(request.params.id).toEqualTypeOf<string>()
        return request.auth.userId
      },
    )
  })

  it("types keywardAuth's hook for the instance it is called on: its logger, server and type provider", () => {
    // A logger of the host's own (pino's, say) with more than Fastify's base logger has.
    interface HostLogger extends FastifyBaseLogger {
      readonly msgPrefix: string | undefined
      child(...args: Parameters<FastifyBaseLogger['child']>): HostLogger
    }
    const withLogger = Fastify({ loggerInstance: {} as HostLogger })
    expectTypeOf(withLogger.log).toEqualTypeOf<HostLogger>()
    withLogger.get(
      '/v1/other',
      { onRequest: withLogger.keywardAuth() },
      async (request) => request.auth.userId,
    )

    const http2 = Fastify({ http2: true })
    http2.get(
      '/v1/other',
      { onRequest: http2.keywardAuth({ permissions: ['agents:read'] }) },
      async (request) => {
        expectTypeOf(request.auth.userId).toEqualTypeOf<string>()
        return request.auth.userId
      },
    )

    interface NumberProvider extends FastifyTypeProvider {
      validator: number
      serializer: number
    }
    const typed = app.withTypeProvider<NumberProvider>()
    typed.get('/v1/other', { onRequest: typed.keywardAuth() }, async (request) => request.auth.userId)
    typed.addHook('onRequest', typed.keywardAuth())
  })

  it('needs the engine to register', () => {
    expectTypeOf<KeywardPluginOptions>().toEqualTypeOf<{ readonly keyward: Keyward }>()
    app.register(keyward, { keyward: engine })
    // @ts-expect-error the engine is required
    app.register(keyward, {})
  })
})
