import { describe, expect, it } from 'vitest'
import { data, type IssuedKeyData, type KeySummaryData, withBearer, withKey } from './support/client.js'
import { useContract } from './support/contract.js'
import { FRAMEWORKS } from './support/servers.js'

describe.each(FRAMEWORKS)('API keys over %s', (framework) => {
  const t = useContract(framework)

  describe('POST /accounts/api-key', () => {
    it('issues a key that works at once, with its credentials document', async () => {
      const alice = await t.keyFor('alice')
      const issued = await t.issueOverHttp(alice, '  CI pipeline  ')
      expect(issued.key).toMatch(/^ms-[0-9a-f]{32}$/)
      expect(issued.name).toBe('CI pipeline')
      expect(issued.preview).toBe(`ms-…${issued.key.slice(-4)}`)
      expect(issued.created_on).toBe('2026-11-22T10:00:00.000Z')
      expect(issued.expires_on).toBe('2027-02-22T10:00:00.000Z')
      expect(JSON.parse(issued.creds)).toEqual({
        type: 'keyward-credentials',
        version: 1,
        api_key: issued.key,
        key_id: issued.id,
        key_name: 'CI pipeline',
        base_url: t.server.url,
        expires_on: issued.expires_on,
      })
      const me = await t.api('GET', '/v1/me', { headers: withKey(issued.key) })
      expect(me.body).toEqual({ user: 'alice', credential: 'api_key' })
    })

    it('accepts an auth token as the credential', async () => {
      const { auth_token } = await t.tokensFor(await t.keyFor('alice'))
      const reply = await t.api('POST', '/accounts/api-key', {
        headers: withBearer(auth_token),
        json: { key_name: 'from a session' },
      })
      expect(data<IssuedKeyData>(reply).name).toBe('from a session')
    })

    it('answers 401 with a challenge when no credential is sent', async () => {
      const reply = await t.api('POST', '/accounts/api-key', { json: { key_name: 'x' } })
      expect(reply.status).toBe(401)
      expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="keyward"')
      expect(await t.keyward.listKeys('alice')).toEqual([])
    })

    it('answers 409 once the caller holds maxKeysPerUser unexpired keys, and issues again after a deletion', async () => {
      const alice = await t.keyFor('alice')
      for (let i = 1; i < 100; i++) await t.keyward.issueKey('alice', { name: `k${i}` })
      const issue = () =>
        t.api('POST', '/accounts/api-key', { headers: withKey(alice), json: { key_name: 'one more' } })
      const refused = await issue()
      expect(refused.status).toBe(409)
      expect(refused.headers.get('cache-control')).toBe('no-store')
      expect(refused.body).toEqual({
        error: 'Key limit reached',
        message: 'You have reached the limit of 100 active API keys. Delete one to issue another',
      })
      const held = await t.keyward.listKeys('alice')
      expect(held).toHaveLength(100)
      // Not the caller's own key: all were made in the same millisecond, so they list in id order.
      const other = held.find((key) => key.name === 'k1')!
      const deleted = await t.api('DELETE', `/accounts/api-key?id=${other.id}`, {
        headers: withKey(alice),
      })
      expect(deleted.status).toBe(200)
      expect(data<IssuedKeyData>(await issue()).name).toBe('one more')
      expect((await issue()).status).toBe(409)
    })

    it.each([
      ['missing', {}],
      ['not a string', { key_name: 42 }],
      ['blank', { key_name: '   ' }],
      ['too long', { key_name: 'k'.repeat(129) }],
    ])('answers 400 naming key_name when it is %s', async (_case, json) => {
      const reply = await t.api('POST', '/accounts/api-key', {
        headers: withKey(await t.keyFor('alice')),
        json,
      })
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ error: 'Invalid request', field: 'key_name' })
    })
  })

  describe('GET /accounts/api-key', () => {
    it("lists the caller's keys, oldest first, without the keys themselves", async () => {
      const alice = await t.keyFor('alice', 'first')
      t.clock.advance(1_000)
      await t.issueOverHttp(alice, 'second')
      await t.keyFor('bob', 'not alice')
      const keys = data<KeySummaryData[]>(
        await t.api('GET', '/accounts/api-key', { headers: withKey(alice) }),
      )
      expect(keys.map((key) => key.name)).toEqual(['first', 'second'])
      expect(keys[0]).toEqual({
        id: expect.any(String),
        name: 'first',
        preview: `ms-…${alice.slice(-4)}`,
        created_on: '2026-11-22T10:00:00.000Z',
        expires_on: '2027-02-22T10:00:00.000Z',
        last_used_on: null,
      })
      expect(JSON.stringify(keys)).not.toContain(alice)
    })

    it('shows when a key was last used', async () => {
      const alice = await t.keyFor('alice')
      await t.api('GET', '/v1/agents', { headers: withKey(alice) })
      await t.keyward.flushUsage()
      const [key] = data<KeySummaryData[]>(
        await t.api('GET', '/accounts/api-key', { headers: withKey(alice) }),
      )
      expect(key?.last_used_on).toBe('2026-11-22T10:00:00.000Z')
    })
  })

  describe('DELETE /accounts/api-key', () => {
    it('deletes by ?id= and the key stops working at once', async () => {
      const alice = await t.keyFor('alice')
      const doomed = await t.issueOverHttp(alice, 'doomed')
      expect((await t.api('GET', '/v1/me', { headers: withKey(doomed.key) })).status).toBe(200)
      const reply = await t.api('DELETE', `/accounts/api-key?id=${doomed.id}`, { headers: withKey(alice) })
      expect(data(reply)).toEqual({
        id: doomed.id,
        key: doomed.preview,
        name: 'doomed',
        preview: doomed.preview,
        created_on: doomed.created_on,
        expires_on: doomed.expires_on,
        last_used_on: null,
      })
      expect((await t.api('GET', '/v1/me', { headers: withKey(doomed.key) })).status).toBe(401)
      const left = data<KeySummaryData[]>(
        await t.api('GET', '/accounts/api-key', { headers: withKey(alice) }),
      )
      expect(left.map((key) => key.name)).toEqual(['bootstrap'])
    })

    it('deletes by ?key= (the full key), including the key making the request', async () => {
      const alice = await t.keyFor('alice')
      const reply = await t.api('DELETE', `/accounts/api-key?key=${alice}`, { headers: withKey(alice) })
      expect(data<KeySummaryData>(reply).name).toBe('bootstrap')
      expect((await t.api('GET', '/accounts/api-key', { headers: withKey(alice) })).status).toBe(401)
    })

    it.each([
      ['neither ?key= nor ?id=', '', 'key'],
      ['both ?key= and ?id=', '?key=ms-0&id=1', 'id'],
      ['?id= twice', '?id=a&id=b', 'id'],
      ['?key= twice', '?key=a&key=b', 'key'],
    ])('answers 400 for %s', async (_case, query, field) => {
      const alice = await t.keyFor('alice')
      const reply = await t.api('DELETE', `/accounts/api-key${query}`, { headers: withKey(alice) })
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ error: 'Invalid request', field })
      expect(await t.keyward.listKeys('alice')).toHaveLength(1)
    })

    it("answers 404 for another user's key, by id or by key, and leaves it working", async () => {
      const alice = await t.keyFor('alice')
      const bob = await t.keyward.issueKey('bob', { name: "bob's" })
      for (const query of [`?id=${bob.id}`, `?key=${bob.key}`]) {
        const reply = await t.api('DELETE', `/accounts/api-key${query}`, { headers: withKey(alice) })
        expect(reply.status).toBe(404)
        expect(reply.body).toEqual({
          error: 'Not found',
          message: 'You have no API key with that id or value',
        })
      }
      expect((await t.api('GET', '/v1/me', { headers: withKey(bob.key) })).status).toBe(200)
    })

    it.each([
      ['an unknown id', '?id=00000000-0000-4000-8000-000000000000'],
      ['an unknown key', `?key=ms-${'0'.repeat(32)}`],
      ['a malformed key', '?key=not-a-key'],
    ])('answers 404 for %s', async (_case, query) => {
      const reply = await t.api('DELETE', `/accounts/api-key${query}`, {
        headers: withKey(await t.keyFor('alice')),
      })
      expect(reply.status).toBe(404)
    })

    it('answers 401 without a credential and deletes nothing', async () => {
      const alice = await t.keyward.issueKey('alice', { name: 'kept' })
      const reply = await t.api('DELETE', `/accounts/api-key?id=${alice.id}`)
      expect(reply.status).toBe(401)
      expect(await t.keyward.listKeys('alice')).toHaveLength(1)
    })
  })
})
