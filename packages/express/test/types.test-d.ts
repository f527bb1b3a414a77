import type { Principal } from '@keyward/core'
import { type KeywardExpress, type KeywardGuard, keywardExpress } from '@keyward/express'
import express, { type RequestHandler } from 'express'
import { describe, expectTypeOf, it } from 'vitest'

declare const auth: KeywardExpress

describe('@keyward/express types', () => {
  it('types req.auth as the Principal on every Express request', () => {
    expectTypeOf<express.Request['auth']>().toEqualTypeOf<Principal>()
    express().get('/v1/agents', auth.requireAuth({ permissions: ['agents:read'] }), (req, res) => {
      expectTypeOf(req.auth.userId).toEqualTypeOf<string>()
      expectTypeOf(req.auth.permissions).toEqualTypeOf<readonly string[]>()
      expectTypeOf(req.auth.credential).toEqualTypeOf<'api_key' | 'auth_token'>()
      res.json(req.auth.userId)
    })
  })

  it("types protect's handler as a route handler with req.auth, and keeps its own type parameters", () => {
    express().get(
      '/v1/agents',
      auth.protect({ permissions: ['agents:read'] }, (req, res) => {
        expectTypeOf(req.auth.userId).toEqualTypeOf<string>()
        res.json(req.auth.userId)
      }),
    )
    const withParams = auth.protect((req: express.Request<{ id: string }>, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      res.end()
    })
    expectTypeOf(withParams).parameter(0).toHaveProperty('params').toEqualTypeOf<{ id: string }>()
    express().get('/v1/agents/:id', withParams)
    // @ts-expect-error the handler is required
    auth.protect({ permissions: ['agents:read'] })
  })

  it("leaves the route's path parameters to Express, guarded as unguarded", () => {
    const app = express()
    app.get('/v1/agents/:id', auth.requireAuth(), (req, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      expectTypeOf(req.auth.userId).toEqualTypeOf<string>()
      res.json(req.params.id)
    })
    app.get('/v1/agents/:id/keys/:keyId', auth.requireAuth({ permissions: ['keys:read'] }), (req, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      expectTypeOf(req.params.keyId).toEqualTypeOf<string>()
      res.end()
    })
    express.Router().delete('/v1/agents/:id', auth.requireAuth(), auth.requireAuth(), (req, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      res.end()
    })
    // protect's handler is typed before Express sees the path: it names its parameters itself, or
    // takes them from a route of app.route(path).
    app.get(
      '/v1/agents/:id',
      auth.protect<{ id: string }>((req, res) => {
        expectTypeOf(req.params.id).toEqualTypeOf<string>()
        expectTypeOf(req.auth.userId).toEqualTypeOf<string>()
        res.json(req.params.id)
      }),
    )
    app.route('/v1/agents/:id').post(
      auth.protect({ permissions: ['agents:write'] }, (req, res) => {
        expectTypeOf(req.params.id).toEqualTypeOf<string>()
        res.end()
      }),
    )
    app.route('/v1/agents/:id').get(auth.requireAuth(), (req, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      res.end()
    })
    app.use(auth.requireAuth())
    app.use('/v1', auth.requireAuth())
  })

  it('gives middleware for routes and the guard', () => {
    expectTypeOf(keywardExpress).returns.toEqualTypeOf<KeywardExpress>()
    expectTypeOf(auth.routes).toEqualTypeOf<RequestHandler>()
    expectTypeOf(auth.requireAuth()).toEqualTypeOf<KeywardGuard>()
    expectTypeOf(auth.requireAuth()).toExtend<RequestHandler>()
    expectTypeOf(auth.requireAuth()).toExtend<
      RequestHandler<{ id: string }, { ok: true }, { name: string }>
    >()
    // @ts-expect-error permissions are a list
    auth.requireAuth({ permissions: 'agents:read' })
  })
})
