import { type KeywardErrorEvent, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { data, type TotpKeyData, withKey } from './support/client.js'
import { useContract } from './support/contract.js'
import { createFixture, SECOND } from './support/fixture.js'
import { FRAMEWORKS } from './support/servers.js'
import { totpCode } from './support/totp.js'

describe.each(FRAMEWORKS)('TOTP over %s', (framework) => {
  const t = useContract(framework)
  const generate = (key: string) => t.api('POST', '/accounts/generate-totp-key', { headers: withKey(key) })
  const verify = (key: string, code: unknown) =>
    t.api('POST', '/accounts/verify-totp', { headers: withKey(key), json: { code } })

  it('enrols: generate, verify a code computed from the secret, then totp_enabled is true', async () => {
    const alice = await t.keyFor('alice')
    const enrolment = data<TotpKeyData>(await generate(alice))
    const url = new URL(enrolment.otpauth_url)
    expect(url.protocol).toBe('otpauth:')
    expect(url.searchParams.get('secret')).toBe(enrolment.secret)
    expect(decodeURIComponent(url.pathname)).toBe('/keyward:alice@example.com')
    expect((await t.tokensFor(alice)).totp_enabled).toBe(false)

    const reply = await verify(alice, await totpCode(enrolment.secret, t.clock()))
    expect(reply.body).toEqual({ data: { totp_enabled: true } })
    expect((await t.tokensFor(alice)).totp_enabled).toBe(true)
  })

  it('refuses an accepted code the second time, and takes the next step’s code', async () => {
    const alice = await t.keyFor('alice')
    const { secret } = data<TotpKeyData>(await generate(alice))
    const code = await totpCode(secret, t.clock())
    expect((await verify(alice, code)).status).toBe(200)
    const replay = await verify(alice, code)
    expect(replay.status).toBe(401)
    expect(replay.body).toEqual({
      error: 'Invalid TOTP code',
      message: 'The code is wrong, expired or already used',
    })
    t.clock.advance(30 * SECOND)
    expect((await verify(alice, await totpCode(secret, t.clock()))).status).toBe(200)
  })

  it('answers 409 to generate once TOTP is enabled', async () => {
    const alice = await t.keyFor('alice')
    const { secret } = data<TotpKeyData>(await generate(alice))
    await verify(alice, await totpCode(secret, t.clock()))
    const again = await generate(alice)
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ error: 'TOTP already enabled' })
  })

  it('answers 409 to verify before any key was generated', async () => {
    const reply = await verify(await t.keyFor('alice'), '123456')
    expect(reply.status).toBe(409)
    expect(reply.body).toMatchObject({ error: 'No TOTP key' })
  })

  it('answers 401 to a wrong code and 400 to a code that is not 6 digits', async () => {
    const alice = await t.keyFor('alice')
    const { secret } = data<TotpKeyData>(await generate(alice))
    const right = await totpCode(secret, t.clock())
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0')
    const refused = await verify(alice, wrong)
    expect(refused.status).toBe(401)
    // The key or token that carried the request is good: no invalid_token, which tells a client to drop it.
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="keyward"')
    for (const code of ['12345', '12345a', 123456, null]) {
      const reply = await verify(alice, code)
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ field: 'code' })
    }
    expect((await verify(alice, right)).status).toBe(200)
  })

  it('answers 429 with retry_after after repeated wrong codes', async () => {
    const alice = await t.keyFor('alice')
    const { secret } = data<TotpKeyData>(await generate(alice))
    const right = await totpCode(secret, t.clock())
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0')
    for (let attempt = 0; attempt < 5; attempt++) expect((await verify(alice, wrong)).status).toBe(401)
    const limited = await verify(alice, right)
    expect(limited.status).toBe(429)
    expect(limited.body).toMatchObject({ error: 'Rate limit exceeded', retry_after: expect.any(Number) })
    expect(Number(limited.headers.get('retry-after'))).toBe(
      (limited.body as { retry_after: number }).retry_after,
    )
  })

  it('needs a credential for both routes', async () => {
    expect((await t.api('POST', '/accounts/generate-totp-key')).status).toBe(401)
    expect((await t.api('POST', '/accounts/verify-totp', { json: { code: '123456' } })).status).toBe(401)
  })
})

describe.each(FRAMEWORKS)('a TOTP key sealed under another encryption key, over %s', (framework) => {
  // The operator changed totp.encryptionKey: what the store holds no longer opens.
  const store = memoryStore()
  const t = useContract(framework, { store, totp: { encryptionKey: 'b'.repeat(32) } })

  it('answers verify with the documented bare 500, and says why in the error event only', async () => {
    const before = createFixture({ store, totp: { encryptionKey: 'a'.repeat(32) } }).keyward
    const alice = await t.keyFor('alice')
    const { secret } = await before.generateTotpKey('alice')
    const code = await totpCode(secret, t.clock())
    await before.verifyTotp('alice', code)
    await before.close()

    // t.api checks the status, body and headers against the documents.
    const reply = await t.api('POST', '/accounts/verify-totp', { headers: withKey(alice), json: { code } })
    expect(reply.status).toBe(500)
    expect(reply.body).toEqual({ error: 'Internal error', message: 'Something went wrong on our side' })
    // Neither the secret, the user, the cause nor a stack frame, in the body or in a header.
    const told = `${JSON.stringify(reply.body)} ${JSON.stringify([...reply.headers])}`
    for (const detail of [secret, 'alice', 'no configured key', 'previousEncryptionKeys'])
      expect(told).not.toContain(detail)
    expect(told).not.toMatch(/\bat \S+:\d+:\d+/)
    const errors = t.events.filter((event): event is KeywardErrorEvent => event.type === 'error')
    expect(errors).toMatchObject([{ during: 'request', code: 'INTERNAL' }])
    expect(String(errors[0]?.error)).toMatch(/stored TOTP key of user alice opens with no configured key/)
  })
})
