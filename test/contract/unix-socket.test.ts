/**
 * A server on a Unix socket, behind a proxy on the same machine: the framework sees no client
 * address there. Until the proxy's X-Forwarded-For is trusted, failed attempts are limited in one
 * group (as all clients share the proxy's address behind a proxy not trusted), never not at all;
 * with the one hop trusted as SECURITY.md says ("Trusted proxies"), each client is limited alone.
 */
import { once } from 'node:events'
import { request, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createKeyward, type Keyward, memoryStore } from '@keyward/core'
import { keywardExpress } from '@keyward/express'
import { keyward as keywardFastify } from '@keyward/fastify'
import { keywardKoa } from '@keyward/koa'
import express from 'express'
import fastify from 'fastify'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { JWT_SECRET } from './support/fixture.js'

const WRONG_KEY = `ms-${'0'.repeat(32)}`
const MAX_FAILURES = 3

/** An app on each framework serving keyward's routes and GET /v1/me behind the guard, on `path`. */
const HOSTS = {
  async express(engine: Keyward, path: string, trustOneHop: boolean): Promise<Server> {
    const auth = keywardExpress(engine)
    const app = express()
    if (trustOneHop) app.set('trust proxy', 1)
    app.use(auth.routes)
    app.get('/v1/me', auth.requireAuth(), (req, res) => {
      res.json({ user: req.auth.userId })
    })
    return app.listen(path)
  },
  async fastify(engine: Keyward, path: string, trustOneHop: boolean): Promise<Server> {
    const app = fastify(trustOneHop ? { trustProxy: (_address: string, hop: number) => hop === 0 } : {})
    await app.register(keywardFastify, { keyward: engine })
    app.get('/v1/me', { config: { keyward: true } }, async (req) => ({ user: req.auth.userId }))
    await app.listen({ path })
    return app.server
  },
  async koa(engine: Keyward, path: string, trustOneHop: boolean): Promise<Server> {
    const auth = keywardKoa(engine)
    const app = new Koa(trustOneHop ? { proxy: true, maxIpsCount: 1 } : {})
    app.use(auth.routes)
    app.use(auth.requireAuth())
    app.use((ctx) => {
      ctx.body = { user: ctx.state.auth.userId }
    })
    return app.listen(path)
  },
}

let running: { server: Server; engine: Keyward } | undefined
afterEach(async () => {
  running?.server.closeAllConnections()
  await new Promise((done) => running?.server.close(done))
  await running?.engine.close()
  running = undefined
})

/** Starts the host with a fresh engine; returns a client of its socket and a key that verifies. */
async function start(framework: keyof typeof HOSTS, trustOneHop: boolean) {
  const engine = createKeyward({
    jwtSecret: JWT_SECRET,
    store: memoryStore(),
    users: { get: (id) => ({ id, permissions: [] }) },
    rateLimit: { perAddress: { max: MAX_FAILURES, window: '1m' } },
  })
  const path = join(tmpdir(), `keyward-${process.pid}-${framework}-${Date.now()}.sock`)
  const server = await HOSTS[framework](engine, path, trustOneHop)
  if (!server.listening) await once(server, 'listening')
  running = { server, engine }
  const send = (method: string, target: string, headers: Record<string, string>, body?: string) =>
    new Promise<number>((resolve, reject) => {
      const sent = request({ socketPath: path, method, path: target, headers }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      })
      sent.on('error', reject)
      sent.end(body)
    })
  const { key } = await engine.issueKey('alice', { name: 'ci' })
  return { send, key }
}

describe.each(Object.keys(HOSTS) as Array<keyof typeof HOSTS>)('%s on a Unix socket', (framework) => {
  it('limits every client in one group while the proxy is not trusted: the guard and the routes', async () => {
    const { send, key } = await start(framework, false)
    const exchange = JSON.stringify({ api_key: WRONG_KEY })
    const json = { 'content-type': 'application/json' }
    expect(await send('GET', '/v1/me', { 'x-api-key': WRONG_KEY })).toBe(401)
    expect(await send('POST', '/accounts/auth-with-api-key', json, exchange)).toBe(401)
    expect(await send('GET', '/v1/me', { 'x-api-key': WRONG_KEY, 'x-forwarded-for': '198.51.100.2' })).toBe(
      401,
    )
    // The group is blocked, whoever the next client is, on the guard and on the routes.
    expect(await send('GET', '/v1/me', { 'x-api-key': key })).toBe(429)
    expect(await send('POST', '/accounts/auth-with-api-key', json, JSON.stringify({ api_key: key }))).toBe(
      429,
    )
  })

  it('limits each client alone once the one hop is trusted', async () => {
    const { send, key } = await start(framework, true)
    const from = (address: string, apiKey: string) =>
      send('GET', '/v1/me', { 'x-api-key': apiKey, 'x-forwarded-for': address })
    for (let i = 0; i < MAX_FAILURES; i++) expect(await from('198.51.100.1', WRONG_KEY)).toBe(401)
    expect(await from('198.51.100.1', key)).toBe(429)
    expect(await from('198.51.100.2', key)).toBe(200)
    expect(await from('198.51.100.2', WRONG_KEY)).toBe(401)
  })
})
