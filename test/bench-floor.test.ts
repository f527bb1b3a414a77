/**
 * The benchmark's floor (bench/lib/floor-guard.mjs) is a guard in its own right on every framework:
 * what it measures is only worth reading if it admits the bench key and refuses everything else,
 * as keyward's guard beside it does. Real servers (bench/server.mjs), real requests.
 */
import { describe, expect, it } from 'vitest'
import { startServer } from '../bench/lib/http.mjs'

describe.each(['fastify', 'express', 'koa'])('the floor on %s', (framework) => {
  it('admits the bench key, on a fresh and on a remembered connection, and refuses any other', async () => {
    const server = await startServer(framework)
    const { key } = server
    try {
      const status = async (headers: Record<string, string>) => {
        const response = await fetch(`${server.url('floor')}/v1/agents`, { headers })
        await response.arrayBuffer()
        return response.status
      }
      expect(await status({ 'x-api-key': key })).toBe(200)
      expect(await status({ 'x-api-key': key })).toBe(200)
      expect(await status({})).toBe(401)
      // Of the key's length, one character off: the remembered key's compare must refuse it.
      const other = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
      expect(await status({ 'x-api-key': other })).toBe(401)
      expect(await status({ 'x-api-key': `${key}, ${key}` })).toBe(401)
      expect(await status({ authorization: `Bearer ${key}` })).toBe(401)
      expect(await status({ 'x-api-key': key })).toBe(200)
    } finally {
      await server.stop()
    }
  })
})
