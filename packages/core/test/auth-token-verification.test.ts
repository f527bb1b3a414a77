/**
 * How an auth token is verified: refused by its length before any parsing, its claims checked for
 * the types keyward signs, and once verified answered from the cache, with no signature checked
 * again, until it expires.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { forge, instrumentedStore, MINUTE, SECRET_BYTES, setup, withoutWebCrypto } from './support.js'

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

describe('an auth token', () => {
  it('as long as the longest keyward signs (the longest user id, times of 13 digits) verifies', async () => {
    const { keyward, users } = setup()
    // Three UTF-8 bytes each, the most a character of a valid user id takes in JSON.
    const userId = '\u0800'.repeat(512)
    users.set(userId, { id: userId, permissions: [] })
    const { id } = await keyward.issueKey(userId, { name: 'wide' })
    const farOff = 1e12
    const token = await forge({ key_id: id, sub: userId, iat: farOff, exp: farOff, jti: randomUUID() }).sign(
      SECRET_BYTES,
    )
    expect(await keyward.authenticate(bearer(token))).toMatchObject({
      ok: true,
      principal: { userId, keyId: id, credential: 'auth_token' },
    })
  })

  it('whose key_id is neither a string nor null is refused with no key looked up', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    const { id } = await keyward.issueKey('alice', { name: 'ci' })
    for (const keyId of [42, [id], { id }]) {
      const token = await forge({ key_id: keyId }).sign(SECRET_BYTES)
      expect(await keyward.authenticate(bearer(token))).toEqual({
        ok: false,
        failure: { code: 'INVALID_TOKEN' },
      })
    }
    expect(count('findKeyById')).toBe(0)
    // The same token with the key's id is looked up, and verifies.
    const token = await forge({ key_id: id }).sign(SECRET_BYTES)
    expect((await keyward.authenticate(bearer(token))).ok).toBe(true)
    expect(count('findKeyById')).toBe(1)
  })
})

describe('an auth token verified once', () => {
  it('is answered from the cache, its signature not checked again, and once expired answered TOKEN_EXPIRED from it too', async () => {
    const { keyward, clock } = setup()
    const { auth_token } = await keyward.issueTokens('alice')
    expect((await keyward.authenticate(bearer(auth_token))).ok).toBe(true)
    // Without Web Crypto, jose can verify no signature: only the cache can answer.
    await withoutWebCrypto(async () => {
      expect(await keyward.authenticate(bearer(auth_token))).toMatchObject({
        ok: true,
        principal: { userId: 'alice', credential: 'auth_token' },
      })
      clock.advance(15 * MINUTE)
      expect(await keyward.authenticate(bearer(auth_token))).toEqual({
        ok: false,
        failure: { code: 'TOKEN_EXPIRED' },
      })
    })
  })
})
