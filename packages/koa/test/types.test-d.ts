import type { Principal } from '@keyward/core'
import { type KeywardKoa, type KeywardState, keywardKoa } from '@keyward/koa'
import Router, { type RouterContext } from '@koa/router'
import Koa, { type DefaultState, type Middleware } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'

declare const auth: KeywardKoa

describe('@keyward/koa types', () => {
  it('types ctx.state.auth as the Principal, with and without @koa/router', () => {
    expectTypeOf<KeywardState['auth']>().toEqualTypeOf<Principal>()
    expectTypeOf<DefaultState['auth']>().toEqualTypeOf<Principal>()
    new Koa().use(auth.requireAuth()).use((ctx) => {
      expectTypeOf(ctx.state.auth.userId).toEqualTypeOf<string>()
    })
    new Router().get('/v1/agents', auth.requireAuth({ permissions: ['agents:read'] }), (ctx) => {
      expectTypeOf(ctx.state.auth.userId).toEqualTypeOf<string>()
      expectTypeOf(ctx.state.auth.credential).toEqualTypeOf<'api_key' | 'auth_token'>()
    })
  })

  it("types protect's handler with the principal in its state, and the router's context where annotated", () => {
    new Router().get(
      '/v1/agents/:id',
      auth.protect((ctx: RouterContext) => {
        expectTypeOf(ctx.params).toEqualTypeOf<Record<string, string>>()
        expectTypeOf(ctx.state.auth.userId).toEqualTypeOf<string>()
      }),
    )
    new Router().get(
      '/v1/agents',
      auth.protect({ permissions: ['agents:read'] }, async (ctx, next) => {
        expectTypeOf(ctx.state.auth.userId).toEqualTypeOf<string>()
        await next()
      }),
    )
    new Koa().use(
      auth.protect((ctx) => {
        expectTypeOf(ctx.state.auth.credential).toEqualTypeOf<'api_key' | 'auth_token'>()
      }),
    )
    // @ts-expect-error the handler is required
    auth.protect({ permissions: ['agents:read'] })
  })

  it('gives middleware for routes and the guard', () => {
    expectTypeOf(keywardKoa).returns.toEqualTypeOf<KeywardKoa>()
    expectTypeOf(auth.routes).toEqualTypeOf<Middleware>()
    // @ts-expect-error permissions are a list
    auth.requireAuth({ permissions: 'agents:read' })
  })
})
