import type { Principal } from '@keyward/core'
import { type KeywardExpress, keywardExpress } from '@keyward/express'
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

  it('gives middleware for routes and the guard', () => {
    expectTypeOf(keywardExpress).returns.toEqualTypeOf<KeywardExpress>()
    expectTypeOf(auth.routes).toEqualTypeOf<RequestHandler>()
    expectTypeOf(auth.requireAuth()).toEqualTypeOf<RequestHandler>()
    // @ts-expect-error permissions are a list
    auth.requireAuth({ permissions: 'agents:read' })
  })
})
