import { describe, expect, it } from 'vitest'
import { INVALID_KEY, INVALID_REFRESH, REUSED_REFRESH } from './support/answers.js'
import { data, type Reply, type TokensData, withBearer, withKey } from './support/client.js'
import { useContract } from './support/contract.js'
import { DAY, MINUTE, SECOND } from './support/fixture.js'
import { FRAMEWORKS } from './support/servers.js'

const INVALID_TOKEN_CHALLENGE = 'Bearer realm="keyward", error="invalid_token"'

/** A refused refresh: 401, this body, and the invalid_token challenge. */
function expectRefreshRefused(reply: Reply, body: unknown) {
  expect(reply.status).toBe(401)
  expect(reply.body).toEqual(body)
  expect(reply.headers.get('www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
}

describe.each(FRAMEWORKS)('tokens over %s', (framework) => {
  const t = useContract(framework)
  const exchange = (json: unknown) => t.api('POST', '/accounts/auth-with-api-key', { json })
  const refresh = (token: string) => t.api('POST', '/accounts/refresh', { json: { refresh_token: token } })

  describe('POST /accounts/auth-with-api-key', () => {
    it('exchanges a key for an auth token and a refresh token; no credential header needed', async () => {
      const tokens = data<TokensData>(await exchange({ api_key: await t.keyFor('alice') }))
      expect(tokens).toEqual({
        auth_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
        refresh_token: expect.stringMatching(/^rt_[\w-]{43}$/),
        passkey_enabled: false,
        totp_enabled: false,
      })
      const me = await t.api('GET', '/v1/me', { headers: withBearer(tokens.auth_token) })
      expect(me.body).toEqual({ user: 'alice', credential: 'auth_token' })
    })

    it.each([
      ['an unknown key', `ms-${'a'.repeat(32)}`],
      ['a malformed key', 'not-a-key'],
    ])('answers 401 for %s, with an invalid_token challenge', async (_case, apiKey) => {
      const reply = await exchange({ api_key: apiKey })
      expect(reply.status).toBe(401)
      expect(reply.body).toEqual(INVALID_KEY)
      expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="keyward", error="invalid_token"')
    })

    it('answers 401 for a deleted key and for an expired one', async () => {
      const deleted = await t.keyward.issueKey('alice', { name: 'deleted' })
      await t.keyward.deleteKey('alice', { id: deleted.id })
      expect((await exchange({ api_key: deleted.key })).body).toEqual(INVALID_KEY)
      const expiring = await t.keyFor('alice')
      t.clock.advance(92 * 24 * 60 * MINUTE)
      expect((await exchange({ api_key: expiring })).body).toEqual(INVALID_KEY)
    })

    it.each([
      ['missing', {}],
      ['not a string', { api_key: ['ms-1'] }],
    ])('answers 400 naming api_key when it is %s', async (_case, json) => {
      const reply = await exchange(json)
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ error: 'Invalid request', field: 'api_key' })
    })
  })

  describe('POST /accounts/refresh', () => {
    it('rotates: a new pair each time, and the new auth token works', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      t.clock.advance(MINUTE)
      const second = data<TokensData>(await refresh(first.refresh_token))
      expect(second).toEqual({ auth_token: expect.any(String), refresh_token: expect.stringMatching(/^rt_/) })
      expect(second.refresh_token).not.toBe(first.refresh_token)
      expect(second.auth_token).not.toBe(first.auth_token)
      const third = data<TokensData>(await refresh(second.refresh_token))
      const me = await t.api('GET', '/v1/me', { headers: withBearer(third.auth_token) })
      expect(me.body).toEqual({ user: 'alice', credential: 'auth_token' })
    })

    it('refuses a spent refresh token and revokes the whole chain', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      const second = data<TokensData>(await refresh(first.refresh_token))
      const reuse = await refresh(first.refresh_token)
      expectRefreshRefused(reuse, REUSED_REFRESH)
      // The newer token went with its family: invalid now, not a second reuse.
      const revoked = await refresh(second.refresh_token)
      expectRefreshRefused(revoked, INVALID_REFRESH)
    })

    it('answers a successful refresh with Cache-Control: no-store', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      const reply = await refresh(first.refresh_token)
      expect(reply.status).toBe(200)
      expect(reply.headers.get('cache-control')).toBe('no-store')
    })

    it('answers an expired refresh token 401 invalid, with an invalid_token challenge', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      t.clock.advance(30 * DAY)
      const reply = await refresh(first.refresh_token)
      expectRefreshRefused(reply, INVALID_REFRESH)
    })

    it('answers 503 with Retry-After: 5 when the store fails, and spends nothing: the retry succeeds', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      t.outage.down = true
      const reply = await refresh(first.refresh_token)
      expect(reply.status).toBe(503)
      expect(reply.headers.get('retry-after')).toBe('5')
      expect(reply.headers.get('www-authenticate')).toBeNull()
      expect(reply.body).toEqual({
        error: 'Service unavailable',
        message: 'Authentication is temporarily unavailable. Please retry shortly',
      })
      t.outage.down = false
      const next = data<TokensData>(await refresh(first.refresh_token))
      expect((await t.api('GET', '/v1/me', { headers: withBearer(next.auth_token) })).status).toBe(200)
    })

    it('keeps working after the auth token expires', async () => {
      const first = await t.tokensFor(await t.keyFor('alice'))
      t.clock.advance(15 * MINUTE + SECOND)
      const expired = await t.api('GET', '/v1/me', { headers: withBearer(first.auth_token) })
      expect(expired.status).toBe(401)
      expect(expired.body).toMatchObject({ error: 'Invalid auth token' })
      const next = data<TokensData>(await refresh(first.refresh_token))
      expect((await t.api('GET', '/v1/me', { headers: withBearer(next.auth_token) })).status).toBe(200)
    })

    it('ends with the key: once it is deleted its tokens and refresh tokens stop working', async () => {
      const alice = await t.keyFor('alice')
      const issued = await t.issueOverHttp(alice, 'short-lived')
      const tokens = await t.tokensFor(issued.key)
      await t.api('DELETE', `/accounts/api-key?id=${issued.id}`, { headers: withKey(alice) })
      expect((await t.api('GET', '/v1/me', { headers: withBearer(tokens.auth_token) })).status).toBe(401)
      expect((await refresh(tokens.refresh_token)).status).toBe(401)
    })

    it.each([
      ['an unknown refresh token', `rt_${'A'.repeat(43)}`],
      ['a malformed refresh token', 'nope'],
    ])('answers %s 401 invalid, with an invalid_token challenge', async (_case, token) => {
      const reply = await refresh(token)
      expectRefreshRefused(reply, INVALID_REFRESH)
    })

    it.each([
      ['missing', {}, 'refresh_token is required'],
      ['not a string', { refresh_token: 7 }, 'refresh_token must be a string'],
    ])('answers 400 naming refresh_token when it is %s', async (_case, json, message) => {
      const reply = await t.api('POST', '/accounts/refresh', { json })
      expect(reply.status).toBe(400)
      expect(reply.body).toEqual({ error: 'Invalid request', message, field: 'refresh_token' })
    })
  })
})
