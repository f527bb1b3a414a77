/**
 * A pending TOTP enrolment lives PENDING_TOTP_LIFETIME_MS (24 hours) from its generation, by the
 * injected clock: past it, a right code is refused as though nothing were pending, whether or not
 * the store has deleted it yet. An enabled enrolment never expires.
 */
import { PENDING_TOTP_LIFETIME_MS } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { codeAt, DAY, setup } from './support.js'

const EXPIRED = {
  code: 'TOTP_NOT_PENDING',
  message: 'The TOTP key expired, as no code confirmed it within 24 hours: generate a new one',
}

describe('a pending TOTP enrolment', () => {
  it('lives 24 hours', () => {
    expect(PENDING_TOTP_LIFETIME_MS).toBe(DAY)
  })

  it('accepts a right code until the last millisecond of its 24 hours', async () => {
    const { keyward, clock, events } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    clock.advance(PENDING_TOTP_LIFETIME_MS - 1)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    expect(await keyward.totpEnabled('alice')).toBe(true)
    expect(events.filter((event) => event.type === 'totp.enabled')).toHaveLength(1)
  })

  it('refuses a right code from then on as not pending, though the store still holds it, and enables nothing', async () => {
    const { keyward, clock, store, events } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    clock.advance(PENDING_TOTP_LIFETIME_MS)
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject(EXPIRED)
    // No prune has run: the refusal is keyward's, not the store's.
    expect(await store.getTotp('alice')).toMatchObject({ enabled: false })
    expect(await keyward.totpEnabled('alice')).toBe(false)
    // As for an enrolment never generated: no wrong-code event.
    expect(events.filter((event) => event.type === 'auth.failed' || event.type === 'totp.enabled')).toEqual(
      [],
    )
    clock.advance(400 * DAY)
    await expect(keyward.verifyTotp('alice', await codeAt(secret, clock()))).rejects.toMatchObject(EXPIRED)
  })

  it('answers the verify-totp route with the 409 of no pending key, saying it expired', async () => {
    const { keyward, clock } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { secret } = await keyward.generateTotpKey('alice')
    clock.advance(PENDING_TOTP_LIFETIME_MS)
    const reply = await keyward.handle({
      method: 'POST',
      path: '/accounts/verify-totp',
      query: {},
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: Buffer.from(JSON.stringify({ code: await codeAt(secret, clock()) })),
    })
    expect(reply).toMatchObject({
      status: 409,
      body: { error: 'No TOTP key', message: EXPIRED.message },
    })
  })

  it('is replaced by a new one, which has 24 hours of its own', async () => {
    const { keyward, clock } = setup()
    await keyward.generateTotpKey('alice')
    clock.advance(PENDING_TOTP_LIFETIME_MS)
    const { secret } = await keyward.generateTotpKey('alice')
    clock.advance(PENDING_TOTP_LIFETIME_MS - 1)
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    expect(await keyward.totpEnabled('alice')).toBe(true)
  })
})

describe('an enabled TOTP enrolment', () => {
  it('accepts codes however long after its generation', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    for (const later of [PENDING_TOTP_LIFETIME_MS, 400 * DAY]) {
      clock.advance(later)
      await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    }
    expect(await keyward.totpEnabled('alice')).toBe(true)
  })
})
