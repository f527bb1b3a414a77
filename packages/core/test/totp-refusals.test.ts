import { memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { codeAt, SECRET, setup, wrongCodes } from './support.js'

const NEW = 'new-secret-new-secret-new-secret-012345'

describe('a TOTP code under a previous secret', () => {
  it('is refused when the enrolment is reset while its step is being accepted', async () => {
    const base = memoryStore()
    const { secret } = await setup({ store: base }).keyward.generateTotpKey('alice')
    const store = {
      ...base,
      // The host's reset lands between the read and the acceptance.
      acceptTotpStep: async (...args: Parameters<typeof base.acceptTotpStep>) => {
        await base.deleteTotp(args[0])
        return base.acceptTotpStep(...args)
      },
    }
    const rotated = setup({ store, jwtSecret: NEW, previousJwtSecrets: [SECRET] })
    await expect(
      rotated.keyward.verifyTotp('alice', await codeAt(secret, rotated.clock())),
    ).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    expect(await rotated.keyward.totpEnabled('alice')).toBe(false)
    await rotated.keyward.close()
  })

  it('is refused, not answered 500, when an instance of another key replaces it meanwhile', async () => {
    const base = memoryStore()
    const { secret } = await setup({ store: base }).keyward.generateTotpKey('alice')
    // Sealed with a key the verifying instance does not know: a newer one, deployed elsewhere first.
    const newer = setup({ store: base, jwtSecret: 'third-secret-third-secret-third-012345' })
    const store = {
      ...base,
      acceptTotpStep: async (...args: Parameters<typeof base.acceptTotpStep>) => {
        await newer.keyward.generateTotpKey(args[0])
        return base.acceptTotpStep(...args)
      },
    }
    const rotated = setup({ store, jwtSecret: NEW, previousJwtSecrets: [SECRET] })
    await expect(
      rotated.keyward.verifyTotp('alice', await codeAt(secret, rotated.clock())),
    ).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    expect(await base.getTotp('alice')).toMatchObject({ enabled: false, lastStep: null })
    await Promise.all([rotated.keyward.close(), newer.keyward.close()])
  })
})

describe('TOTP refusals tell the client why', () => {
  it('for a code before enrolment, a code not of 6 digits, and a second enrolment', async () => {
    const { keyward, clock } = setup()
    await expect(keyward.verifyTotp('alice', '123456')).rejects.toMatchObject({
      code: 'TOTP_NOT_PENDING',
      message: expect.stringMatching(/generate one first/),
    })
    const { secret } = await keyward.generateTotpKey('alice')
    await expect(keyward.verifyTotp('alice', '12345')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      field: 'code',
      message: expect.stringMatching(/6 digits/),
    })
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    await expect(keyward.generateTotpKey('alice')).rejects.toMatchObject({
      code: 'TOTP_ALREADY_ENABLED',
      message: expect.stringMatching(/already enabled/),
    })
    await keyward.close()
  })

  it('for too many wrong codes', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    let refusal: unknown
    for (const code of await wrongCodes(secret, clock(), 10)) {
      refusal = await keyward.verifyTotp('alice', code).catch((error: unknown) => error)
      if ((refusal as { code?: string }).code === 'RATE_LIMITED') break
    }
    expect(refusal).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/Too many wrong codes/),
    })
    await keyward.close()
  })
})

describe('TOTP when the host listens to no events', () => {
  it('refuses a wrong code as such, enables on a right one, and resets', async () => {
    const { keyward, clock } = setup({ onEvent: undefined })
    const { secret } = await keyward.generateTotpKey('alice')
    const [wrong] = await wrongCodes(secret, clock(), 1)
    await expect(keyward.verifyTotp('alice', wrong)).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
      message: expect.stringMatching(/wrong, expired or already used/),
    })
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    expect(await keyward.totpEnabled('alice')).toBe(true)
    await keyward.resetTotp('alice')
    expect(await keyward.totpEnabled('alice')).toBe(false)
    await keyward.close()
  })
})
