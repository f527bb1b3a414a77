import { createHash, generateKeyPairSync } from 'node:crypto'
import { type KeywardUser, memoryStore } from '@keyward/core'
import { decodeJwt, decodeProtectedHeader, exportJWK, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  DAY,
  forge,
  instrumentedStore,
  MINUTE,
  SECRET_BYTES,
  setup,
  withGlobalCrypto,
  withoutWebCrypto,
} from './support.js'

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

async function exchange() {
  const fixture = setup()
  const issued = await fixture.keyward.issueKey('alice', { name: 'ci' })
  const pair = await fixture.keyward.authenticateWithApiKey(issued.key)
  return { ...fixture, issued, pair }
}

describe('exchanging an API key', () => {
  it('returns the spec shape: auth_token, refresh_token, passkey_enabled, totp_enabled', async () => {
    const { pair } = await exchange()
    expect(Object.keys(pair).sort()).toEqual([
      'auth_token',
      'passkey_enabled',
      'refresh_token',
      'totp_enabled',
    ])
    expect(pair.passkey_enabled).toBe(false)
    expect(pair.totp_enabled).toBe(false)
    expect(pair.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/)
  })

  it('mints a 15-minute HS256 JWT with iss, aud, sub, iat, exp, jti, typ and the key id', async () => {
    const { pair, issued } = await exchange()
    expect(decodeProtectedHeader(pair.auth_token)).toEqual({ alg: 'HS256', typ: 'at+jwt' })
    const claims = decodeJwt(pair.auth_token)
    expect(claims).toMatchObject({ iss: 'keyward', aud: 'keyward', sub: 'alice', key_id: issued.id })
    expect(claims.exp! - claims.iat!).toBe(15 * 60)
    expect(claims.jti).toEqual(expect.any(String))
  })

  it('reports passkey_enabled from the user', async () => {
    const { keyward, users } = setup()
    users.set('carol', { id: 'carol', permissions: [], passkeyEnabled: true })
    const { key } = await keyward.issueKey('carol', { name: 'ci' })
    expect((await keyward.authenticateWithApiKey(key)).passkey_enabled).toBe(true)
  })

  it('throws a coded error for a bad key', async () => {
    const { keyward } = setup()
    await expect(keyward.authenticateWithApiKey('ms-0123456789abcdef0123456789abcdef')).rejects.toMatchObject(
      {
        code: 'NOT_FOUND',
        message: 'The provided API key is invalid or expired',
      },
    )
  })

  it("the host's login gets the same pair, with no key behind it", async () => {
    const { keyward } = setup()
    const pair = await keyward.issueTokens('bob')
    expect(decodeJwt(pair.auth_token)).toMatchObject({ sub: 'bob', key_id: null })
    expect(await keyward.authenticate(bearer(pair.auth_token))).toMatchObject({
      ok: true,
      principal: { userId: 'bob', keyId: null },
    })
    await expect(keyward.issueTokens('nobody')).rejects.toMatchObject({ code: 'USER_GONE' })
  })
})

describe('auth tokens', () => {
  it('authenticate until expiry, then stop', async () => {
    const { keyward, pair, clock } = await exchange()
    expect(await keyward.authenticate(bearer(pair.auth_token))).toMatchObject({
      ok: true,
      principal: { credential: 'auth_token' },
    })
    clock.advance(15 * MINUTE - 1000)
    expect((await keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
    clock.advance(1000)
    expect(await keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'TOKEN_EXPIRED' },
    })
  })

  it('for the longest user id, in characters of three UTF-8 bytes, verify', async () => {
    const { keyward, users } = setup()
    const userId = '用'.repeat(512)
    users.set(userId, { id: userId, permissions: [] })
    const { key } = await keyward.issueKey(userId, { name: 'wide' })
    const { auth_token } = await keyward.authenticateWithApiKey(key)
    expect(auth_token.length).toBeGreaterThan(2048)
    expect(await keyward.authenticate(bearer(auth_token))).toMatchObject({
      ok: true,
      principal: { userId, credential: 'auth_token' },
    })
  })

  it('longer than any keyward signs are refused before their signature is checked', async () => {
    const { keyward } = setup()
    const signed = (padding: string) => forge().setJti(padding).sign(SECRET_BYTES)
    expect((await keyward.authenticate(bearer(await signed('x'.repeat(1000))))).ok).toBe(true)
    expect(await keyward.authenticate(bearer(await signed('x'.repeat(4000))))).toEqual({
      ok: false,
      failure: { code: 'INVALID_TOKEN' },
    })
  })

  it('minted mid-second live their lifetime to the second below it, not to the whole seconds it spans', async () => {
    const { keyward, clock } = setup({ authTokenLifetime: '2999ms' })
    clock.advance(700)
    const minted = clock()
    const { auth_token } = await keyward.issueTokens('alice')
    const { exp } = decodeJwt(auth_token)
    expect(exp! * 1000).toBeLessThanOrEqual(minted + 2999)
    expect(exp! * 1000).toBeGreaterThan(minted + 1999)
    clock.advance(2000)
    expect((await keyward.authenticate(bearer(auth_token))).ok).toBe(true)
    clock.advance(999)
    expect(await keyward.authenticate(bearer(auth_token))).toMatchObject({ ok: false })
  })

  it('first presented after their expiry are answered TOKEN_EXPIRED, as a cached one is', async () => {
    const { keyward, pair, clock } = await exchange()
    clock.advance(15 * MINUTE)
    expect(await keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'TOKEN_EXPIRED' },
    })
  })

  it('stop working as soon as their key is deleted, even when cached', async () => {
    const { keyward, pair, issued } = await exchange()
    expect((await keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
    await keyward.deleteKey('alice', { id: issued.id })
    expect(await keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'INVALID_TOKEN', userId: 'alice', keyId: issued.id },
    })
  })

  it.each([false, true])(
    'stop working when their key expires, before their own expiry (used before: %s)',
    async (usedBefore) => {
      const { keyward, clock } = setup({ keyLifetime: '5m' })
      const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
      const token = bearer((await keyward.authenticateWithApiKey(key)).auth_token)
      if (usedBefore) {
        expect((await keyward.authenticate(token)).ok).toBe(true)
        clock.advance(5 * MINUTE - 1)
        expect((await keyward.authenticate(token)).ok).toBe(true)
        clock.advance(1)
      } else {
        clock.advance(5 * MINUTE)
      }
      expect(await keyward.authenticate(token)).toEqual({
        ok: false,
        failure: { code: 'INVALID_TOKEN', userId: 'alice', keyId: id },
      })
    },
  )

  it('ask the store about their key again after the cache TTL, and once the key left the cache', async () => {
    const { store, count } = instrumentedStore()
    const { keyward, clock } = setup({ store, cache: { ttl: '30s', max: 2 } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(key)
    const others = await Promise.all(['b', 'c'].map((name) => keyward.issueKey('alice', { name })))
    const token = bearer(pair.auth_token)
    for (let i = 0; i < 5; i++) expect((await keyward.authenticate(token)).ok).toBe(true)
    expect(count('findKeyById')).toBe(0)
    clock.advance(30_000)
    for (let i = 0; i < 5; i++) expect((await keyward.authenticate(token)).ok).toBe(true)
    expect(count('findKeyById')).toBe(1)
    for (const other of others) await keyward.verifyKey(other.key)
    for (let i = 0; i < 5; i++) expect((await keyward.authenticate(token)).ok).toBe(true)
    expect(count('findKeyById')).toBe(2)
    await keyward.close()
  })

  it("stop working when their user is deleted, and carry the user's current permissions", async () => {
    const { keyward, pair, users, issued } = await exchange()
    users.set('alice', { id: 'alice', permissions: ['new'] })
    expect(await keyward.authenticate(bearer(pair.auth_token), { permissions: ['new'] })).toMatchObject({
      ok: true,
    })
    users.delete('alice')
    expect(await keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'USER_GONE', userId: 'alice', keyId: issued.id, credential: 'auth_token' },
    })
  })

  describe('attacks', () => {
    it('rejects alg none', async () => {
      const { keyward } = setup()
      const token = new UnsecuredJWT({ key_id: null })
        .setIssuer('keyward')
        .setAudience('keyward')
        .setSubject('alice')
        .setIssuedAt()
        .setExpirationTime('10m')
        .encode()
      expect((await keyward.authenticate(bearer(token))).ok).toBe(false)
    })

    it('rejects a token signed with another secret', async () => {
      const { keyward } = setup()
      const token = await forge().sign(new TextEncoder().encode('another-secret-another-secret-0123456789'))
      expect(await keyward.authenticate(bearer(token))).toEqual({
        ok: false,
        failure: { code: 'INVALID_TOKEN' },
      })
    })

    it('rejects HS384/HS512 tokens even with the right secret (algorithms are pinned)', async () => {
      const { keyward } = setup()
      for (const alg of ['HS384', 'HS512']) {
        const token = await forge({ alg }).sign(SECRET_BYTES)
        expect((await keyward.authenticate(bearer(token))).ok).toBe(false)
      }
    })

    it('rejects RS256 tokens, including one whose public key is presented as the HMAC secret (key confusion)', async () => {
      const { keyward } = setup()
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const rs = await forge({ alg: 'RS256' }).sign(privateKey)
      expect((await keyward.authenticate(bearer(rs))).ok).toBe(false)
      const confused = await forge().sign(
        new TextEncoder().encode(JSON.stringify(await exportJWK(publicKey))),
      )
      expect((await keyward.authenticate(bearer(confused))).ok).toBe(false)
    })

    it.each([
      ['a wrong issuer', { iss: 'evil' }],
      ['a wrong audience', { aud: 'other-service' }],
      ['a wrong typ', { typ: 'JWT' }],
      ['an id-token typ', { typ: 'id+jwt' }],
      ['an expired token', { exp: Math.floor(Date.parse('2026-11-22T09:00:00Z') / 1000) }],
      ['a not-yet-valid token', { nbf: Math.floor(Date.parse('2026-11-22T11:00:00Z') / 1000) }],
      ['a token without a jti', { jti: null }],
    ])('rejects %s', async (_, overrides) => {
      const { keyward } = setup()
      const token = await forge(overrides).sign(SECRET_BYTES)
      expect((await keyward.authenticate(bearer(token))).ok).toBe(false)
    })

    it('rejects a sub that is no string, even before a directory that coerces ids', async () => {
      const { keyward: issuer, store, users } = setup()
      const { id } = await issuer.issueKey('alice', { name: 'ci' })
      const { keyward } = setup({ store, users: { get: (userId) => users.get(String(userId)) ?? null } })
      const token = await forge({ key_id: id, sub: ['alice'] }).sign(SECRET_BYTES)
      expect(await keyward.authenticate(bearer(token))).toMatchObject({
        ok: false,
        failure: { code: 'INVALID_TOKEN' },
      })
    })

    it('accepts the forge helper unchanged, so the cases above fail for the reason they name', async () => {
      const { keyward } = setup()
      const token = await forge().sign(SECRET_BYTES)
      expect((await keyward.authenticate(bearer(token))).ok).toBe(true)
    })

    it('rejects a tampered payload', async () => {
      const { keyward, pair } = await exchange()
      const [header, payload, signature] = pair.auth_token.split('.')
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
      const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')
      expect((await keyward.authenticate(bearer(`${header}.${tampered}.${signature}`))).ok).toBe(false)
    })

    it('rejects a tampered payload under the signature of a cached token (the cache compares whole tokens)', async () => {
      const { keyward, pair } = await exchange()
      expect((await keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
      const [header, payload, signature] = pair.auth_token.split('.')
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
      const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')
      expect(await keyward.authenticate(bearer(`${header}.${tampered}.${signature}`))).toMatchObject({
        ok: false,
        failure: { code: 'INVALID_TOKEN' },
      })
      expect((await keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
    })

    it('rejects a refresh token used as an auth token, and an auth token used as a refresh token', async () => {
      const { keyward, pair } = await exchange()
      expect((await keyward.authenticate(bearer(pair.refresh_token))).ok).toBe(false)
      await expect(keyward.refreshTokens(pair.auth_token)).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
      })
    })
  })
})

describe('without the global Web Crypto API', () => {
  it('refuses to start, naming the Node flag that took it away', async () => {
    await withoutWebCrypto(() => {
      expect(() => setup()).toThrow(/Web Crypto API.*--no-experimental-global-webcrypto/)
    })
  })

  it('refuses to start with half of it (a polyfill with no subtle, or no getRandomValues), saying why', async () => {
    // Either half missing would fail every exchange or every enrolment, found only at request time.
    const { subtle } = globalThis.crypto
    const getRandomValues = globalThis.crypto.getRandomValues.bind(globalThis.crypto)
    for (const partial of [{ getRandomValues }, { subtle }])
      await withGlobalCrypto(partial, () => {
        expect(() => setup()).toThrow(/Web Crypto API/)
      })
    // The whole of it, passed the same way, starts.
    await withGlobalCrypto({ getRandomValues, subtle }, () => {
      expect(() => setup()).not.toThrow()
    })
  })

  it('answers a valid token it cannot verify with a 500 the operator hears of, never a 401 counted against the client', async () => {
    const minting = setup()
    const { key } = await minting.keyward.issueKey('alice', { name: 'ci' })
    const { auth_token } = await minting.keyward.authenticateWithApiKey(key)
    // Another instance over the same store: it has not verified the token yet.
    const { keyward, events } = setup({
      store: minting.store,
      rateLimit: { perAddress: { max: 1, window: '1m' } },
    })
    const request = { headers: { authorization: `Bearer ${auth_token}` }, ip: '203.0.113.5' }
    await withoutWebCrypto(async () => {
      for (let i = 0; i < 2; i++)
        expect(await keyward.guard(request)).toMatchObject({ response: { status: 500 } })
    })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([])
    expect(events.filter((event) => event.type === 'error')).toMatchObject([
      { during: 'request', code: 'INTERNAL' },
      { during: 'request', code: 'INTERNAL' },
    ])
    expect(await keyward.guard(request)).toMatchObject({ ok: true })
  })
})

describe('refresh tokens', () => {
  it('rotate on every use: the new pair works, the old refresh token does not', async () => {
    const { keyward, pair } = await exchange()
    const next = await keyward.refreshTokens(pair.refresh_token)
    expect(next.refresh_token).not.toBe(pair.refresh_token)
    expect((await keyward.authenticate(bearer(next.auth_token))).ok).toBe(true)
    const third = await keyward.refreshTokens(next.refresh_token)
    expect(decodeJwt(third.auth_token).sub).toBe('alice')
  })

  it('revoke the whole chain when a spent token is presented again', async () => {
    const { keyward, pair } = await exchange()
    const next = await keyward.refreshTokens(pair.refresh_token)
    await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REUSED',
    })
    await expect(keyward.refreshTokens(next.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('report a spent token presented again as auth.failed REFRESH_TOKEN_REUSED, naming its user, key and address', async () => {
    const { keyward, pair, issued, events } = await exchange()
    await keyward.refreshTokens(pair.refresh_token)
    await expect(keyward.refreshTokens(pair.refresh_token, { ip: '192.0.2.7' })).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REUSED',
    })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([
      expect.objectContaining({
        code: 'REFRESH_TOKEN_REUSED',
        ip: '192.0.2.7',
        userId: 'alice',
        keyId: issued.id,
      }),
    ])
  })

  it('report an unknown, malformed or expired token as auth.failed INVALID_REFRESH_TOKEN with its address', async () => {
    const { keyward, pair, clock, events } = await exchange()
    for (const token of [`rt_${'A'.repeat(43)}`, 'not a token']) {
      await expect(keyward.refreshTokens(token, { ip: '192.0.2.8' })).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
      })
    }
    clock.advance(31 * 86_400_000)
    await expect(keyward.refreshTokens(pair.refresh_token, { ip: '192.0.2.9' })).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual(
      ['192.0.2.8', '192.0.2.8', '192.0.2.9'].map((ip) => ({
        type: 'auth.failed',
        at: expect.any(Date),
        code: 'INVALID_REFRESH_TOKEN',
        ip,
      })),
    )
  })

  it('with anything before or after their 46 characters are refused without a store read', async () => {
    const { keyward, pair, store } = await exchange()
    const { store: counted, count } = instrumentedStore(store)
    const { keyward: other } = setup({ store: counted })
    const token = pair.refresh_token
    for (const sent of [`${token}A`, `x${token}`, `${token}${'A'.repeat(100_000)}`])
      await expect(other.refreshTokens(sent)).rejects.toMatchObject({ code: 'INVALID_REFRESH_TOKEN' })
    expect(count('findRefreshToken')).toBe(0)
    expect(await keyward.refreshTokens(token)).toHaveProperty('refresh_token')
  })

  it('spent by a concurrent request between its read and its rotation, report their owner', async () => {
    const base = memoryStore()
    // The store found the token, then lost the race to rotate it: another request spent it.
    const store = { ...base, rotateRefreshToken: async () => ({ status: 'not_found' as const }) }
    const { keyward, events } = setup({ store })
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(issued.key)
    await expect(keyward.refreshTokens(pair.refresh_token, { ip: '203.0.113.9' })).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([
      expect.objectContaining({
        code: 'INVALID_REFRESH_TOKEN',
        ip: '203.0.113.9',
        userId: 'alice',
        keyId: issued.id,
      }),
    ])
  })

  it('refused for a deleted key stay invalid when presented again: no reuse alarm', async () => {
    const { keyward, pair, issued, events } = await exchange()
    await keyward.deleteKey('alice', { id: issued.id })
    for (let i = 0; i < 2; i++)
      await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
      })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([
      expect.objectContaining({ code: 'INVALID_REFRESH_TOKEN', userId: 'alice', keyId: issued.id }),
      expect.objectContaining({ code: 'INVALID_REFRESH_TOKEN', ip: undefined }),
    ])
    expect(events.filter((event) => event.type === 'auth.failed')[1]).not.toHaveProperty('userId')
  })

  it('stop when the key they came from is deleted or the user is gone', async () => {
    const { keyward, pair, issued, users } = await exchange()
    await keyward.deleteKey('alice', { id: issued.id })
    await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    const login = await keyward.issueTokens('bob')
    users.delete('bob')
    await expect(keyward.refreshTokens(login.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('refused for a user gone stay refused when a user of that id comes back: the session was ended', async () => {
    const { keyward, users } = setup()
    const login = await keyward.issueTokens('bob')
    const bob = users.get('bob')
    users.delete('bob')
    await expect(keyward.refreshTokens(login.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    users.set('bob', bob as KeywardUser)
    await expect(keyward.refreshTokens(login.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it("all stop when the host ends the user's sessions, spent or not, and nobody else's; sessions begun later go on", async () => {
    const { keyward, events, issued, pair, clock } = await exchange()
    const login = await keyward.issueTokens('alice')
    const rotated = await keyward.refreshTokens(login.refresh_token)
    const bobs = await keyward.issueTokens('bob')

    clock.advance(MINUTE)
    await keyward.endSessions('alice')
    expect(events.filter((event) => event.type === 'sessions.ended')).toEqual([
      { type: 'sessions.ended', at: new Date(clock()), userId: 'alice' },
    ])
    for (const token of [pair.refresh_token, rotated.refresh_token, login.refresh_token]) {
      await expect(keyward.refreshTokens(token)).rejects.toMatchObject({ code: 'INVALID_REFRESH_TOKEN' })
    }
    await keyward.refreshTokens(bobs.refresh_token)
    // Auth tokens already issued live out their lifetime; the key itself is the host's to delete.
    expect((await keyward.authenticate(bearer(rotated.auth_token))).ok).toBe(true)
    clock.advance(15 * MINUTE)
    expect((await keyward.authenticate(bearer(rotated.auth_token))).ok).toBe(false)
    const again = await keyward.authenticateWithApiKey(issued.key)
    await keyward.refreshTokens(again.refresh_token)
  })

  it('are ended for a user id only when it is well formed, and for a user the directory no longer knows', async () => {
    const { keyward, users } = setup()
    const login = await keyward.issueTokens('bob')
    users.delete('bob')
    await keyward.endSessions('bob')
    users.set('bob', { id: 'bob', permissions: [] })
    await expect(keyward.refreshTokens(login.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    await expect(keyward.endSessions('')).rejects.toMatchObject({ code: 'INVALID_INPUT', field: 'userId' })
  })

  it('are not spent when their key cannot be checked (503): the retry succeeds, with no reuse alarm', async () => {
    const base = memoryStore()
    let storeDown = false
    const store = {
      ...base,
      findKeyById: (id: string) => (storeDown ? Promise.reject(new Error('timeout')) : base.findKeyById(id)),
    }
    const { keyward, events, clock } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(key)
    clock.advance(5 * MINUTE) // past the cache's freshness: the key check asks the store
    storeDown = true
    await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    storeDown = false
    const next = await keyward.refreshTokens(pair.refresh_token)
    expect((await keyward.authenticate(bearer(next.auth_token))).ok).toBe(true)
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([])
  })

  it("are not spent when the host's directory cannot answer for their user (503): the retry succeeds", async () => {
    let directoryDown = false
    const bob: KeywardUser = { id: 'bob', permissions: [] }
    const users = {
      get: (id: string) =>
        directoryDown ? Promise.reject(new Error('directory down')) : id === 'bob' ? bob : null,
    }
    const { keyward, events } = setup({ users })
    const login = await keyward.issueTokens('bob')
    directoryDown = true
    await expect(keyward.refreshTokens(login.refresh_token)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    directoryDown = false
    expect(decodeJwt((await keyward.refreshTokens(login.refresh_token)).auth_token).sub).toBe('bob')
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([])
  })

  it('expire after 30 days by default', async () => {
    const { keyward, pair, clock } = await exchange()
    clock.advance(30 * 86_400_000)
    await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('live 30 days from their rotation, not from the first of their family', async () => {
    const { keyward, clock } = setup()
    const early = await keyward.issueTokens('alice')
    const late = await keyward.issueTokens('alice')
    clock.advance(10 * DAY)
    const earlyNext = await keyward.refreshTokens(early.refresh_token)
    const lateNext = await keyward.refreshTokens(late.refresh_token)
    clock.advance(30 * DAY - 1)
    await keyward.refreshTokens(earlyNext.refresh_token)
    clock.advance(1)
    await expect(keyward.refreshTokens(lateNext.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('are stored only as digests', async () => {
    const store = memoryStore()
    const { keyward, clock } = setup({ store })
    const pair = await keyward.issueTokens('alice')
    // The setup's clock, not the real one: the token expires 30 days after it, and against the
    // real date the store would answer not_found for an expired token instead of a missing one.
    const now = new Date(clock())
    const later = { digest: 'unused', createdOn: now, expiresOn: new Date(clock() + MINUTE) }
    // Presenting the raw token to the store finds nothing; its SHA-256 digest finds it.
    expect(await store.rotateRefreshToken(pair.refresh_token, later, now)).toEqual({
      status: 'not_found',
    })
    expect((await store.rotateRefreshToken(sha256(pair.refresh_token), later, now)).status).toBe('rotated')
  })

  it('let only one of two simultaneous redemptions succeed', async () => {
    const { keyward, pair } = await exchange()
    const results = await Promise.allSettled([
      keyward.refreshTokens(pair.refresh_token),
      keyward.refreshTokens(pair.refresh_token),
    ])
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1)
  })
})

describe('the answer for a token whose user is gone', () => {
  it('speaks of an invalid auth token, not of an API key', async () => {
    const { keyward, pair, users } = await exchange()
    users.delete('alice')
    const outcome = await keyward.guard(bearer(pair.auth_token))
    expect(outcome).toMatchObject({
      ok: false,
      response: { status: 401, body: { error: 'Invalid auth token' } },
    })
  })
})
