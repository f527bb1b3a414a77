import { expect } from 'vitest'
import { oneConnection } from './connection.js'
import { coldEngine } from './fixture.js'

/**
 * An engine that has not seen alice's or bob's key (`coldEngine`), for a host to mount, and the
 * check of that host's protected routes (`expectProtectedRoutes`) on those keys.
 */
export async function protectedRoutesFixture() {
  const { issuer, served, reads, guards } = coldEngine()
  const keys = {
    alice: (await issuer.issueKey('alice', { name: 'ci' })).key,
    bob: (await issuer.issueKey('bob', { name: 'ci' })).key,
  }
  return {
    served,
    expectRoutes: (url: string, handlerCalls: () => number) =>
      expectProtectedRoutes(url, keys, { reads, guards }, handlerCalls),
  }
}

/**
 * What a host's protected routes answer, on keys its engine has not seen (`coldEngine`): GET
 * /v1/agents needs agents:read and answers `{ user }`; GET /v1/me goes on past the protected
 * handler's `next()` to one that answers `{ after }`. alice is admitted after one store read, then
 * from her connection's memory (without the full guard), then from the cache on a new connection;
 * bob is refused (403), and so is a request without a key (401), neither reaching the handler:
 * `handlerCalls` (how often the /v1/agents handler ran) counts alice's three requests alone.
 */
async function expectProtectedRoutes(
  url: string,
  keys: { alice: string; bob: string },
  { reads, guards }: { reads: { count: number }; guards: { count: number } },
  handlerCalls: () => number,
): Promise<void> {
  const connection = oneConnection(url)
  try {
    for (let request = 0; request < 2; request++)
      expect(await connection.send('/v1/agents', { 'x-api-key': keys.alice })).toEqual({
        status: 200,
        body: '{"user":"alice"}',
      })
  } finally {
    connection.close()
  }
  expect(reads.count).toBe(1)
  expect(guards.count).toBe(1)
  const fresh = await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': keys.alice } })
  expect(await fresh.json()).toEqual({ user: 'alice' })
  expect((await fetch(`${url}/v1/agents`, { headers: { 'x-api-key': keys.bob } })).status).toBe(403)
  expect((await fetch(`${url}/v1/agents`)).status).toBe(401)
  expect(handlerCalls()).toBe(3)
  expect(await (await fetch(`${url}/v1/me`, { headers: { 'x-api-key': keys.bob } })).json()).toEqual({
    after: 'bob',
  })
}
