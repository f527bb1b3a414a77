import { createKeyward } from '@keyward/core'
import { describe, expect, it } from 'vitest'

describe('smoke', () => {
  it('issues, verifies, exchanges and deletes', async () => {
    const kw = createKeyward({
      jwtSecret: 'x'.repeat(32),
      users: { get: (id) => ({ id, permissions: ['a'] }) },
    })
    const issued = await kw.issueKey('u1', { name: 'ci' })
    expect(issued.key).toMatch(/^ms-[0-9a-f]{32}$/)
    expect((await kw.verifyKey(issued.key)).ok).toBe(true)
    const pair = await kw.authenticateWithApiKey(issued.key)
    const viaToken = await kw.authenticate({ headers: { authorization: `Bearer ${pair.auth_token}` } })
    expect(viaToken.ok).toBe(true)
    const res = await kw.handle({
      method: 'GET',
      path: '/accounts/api-key',
      query: {},
      body: undefined,
      headers: { 'x-api-key': issued.key },
    })
    expect(res?.status).toBe(200)
    console.log(JSON.stringify(res?.body))
    await kw.deleteKey('u1', { id: issued.id })
    expect((await kw.verifyKey(issued.key)).ok).toBe(false)
    expect((await kw.authenticate({ headers: { authorization: `Bearer ${pair.auth_token}` } })).ok).toBe(
      false,
    )
    const totp = await kw.generateTotpKey('u1')
    console.log(totp.otpauth_url)
    await kw.close()
  })
})
