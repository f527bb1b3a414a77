import { hkdfSync } from 'node:crypto'
import { type KeywardOptions, memoryStore } from '@keyward/core'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { codeAt, ISSUED_AT, MINUTE, SECRET, setup } from './support.js'

/** A `jwtSecret` rotation: OLD is the secret before it, NEW the one after. */
const OLD = SECRET
const NEW = 'new-secret-new-secret-new-secret-012345'
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

/**
 * Alice's key, exchanged for a pair under `jwtSecret: OLD`; then the same store (and clock) under
 * `after`, as a redeployed instance finds them.
 */
async function rotate(after: Partial<KeywardOptions>) {
  const store = memoryStore()
  const before = setup({ store })
  const issued = await before.keyward.issueKey('alice', { name: 'ci' })
  const pair = await before.keyward.authenticateWithApiKey(issued.key)
  const rotated = setup({ store, ...after })
  return { before, rotated, issued, pair }
}

describe('auth tokens across a jwtSecret rotation', () => {
  it('signed with a secret listed in previousJwtSecrets verify until they expire', async () => {
    const { rotated, pair } = await rotate({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
    expect(await rotated.keyward.authenticate(bearer(pair.auth_token))).toMatchObject({
      ok: true,
      principal: { userId: 'alice', credential: 'auth_token' },
    })
    rotated.clock.advance(15 * MINUTE)
    expect(await rotated.keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'TOKEN_EXPIRED' },
    })
  })

  it('first presented after their expiry are TOKEN_EXPIRED under a previous secret too', async () => {
    const { rotated, pair } = await rotate({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
    rotated.clock.advance(15 * MINUTE)
    expect(await rotated.keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'TOKEN_EXPIRED' },
    })
  })

  it('signed with jwtSecret and expired are TOKEN_EXPIRED while previous secrets are listed', async () => {
    const { rotated, issued } = await rotate({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
    const pair = await rotated.keyward.authenticateWithApiKey(issued.key)
    rotated.clock.advance(15 * MINUTE)
    expect(await rotated.keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'TOKEN_EXPIRED' },
    })
  })

  it('signed with a secret no longer listed are refused', async () => {
    const { rotated, pair } = await rotate({ jwtSecret: NEW })
    expect(await rotated.keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'INVALID_TOKEN' },
    })
  })

  it('are signed with jwtSecret alone: an instance that knows only the previous secret refuses them', async () => {
    const { before, rotated, issued } = await rotate({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
    const pair = await rotated.keyward.authenticateWithApiKey(issued.key)
    expect((await rotated.keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
    expect(await before.keyward.authenticate(bearer(pair.auth_token))).toEqual({
      ok: false,
      failure: { code: 'INVALID_TOKEN' },
    })
  })

  it('signed with a previous secret still have their algorithm, type, issuer and audience checked', async () => {
    const { rotated } = await rotate({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
    const now = Math.floor(ISSUED_AT / 1000)
    const signed = (alg: string, claims: { typ?: string; iss?: string; aud?: string }) =>
      new SignJWT({ key_id: null })
        .setProtectedHeader({ alg, typ: claims.typ ?? 'at+jwt' })
        .setIssuer(claims.iss ?? 'keyward')
        .setAudience(claims.aud ?? 'keyward')
        .setSubject('alice')
        .setIssuedAt(now)
        .setExpirationTime(now + 900)
        .setJti('forged')
        .sign(new TextEncoder().encode(OLD))
    const valid = await signed('HS256', {})
    expect((await rotated.keyward.authenticate(bearer(valid))).ok).toBe(true)
    for (const forged of await Promise.all([
      signed('HS512', {}),
      signed('HS256', { typ: 'JWT' }),
      signed('HS256', { iss: 'elsewhere' }),
      signed('HS256', { aud: 'elsewhere' }),
    ]))
      expect(await rotated.keyward.authenticate(bearer(forged))).toEqual({
        ok: false,
        failure: { code: 'INVALID_TOKEN' },
      })
  })

  it('signed with any of several previous secrets verify', async () => {
    const oldest = 'oldest-secret-oldest-secret-oldest-0123'
    const store = memoryStore()
    const first = setup({ store, jwtSecret: oldest })
    const second = setup({ store, jwtSecret: OLD, previousJwtSecrets: [oldest] })
    const third = setup({ store, jwtSecret: NEW, previousJwtSecrets: [OLD, oldest] })
    const { key } = await first.keyward.issueKey('alice', { name: 'ci' })
    for (const { keyward } of [first, second]) {
      const pair = await keyward.authenticateWithApiKey(key)
      expect((await third.keyward.authenticate(bearer(pair.auth_token))).ok).toBe(true)
    }
  })

  it('leave refresh tokens alone: a session begun before the rotation refreshes after it', async () => {
    const { rotated, pair } = await rotate({ jwtSecret: NEW })
    const next = await rotated.keyward.refreshTokens(pair.refresh_token)
    expect((await rotated.keyward.authenticate(bearer(next.auth_token))).ok).toBe(true)
  })
})

describe('TOTP enrolments across a jwtSecret rotation', () => {
  /** Enrols alice under `jwtSecret: OLD` (no encryptionKey), then confirms her code under `after`. */
  async function enrolThenVerify(after: Partial<KeywardOptions>) {
    const store = memoryStore()
    const { secret } = await setup({ store }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, ...after })
    return rotated.keyward.verifyTotp('alice', await codeAt(secret, rotated.clock()))
  }

  it('sealed with the key derived from a secret listed in previousJwtSecrets still open', async () => {
    await enrolThenVerify({ jwtSecret: NEW, previousJwtSecrets: [OLD] })
  })

  it('still open once an encryptionKey is set in the same rotation', async () => {
    await enrolThenVerify({
      jwtSecret: NEW,
      previousJwtSecrets: [OLD],
      totp: { encryptionKey: 'k'.repeat(32) },
    })
  })

  it('are sealed again under the new secret as a code is accepted: the old one is then not needed', async () => {
    const store = memoryStore()
    const { secret } = await setup({ store }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, jwtSecret: NEW, previousJwtSecrets: [OLD] })
    await rotated.keyward.verifyTotp('alice', await codeAt(secret, rotated.clock()))
    const withoutOld = setup({ store, jwtSecret: NEW })
    withoutOld.clock.advance(30_000)
    await withoutOld.keyward.verifyTotp('alice', await codeAt(secret, withoutOld.clock()))
  })

  it('are sealed, without an encryptionKey, with HKDF-SHA256 of jwtSecret under the label of v1: what an upgrade must still open', async () => {
    const derived = hkdfSync('sha256', Buffer.from(OLD), Buffer.alloc(0), 'keyward totp secret v1', 32)
    await enrolThenVerify({ jwtSecret: NEW, totp: { encryptionKey: new Uint8Array(derived) } })
  })

  it('sealed under a secret no longer listed do not open, and the error says what to do', async () => {
    await expect(enrolThenVerify({ jwtSecret: NEW })).rejects.toThrow(
      /jwtSecret: that secret in previousJwtSecrets\), or reset/,
    )
  })
})

describe('previousJwtSecrets', () => {
  it('refuses a secret shorter than 32 bytes, naming its place', () => {
    expect(() => setup({ previousJwtSecrets: [OLD, 'short'] })).toThrow(
      /"previousJwtSecrets\[1\]" must be at least 32 bytes \(got 5\)/,
    )
  })

  it('refuses anything but an array of strings or byte arrays', () => {
    expect(() => setup({ previousJwtSecrets: OLD as unknown as string[] })).toThrow(
      /"previousJwtSecrets" must be an array of keys/,
    )
    expect(() => setup({ previousJwtSecrets: [42 as unknown as string] })).toThrow(
      /"previousJwtSecrets\[0\]" must be a string or Uint8Array of at least 32 bytes/,
    )
  })
})
