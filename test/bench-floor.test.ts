/**
 * The benchmark's floor (bench/lib/floor-guard.mjs) is a guard in its own right on every framework:
 * what it measures is only worth reading if it admits the bench key and refuses everything else,
 * as keyward's guard beside it does. So are the floor's steps (`--steps`), from the one that reads
 * the key on, another build's guard (`--base`, here this checkout itself) and, on Express and Koa,
 * the guard and the handler in one (`protect`). Real servers
 * (bench/server.mjs), real requests.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer } from '../bench/lib/http.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

describe.each(['fastify', 'express', 'koa'])('the floor on %s', (framework) => {
  let server: Awaited<ReturnType<typeof startServer>>
  beforeAll(async () => {
    server = await startServer(framework, [], ['--steps', '--base', ROOT])
  })
  afterAll(() => server.stop())

  const statusOf = async (app: string, headers: Record<string, string>) => {
    const response = await fetch(`${server.url(app)}/v1/agents`, { headers })
    await response.arrayBuffer()
    return response.status
  }
  // Of the key's length, one character off: a remembered key's compare must refuse it.
  const oneOff = (key: string) => `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`

  // base and protect (Express and Koa) are keyward's own guard, which also takes the key as
  // `Authorization: Bearer <key>`; the floor and its steps read X-Api-Key alone.
  it.each<[string, number]>([
    ['floor', 401],
    ['memo', 401],
    ['user', 401],
    ['base', 200],
    ...(framework === 'fastify' ? [] : [['protect', 200] as [string, number]]),
  ])(
    '%s admits the bench key, on a fresh and on a remembered connection, and refuses any other (Bearer key: %i)',
    async (app, bearerKeyStatus) => {
      const { key } = server
      const status = (headers: Record<string, string>) => statusOf(app, headers)
      expect(await status({ 'x-api-key': key })).toBe(200)
      expect(await status({ 'x-api-key': key })).toBe(200)
      expect(await status({})).toBe(401)
      expect(await status({ 'x-api-key': oneOff(key) })).toBe(401)
      // One header line holding the key twice is no key.
      expect(await status({ 'x-api-key': `${key}, ${key}` })).toBe(401)
      expect(await status({ authorization: `Bearer ${key}` })).toBe(bearerKeyStatus)
      expect(await status({ authorization: `Bearer ${oneOff(key)}` })).toBe(401)
      expect(await status({ 'x-api-key': key })).toBe(200)
    },
  )

  it.each(['header', 'clock'])('%s admits the bench key and refuses any other', async (app) => {
    expect(await statusOf(app, { 'x-api-key': server.key })).toBe(200)
    expect(await statusOf(app, {})).toBe(401)
    expect(await statusOf(app, { 'x-api-key': oneOff(server.key) })).toBe(401)
  })

  it('state reads nothing: it admits a request with no key', async () => {
    expect(await statusOf('state', {})).toBe(200)
  })
})
