import type { Keyward, Principal } from '@keyward/core'
import { type KeywardPluginOptions, type KeywardRouteGuard, keyward } from '@keyward/fastify'
import Fastify, { type FastifyRequest, type onRequestHookHandler } from 'fastify'
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
  })

  it('needs the engine to register', () => {
    expectTypeOf<KeywardPluginOptions>().toEqualTypeOf<{ readonly keyward: Keyward }>()
    app.register(keyward, { keyward: engine })
    // @ts-expect-error the engine is required
    app.register(keyward, {})
  })
})
