import { type KeywardOptions, memoryStore, type TotpAcceptance } from '@keyward/core'
import { generate } from 'otplib'
import { describe, expect, it } from 'vitest'
import { matchTotpStep, otpCode } from '../src/totp/otp.js'
import { SecretBox } from '../src/totp/secret-box.js'
import { ISSUED_AT, setup, wrongCodes } from './support.js'

const ascii = (text: string) => new TextEncoder().encode(text)

describe('RFC 4226 HOTP test vectors (Appendix D)', () => {
  const expected = [
    '755224',
    '287082',
    '359152',
    '969429',
    '338314',
    '254676',
    '287922',
    '162583',
    '399871',
    '520489',
  ]
  it.each(expected.map((code, counter) => [counter, code]))('counter %i gives %s', async (counter, code) => {
    expect(await otpCode({ secret: ascii('12345678901234567890'), counter })).toBe(code)
  })
})

describe('RFC 6238 TOTP test vectors (Appendix B, 8 digits, 30 s)', () => {
  // The SHA-256 and SHA-512 seeds are 32 and 64 bytes long (the RFC's appendix code, not its table text).
  const seeds = {
    sha1: ascii('12345678901234567890'),
    sha256: ascii('12345678901234567890123456789012'),
    sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
  } as const
  const vectors: Array<[number, string, string, string]> = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ]
  it.each(vectors)('T=%i', async (time, sha1, sha256, sha512) => {
    const at = (algorithm: keyof typeof seeds) =>
      otpCode({ secret: seeds[algorithm], epochSeconds: time, algorithm, digits: 8 })
    expect(await at('sha1')).toBe(sha1)
    expect(await at('sha256')).toBe(sha256)
    expect(await at('sha512')).toBe(sha512)
  })
})

const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) })

/** A store whose first two acceptTotpStep calls wait for each other, then run in step order. */
function acceptingTwoAtOnce() {
  const base = memoryStore()
  const held: Array<{ step: number; accept: () => void }> = []
  const store = {
    ...base,
    acceptTotpStep: (userId: string, sealedSecret: string, step: number, resealed?: string) => {
      if (held.length === 2) return base.acceptTotpStep(userId, sealedSecret, step, resealed)
      return new Promise<TotpAcceptance>((resolve, reject) => {
        const accept = () => base.acceptTotpStep(userId, sealedSecret, step, resealed).then(resolve, reject)
        held.push({ step, accept })
        if (held.length === 2) for (const call of held.sort((a, b) => a.step - b.step)) call.accept()
      })
    },
  }
  return { base, store }
}

describe('matching a TOTP code to its step', () => {
  it('matches only steps after the one last accepted, so that no code matches twice', async () => {
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
    const epochSeconds = ISSUED_AT / 1000
    const step = Math.floor(epochSeconds / 30)
    const code = await codeAt(secret, ISSUED_AT)
    expect(await matchTotpStep(secret, code, epochSeconds, null)).toBe(step)
    expect(await matchTotpStep(secret, code, epochSeconds, step - 1)).toBe(step)
    // Not left to the store alone, which also accepts only a step past the last.
    expect(await matchTotpStep(secret, code, epochSeconds, step)).toBeUndefined()
  })
})

describe('TOTP enrolment', () => {
  it('returns a base32 secret of at least 160 bits and an otpauth URL with issuer and label', async () => {
    const { keyward } = setup({ totp: { issuer: 'Acme API' } })
    const { secret, otpauth_url } = await keyward.generateTotpKey('alice')
    expect(secret).toMatch(/^[A-Z2-7]{32,}$/)
    expect(secret.length * 5).toBeGreaterThanOrEqual(160)
    const url = new URL(otpauth_url)
    expect(url.protocol).toBe('otpauth:')
    expect(url.host).toBe('totp')
    expect(decodeURIComponent(url.pathname)).toBe('/Acme API:alice@example.com')
    expect(url.searchParams.get('secret')).toBe(secret)
    expect(url.searchParams.get('issuer')).toBe('Acme API')
  })

  it('stays pending until a code confirms it; then totp_enabled is true', async () => {
    const { keyward, clock, events } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.authenticateWithApiKey(key)).totp_enabled).toBe(false)
    expect(await keyward.totpEnabled('alice')).toBe(false)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    expect((await keyward.authenticateWithApiKey(key)).totp_enabled).toBe(true)
    expect(await keyward.totpEnabled('alice')).toBe(true)
    await keyward.resetTotp('alice')
    expect(await keyward.totpEnabled('alice')).toBe(false)
    expect(events.filter((event) => event.type === 'totp.enabled')).toHaveLength(1)
  })

  it('tells once that TOTP is enabled when two codes confirm a pending secret at the same time', async () => {
    // Both requests read the enrolment pending; the store accepts the earlier step, then the later.
    const { base, store } = acceptingTwoAtOnce()
    const { keyward, clock, events } = setup({ store })
    const { secret } = await keyward.generateTotpKey('alice')
    const codes = [await codeAt(secret, clock() - 30_000), await codeAt(secret, clock())]
    await Promise.all(codes.map((code) => keyward.verifyTotp('alice', code)))
    expect(await base.getTotp('alice')).toMatchObject({ enabled: true })
    expect(events.filter((event) => event.type === 'totp.enabled')).toMatchObject([{ userId: 'alice' }])
  })

  it('never accepts a code twice, even within its step', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    const code = await codeAt(secret, clock())
    await keyward.verifyTotp('alice', code)
    await expect(keyward.verifyTotp('alice', code)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    clock.advance(30_000)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
  })

  it('accepts the current step and one step of drift either way, no more', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    const now = clock()
    await expect(keyward.verifyTotp('alice', await codeAt(secret, now - 60_000))).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    await expect(keyward.verifyTotp('alice', await codeAt(secret, now + 60_000))).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    await keyward.verifyTotp('alice', await codeAt(secret, now - 30_000))
    await keyward.verifyTotp('alice', await codeAt(secret, now))
    await keyward.verifyTotp('alice', await codeAt(secret, now + 30_000))
  })

  it('does not accept an older step after a newer one was used', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    await keyward.verifyTotp('alice', await codeAt(secret, clock() + 30_000))
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
  })

  it('answers a wrong code, not a 500, on an instance whose clock is behind the last accepted step', async () => {
    // Another instance, or this one before the clock was set back, accepted the next step's code.
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    await keyward.verifyTotp('alice', await codeAt(secret, clock() + 30_000))
    for (const behind of [30_000, 60_000, 3_600_000]) {
      clock.advance(-behind)
      await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject({
        code: 'INVALID_TOTP_CODE',
      })
      clock.advance(behind)
    }
    // Once the clock has caught up, the next step's code is accepted again.
    clock.advance(60_000)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
  })

  it('labels the URL with a display name cut in the middle of an emoji, not a 500', async () => {
    const { keyward, users } = setup()
    const cut = 'Zoë 😀'.slice(0, 5)
    users.set('zoe', { id: 'zoe', displayName: cut, permissions: [] })
    const { otpauth_url } = await keyward.generateTotpKey('zoe')
    expect(decodeURIComponent(new URL(otpauth_url).pathname)).toBe('/keyward:Zoë \uFFFD')
  })

  it('names the account without a colon, which apps take for the end of the issuer', async () => {
    const { keyward, users } = setup({ totp: { issuer: 'Acme EU' } })
    users.set('ops', { id: 'ops', displayName: 'Ops: Alice', permissions: [] })
    const { otpauth_url } = await keyward.generateTotpKey('ops')
    expect(decodeURIComponent(new URL(otpauth_url).pathname)).toBe('/Acme EU:Ops  Alice')
  })

  it('refuses an issuer with a colon at start-up', () => {
    expect(() => setup({ totp: { issuer: 'Acme: EU' } })).toThrow(/totp\.issuer.*":"/)
  })

  it('keeps the enrolment under the id it was asked for, whatever id the directory answers', async () => {
    const { keyward, users, clock } = setup()
    // A directory that finds users case-insensitively and answers their canonical id.
    users.set('Alice', { id: 'alice', permissions: [] })
    const { secret } = await keyward.generateTotpKey('Alice')
    await keyward.verifyTotp('Alice', await codeAt(secret, clock()))
    expect(await keyward.totpEnabled('Alice')).toBe(true)
    expect(await keyward.totpEnabled('alice')).toBe(false)
  })

  it('still limits wrong codes with rateLimit: false, which turns off only the address and account limits', async () => {
    const { keyward, clock } = setup({ rateLimit: false })
    const { secret } = await keyward.generateTotpKey('alice')
    for (const code of await wrongCodes(secret, clock(), 5))
      await expect(keyward.verifyTotp('alice', code)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter: 30,
    })
  })

  it('names the address of a wrong code sent to the verify-totp route in its auth.failed event', async () => {
    const { keyward, events, clock } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { secret } = await keyward.generateTotpKey('alice')
    const [wrong] = await wrongCodes(secret, clock(), 1)
    const reply = await keyward.handle({
      method: 'POST',
      path: '/accounts/verify-totp',
      query: {},
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: Buffer.from(JSON.stringify({ code: wrong })),
      ip: '198.51.100.4',
    })
    expect(reply?.status).toBe(401)
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([
      expect.objectContaining({ code: 'INVALID_TOTP_CODE', ip: '198.51.100.4' }),
    ])
  })

  it('names the address a wrong code came from in its auth.failed event', async () => {
    const { keyward, events, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    const [wrong] = await wrongCodes(secret, clock(), 1)
    await expect(keyward.verifyTotp('alice', wrong, { ip: '203.0.113.7' })).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    expect(events.filter((event) => event.type === 'auth.failed')).toEqual([
      expect.objectContaining({ code: 'INVALID_TOTP_CODE', userId: 'alice', ip: '203.0.113.7' }),
    ])
  })

  it('does not enable a secret that replaced, while the code was checked, the one the code matched', async () => {
    // Two tabs: one verifies a code of the first secret while the other generates a second secret.
    const base = memoryStore()
    let meanwhile: (() => Promise<unknown>) | undefined
    const store = {
      ...base,
      async acceptTotpStep(userId: string, sealedSecret: string, step: number) {
        await meanwhile?.()
        return base.acceptTotpStep(userId, sealedSecret, step)
      },
    }
    const { keyward, clock } = setup({ store })
    const first = await keyward.generateTotpKey('alice')
    meanwhile = () => {
      meanwhile = undefined
      return keyward.generateTotpKey('alice')
    }
    await expect(keyward.verifyTotp('alice', await codeAt(first.secret, clock()))).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    expect(await base.getTotp('alice')).toMatchObject({ enabled: false, lastStep: null })
  })

  it('refuses a new secret while TOTP is enabled, and allows one after a reset', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    await expect(keyward.generateTotpKey('alice')).rejects.toMatchObject({ code: 'TOTP_ALREADY_ENABLED' })
    await keyward.resetTotp('alice')
    await keyward.generateTotpKey('alice')
  })

  it.each([['12345'], ['1234567'], ['abcdef'], [123456], [undefined]])(
    'refuses a malformed code %j naming the field',
    async (code) => {
      const { keyward } = setup()
      await keyward.generateTotpKey('alice')
      await expect(keyward.verifyTotp('alice', code)).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        field: 'code',
      })
    },
  )

  it('accepts a code the store took even when clearing the counts then fails, and says so', async () => {
    const base = memoryStore()
    let resets = 0
    const failure = new Error('connection reset')
    // The code was accepted and TOTP enabled; resetting the wrong-code count then fails. A 503
    // would ask the client to retry a code that is already spent (a 401 then).
    const store = {
      ...base,
      resetCounter: (bucket: string) =>
        ++resets === 1 ? Promise.reject(failure) : base.resetCounter(bucket),
    }
    const { keyward, clock, events } = setup({ store })
    const { secret } = await keyward.generateTotpKey('alice')
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).resolves.toBeUndefined()
    expect(await keyward.totpEnabled('alice')).toBe(true)
    expect(events.filter((event) => event.type === 'totp.enabled')).toMatchObject([{ userId: 'alice' }])
    expect(events.filter((event) => event.type === 'error')).toMatchObject([
      { during: 'rate-limit', code: 'STORE_UNAVAILABLE', error: failure },
    ])
  })

  it('answers TOTP_NOT_PENDING before any enrolment', async () => {
    const { keyward } = setup()
    await expect(keyward.verifyTotp('alice', '123456')).rejects.toMatchObject({ code: 'TOTP_NOT_PENDING' })
  })

  it('limits wrong codes per account with a delay that grows', async () => {
    const { keyward, clock } = setup({ rateLimit: { totp: { max: 3, baseDelay: '30s' } } })
    const { secret } = await keyward.generateTotpKey('alice')
    const wrong = async () => {
      const right = await codeAt(secret, clock())
      return right === '000000' ? '111111' : '000000'
    }
    for (let i = 0; i < 2; i++)
      await expect(keyward.verifyTotp('alice', await wrong())).rejects.toMatchObject({
        code: 'INVALID_TOTP_CODE',
      })
    await expect(keyward.verifyTotp('alice', await wrong())).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    // Third failure reached the limit: locked for 30 s, even for the right code.
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter: 30,
    })
    clock.advance(30_000)
    await expect(keyward.verifyTotp('alice', await wrong())).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    await expect(keyward.verifyTotp('alice', await wrong())).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter: 60,
    })
    clock.advance(60_000)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    // Success resets the count.
    for (let i = 0; i < 2; i++)
      await expect(keyward.verifyTotp('alice', await wrong())).rejects.toMatchObject({
        code: 'INVALID_TOTP_CODE',
      })
  })

  it('stores the secret sealed, bound to the user', async () => {
    const store = memoryStore()
    const { keyward } = setup({ store })
    const { secret } = await keyward.generateTotpKey('alice')
    const record = await store.getTotp('alice')
    expect(record?.sealedSecret).toMatch(/^v1\./)
    expect(JSON.stringify(record)).not.toContain(secret)
  })
})

describe('TOTP sealing keys across a rotation', () => {
  const KEY_A = 'a'.repeat(32)
  const KEY_B = 'b'.repeat(32)

  /** Enrols alice under the first options, then confirms her code under the second, over one store. */
  async function enrolThenVerify(before: Partial<KeywardOptions>, after: Partial<KeywardOptions>) {
    const store = memoryStore()
    const first = setup({ store, ...before })
    const { secret } = await first.keyward.generateTotpKey('alice')
    const second = setup({ store, ...after })
    return second.keyward.verifyTotp('alice', await codeAt(secret, second.clock()))
  }

  it('opens a secret sealed with a key now listed in previousEncryptionKeys', async () => {
    await enrolThenVerify(
      { totp: { encryptionKey: KEY_A } },
      { totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } },
    )
  })

  it('opens a secret sealed with the key derived from jwtSecret once encryptionKey is set', async () => {
    await enrolThenVerify({}, { totp: { encryptionKey: KEY_B } })
  })

  it('cannot open a secret whose key is no longer configured, and says what to do', async () => {
    await expect(
      enrolThenVerify({ totp: { encryptionKey: KEY_A } }, { totp: { encryptionKey: KEY_B } }),
    ).rejects.toThrow(/totp\.previousEncryptionKeys \(.*\), or reset/)
  })

  it('seals new enrolments with encryptionKey, never with a previous key', async () => {
    const store = memoryStore()
    const { keyward } = setup({ store, totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } })
    await keyward.generateTotpKey('alice')
    const sealed = (await store.getTotp('alice'))?.sealedSecret as string
    expect(new SecretBox(new TextEncoder().encode(KEY_B)).open(sealed, 'alice')).toBeDefined()
    expect(new SecretBox(new TextEncoder().encode(KEY_A)).open(sealed, 'alice')).toBeUndefined()
  })

  it('seals an enrolment again with encryptionKey as it accepts a code: the previous key is then not needed', async () => {
    const store = memoryStore()
    const { secret } = await setup({ store, totp: { encryptionKey: KEY_A } }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } })
    const stale = (await store.getTotp('alice'))?.sealedSecret
    // A wrong code writes nothing.
    const [wrong] = await wrongCodes(secret, rotated.clock(), 1)
    await expect(rotated.keyward.verifyTotp('alice', wrong)).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    expect((await store.getTotp('alice'))?.sealedSecret).toBe(stale)

    await rotated.keyward.verifyTotp('alice', await codeAt(secret, rotated.clock()))
    const sealed = (await store.getTotp('alice'))?.sealedSecret as string
    expect(new SecretBox(new TextEncoder().encode(KEY_B)).open(sealed, 'alice')?.plaintext).toBe(secret)
    const withoutA = setup({ store, totp: { encryptionKey: KEY_B } })
    withoutA.clock.advance(30_000)
    await withoutA.keyward.verifyTotp('alice', await codeAt(secret, withoutA.clock()))
  })

  it('accepts two valid codes of different steps sent at once as the first after a rotation', async () => {
    // The first re-seals the secret; the second, read before, still holds the same secret.
    const { base, store } = acceptingTwoAtOnce()
    const { secret } = await setup({ store, totp: { encryptionKey: KEY_A } }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } })
    const now = rotated.clock()
    const codes = [await codeAt(secret, now - 30_000), await codeAt(secret, now)]
    await Promise.all(codes.map((code) => rotated.keyward.verifyTotp('alice', code)))
    expect(await base.getTotp('alice')).toMatchObject({ enabled: true, lastStep: Math.floor(now / 30_000) })
    expect(rotated.events.filter((event) => event.type === 'auth.failed')).toEqual([])
    expect(rotated.events.filter((event) => event.type === 'totp.enabled')).toHaveLength(1)
  })

  it('still accepts one code only once when it is sent twice at once after a rotation', async () => {
    const { store } = acceptingTwoAtOnce()
    const { secret } = await setup({ store, totp: { encryptionKey: KEY_A } }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } })
    const code = await codeAt(secret, rotated.clock())
    const outcomes = await Promise.allSettled(
      [code, code].map((same) => rotated.keyward.verifyTotp('alice', same)),
    )
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected'])
    expect(outcomes.find((outcome) => outcome.status === 'rejected')).toMatchObject({
      reason: { code: 'INVALID_TOTP_CODE' },
    })
  })

  it('refuses a code whose secret a second generate replaced, even after a rotation', async () => {
    const store = memoryStore()
    const { secret } = await setup({ store, totp: { encryptionKey: KEY_A } }).keyward.generateTotpKey('alice')
    const rotated = setup({ store, totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] } })
    let replaced = false
    const replacing = {
      ...store,
      // Between this verify's read and its write, a second generate stores a new secret.
      acceptTotpStep: async (userId: string, sealedSecret: string, step: number, resealed?: string) => {
        if (!replaced) await rotated.keyward.generateTotpKey(userId)
        replaced = true
        return store.acceptTotpStep(userId, sealedSecret, step, resealed)
      },
    }
    const racing = setup({
      store: replacing,
      totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] },
    })
    await expect(
      racing.keyward.verifyTotp('alice', await codeAt(secret, racing.clock())),
    ).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    expect(await store.getTotp('alice')).toMatchObject({ enabled: false, lastStep: null })
  })

  it('leaves an enrolment the current key sealed as it is when it accepts a code', async () => {
    const store = memoryStore()
    const { keyward, clock } = setup({
      store,
      totp: { encryptionKey: KEY_B, previousEncryptionKeys: [KEY_A] },
    })
    const { secret } = await keyward.generateTotpKey('alice')
    const sealed = (await store.getTotp('alice'))?.sealedSecret
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    expect(await store.getTotp('alice')).toMatchObject({ sealedSecret: sealed, enabled: true })
  })

  it('refuses a previous key that is not 32 bytes, naming it', () => {
    expect(() => setup({ totp: { previousEncryptionKeys: [KEY_A, 'short'] } })).toThrow(
      /totp\.previousEncryptionKeys\[1\].*32 bytes \(got 5\)/,
    )
  })
})

describe('secret box (AES-256-GCM)', () => {
  const box = new SecretBox(new Uint8Array(32).fill(1))

  it('opens what it sealed, for the same user only', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'alice')
    expect(box.open(sealed, 'alice')).toEqual({ plaintext: 'JBSWY3DPEHPK3PXP', byPreviousKey: false })
    expect(box.open(sealed, 'bob')).toBeUndefined()
  })

  it('refuses a tampered box or another key', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'alice')
    const bytes = Buffer.from(sealed.slice(3), 'base64url')
    bytes[20] = (bytes[20] as number) ^ 1
    const flipped = `v1.${bytes.toString('base64url')}`
    expect(box.open(flipped, 'alice')).toBeUndefined()
    expect(new SecretBox(new Uint8Array(32).fill(2)).open(sealed, 'alice')).toBeUndefined()
    expect(box.open('v2.garbage', 'alice')).toBeUndefined()
  })

  it('tells what a previous key sealed, and seals with the current key only', () => {
    const rotated = new SecretBox(new Uint8Array(32).fill(2), [new Uint8Array(32).fill(1)])
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'alice')
    expect(rotated.open(sealed, 'alice')).toEqual({ plaintext: 'JBSWY3DPEHPK3PXP', byPreviousKey: true })
    const resealed = rotated.seal('JBSWY3DPEHPK3PXP', 'alice')
    expect(rotated.open(resealed, 'alice')).toEqual({ plaintext: 'JBSWY3DPEHPK3PXP', byPreviousKey: false })
    expect(box.open(resealed, 'alice')).toBeUndefined()
  })

  it('refuses a box of another version or with no body, even of a secret this key sealed', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'alice')
    expect(box.open(sealed, 'alice')?.plaintext).toBe('JBSWY3DPEHPK3PXP')
    expect(box.open(sealed.replace(/^v1\./, 'v2.'), 'alice')).toBeUndefined()
    expect(box.open('v1', 'alice')).toBeUndefined()
  })

  it('opens the shortest box, of an empty plaintext, and refuses one a byte shorter', () => {
    const sealed = box.seal('', 'alice')
    expect(box.open(sealed, 'alice')).toEqual({ plaintext: '', byPreviousKey: false })
    const bytes = Buffer.from(sealed.slice(3), 'base64url')
    expect(box.open(`v1.${bytes.subarray(1).toString('base64url')}`, 'alice')).toBeUndefined()
  })

  it('seals with a fresh nonce each time', () => {
    expect(box.seal('same', 'alice')).not.toBe(box.seal('same', 'alice'))
  })
})
