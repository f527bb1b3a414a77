/**
 * The TOTP wrong-code limits under concurrency: an attempt is counted before its code is checked,
 * so a burst of requests sent at once gets no more codes checked than the same requests sent one
 * by one. "Checked" is what the caller sees as INVALID_TOTP_CODE; a refusal is RATE_LIMITED.
 */
import { type CounterHit, type KeyStore, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { burst, codeAt, instrumentedStore, MINUTE, setup, wrongCodes } from './support.js'

const BURST = 50

/** A keyward whose user alice has a TOTP key pending, and her verify call. */
async function enrolled(overrides: Parameters<typeof setup>[0]) {
  const fixture = setup(overrides)
  const { secret } = await fixture.keyward.generateTotpKey('alice')
  const verify = (code: string) => fixture.keyward.verifyTotp('alice', code)
  return { ...fixture, secret, verify }
}

describe('TOTP wrong-code limit under concurrent requests', () => {
  it(`checks at most totp.max codes of ${BURST} sent at once, then one per delay, doubling`, async () => {
    const { clock, events, store, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 5, baseDelay: '30s' } },
    })

    const first = await burst(verify, await wrongCodes(secret, clock(), BURST))
    expect(first.tally).toEqual({ INVALID_TOTP_CODE: 5, RATE_LIMITED: BURST - 5 })
    expect(first.retryAfter).toEqual(new Set([30]))
    expect(events.filter((event) => event.type === 'auth.failed')).toHaveLength(5)
    // Locked, even for the right code.
    await expect(verify(await codeAt(secret, clock()))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter: 30,
    })

    clock.advance(30_000)
    const second = await burst(verify, await wrongCodes(secret, clock(), BURST))
    expect(second.tally).toEqual({ INVALID_TOTP_CODE: 1, RATE_LIMITED: BURST - 1 })
    expect(second.retryAfter).toEqual(new Set([60]))

    clock.advance(60_000)
    await verify(await codeAt(secret, clock()))
    expect((await store.getTotp('alice'))?.enabled).toBe(true)
  })

  it('still accepts a right code sent as the last attempt within the limit', async () => {
    const { clock, store, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 5, baseDelay: '30s' } },
    })
    const wrong = await burst(verify, await wrongCodes(secret, clock(), 4))
    expect(wrong.tally).toEqual({ INVALID_TOTP_CODE: 4 })
    await verify(await codeAt(secret, clock()))
    expect((await store.getTotp('alice'))?.enabled).toBe(true)
    // Success clears the count and the lock its attempt opened: the full allowance is back.
    clock.advance(30_000)
    const after = await burst(verify, await wrongCodes(secret, clock(), BURST))
    expect(after.tally).toEqual({ INVALID_TOTP_CODE: 5, RATE_LIMITED: BURST - 5 })
  })

  it('a success within a lock window it opened leaves no lock behind', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1, baseDelay: '30s' } } })
    // With max 1 the first attempt opens the lock window; it is right, so the window is cleared.
    await verify(await codeAt(secret, clock()))
    clock.advance(30_000)
    await expect(verify((await wrongCodes(secret, clock(), 1))[0] as string)).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
    await expect(verify(await codeAt(secret, clock()))).rejects.toMatchObject({ code: 'RATE_LIMITED' })
  })

  it(`locks the account after perAccount.max attempts, however many of ${BURST} arrive at once`, async () => {
    const { clock, events, store, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 1000 }, perAccount: { max: 10, lockout: '15m' } },
    })
    const result = await burst(verify, await wrongCodes(secret, clock(), BURST))
    expect(result.tally).toEqual({ INVALID_TOTP_CODE: 10, RATE_LIMITED: BURST - 10 })
    expect(result.retryAfter).toEqual(new Set([900]))
    expect(events.filter((event) => event.type === 'auth.failed')).toHaveLength(10)
    // The account's count, which the tests of a limit switched off expect to find missing.
    expect(await store.peekCounter('account:alice', new Date(clock()))).not.toBeNull()
  })

  it('locks the account after 100 attempts for 15 minutes by default', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1000 } } })
    const result = await burst(verify, await wrongCodes(secret, clock(), 110))
    expect(result.tally).toEqual({ INVALID_TOTP_CODE: 100, RATE_LIMITED: 10 })
    expect(result.retryAfter).toEqual(new Set([900]))
  })

  it('never locks the account with perAccount false, nor counts for it', async () => {
    const { clock, store, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 1000 }, perAccount: false },
    })
    const result = await burst(verify, await wrongCodes(secret, clock(), 110))
    expect(result.tally).toEqual({ INVALID_TOTP_CODE: 110 })
    expect(await store.peekCounter('account:alice', new Date(clock()))).toBeNull()
  })

  it('still limits wrong codes with rateLimit false, by the TOTP limit alone: no account count', async () => {
    const { clock, store, secret, verify } = await enrolled({ rateLimit: false })
    const result = await burst(verify, await wrongCodes(secret, clock(), 10))
    expect(result.tally).toEqual({ INVALID_TOTP_CODE: 5, RATE_LIMITED: 5 })
    expect(await store.peekCounter('account:alice', new Date(clock()))).toBeNull()
  })

  it('counts consecutive failures across days: the account lock is not escaped by waiting a day', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1000 } } })
    // Enabled, as a login's second factor is: a pending enrolment expires within the day.
    await verify(await codeAt(secret, clock()))
    expect((await burst(verify, await wrongCodes(secret, clock(), 99))).tally).toEqual({
      INVALID_TOTP_CODE: 99,
    })
    clock.advance(25 * 60 * MINUTE)
    const [last, locked] = await wrongCodes(secret, clock(), 2)
    await expect(verify(last as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    await expect(verify(locked as string)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfter: 900 })
  })

  it('keeps the delays after a day without a right code: waiting a day buys no fresh allowance', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 5, baseDelay: '30s' } } })
    // Enabled, as a login's second factor is: a pending enrolment expires within the day.
    await verify(await codeAt(secret, clock()))
    expect((await burst(verify, await wrongCodes(secret, clock(), 5))).tally).toEqual({
      INVALID_TOTP_CODE: 5,
    })
    clock.advance(25 * 60 * MINUTE)
    const [opening, refused] = await wrongCodes(secret, clock(), 2)
    await expect(verify(opening as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    await expect(verify(refused as string)).rejects.toMatchObject({ code: 'RATE_LIMITED' })
  })

  it('refuses attempts while locked without counting them towards the account lock', async () => {
    const { clock, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 2, baseDelay: '30s' }, perAccount: { max: 4, lockout: '15m' } },
    })
    // Two checked, many refused: the account counter saw only the two.
    expect((await burst(verify, await wrongCodes(secret, clock(), BURST))).tally).toEqual({
      INVALID_TOTP_CODE: 2,
      RATE_LIMITED: BURST - 2,
    })
    clock.advance(30_000)
    expect((await burst(verify, await wrongCodes(secret, clock(), BURST))).tally).toEqual({
      INVALID_TOTP_CODE: 1,
      RATE_LIMITED: BURST - 1,
    })
    clock.advance(60_000)
    await verify(await codeAt(secret, clock()))
  })

  it('answers every attempt during an account lock with the account lock’s Retry-After', async () => {
    const { clock, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 3, baseDelay: '30s' }, perAccount: { max: 2, lockout: '15m' } },
    })
    const codes = await wrongCodes(secret, clock(), 8)
    for (const code of codes.slice(0, 2))
      await expect(verify(code)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    for (const code of codes.slice(2))
      await expect(verify(code)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfter: 900 })
  })

  it.each([
    ['the TOTP lock', { totp: { max: 1, baseDelay: '30s' } }],
    ['the account lock', { totp: { max: 1000 }, perAccount: { max: 1, lockout: '15m' } }],
  ] as const)(
    'refuses an attempt during %s from its counters alone: no TOTP key read, nothing counted',
    async (_lock, rateLimit) => {
      const { store, calls } = instrumentedStore()
      const { clock, secret, verify } = await enrolled({ store, rateLimit })
      const [opening, refused] = await wrongCodes(secret, clock(), 2)
      calls.length = 0
      await expect(verify(opening as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
      // The attempt that opened the lock read the key and was counted.
      expect(calls).toEqual(expect.arrayContaining(['getTotp', 'incrementCounter']))
      calls.length = 0
      await expect(verify(refused as string)).rejects.toMatchObject({ code: 'RATE_LIMITED' })
      expect(calls.filter((call) => call !== 'peekCounter')).toEqual([])
    },
  )

  it('starts the account count again after a right code', async () => {
    const { clock, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 1000 }, perAccount: { max: 3, lockout: '15m' } },
    })
    const codes = await wrongCodes(secret, clock(), 5)
    for (const code of codes.slice(0, 2))
      await expect(verify(code)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    await verify(await codeAt(secret, clock()))
    for (const code of codes.slice(2))
      await expect(verify(code)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
  })

  it('doubles the lock with each window: 30 s, 60 s, 120 s', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1, baseDelay: '30s' } } })
    for (const seconds of [30, 60, 120]) {
      const [opening, refused] = await wrongCodes(secret, clock(), 2)
      await expect(verify(opening as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
      await expect(verify(refused as string)).rejects.toMatchObject({
        code: 'RATE_LIMITED',
        retryAfter: seconds,
      })
      clock.advance(seconds * 1000)
    }
  })

  it('starts the doubling again after a right code: the next lock is the base delay', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1, baseDelay: '30s' } } })
    const lockAfterWrongCode = async () => {
      const [opening, refused] = await wrongCodes(secret, clock(), 2)
      await expect(verify(opening as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
      const error = await verify(refused as string).catch((refusal: unknown) => refusal)
      return (error as { retryAfter?: number }).retryAfter
    }
    expect(await lockAfterWrongCode()).toBe(30)
    clock.advance(30_000)
    expect(await lockAfterWrongCode()).toBe(60)
    clock.advance(60_000)
    await verify(await codeAt(secret, clock()))
    clock.advance(30_000)
    expect(await lockAfterWrongCode()).toBe(30)
  })

  it("locks each user's codes alone: another user's lock refuses none of his", async () => {
    const { keyward, clock, secret, verify } = await enrolled({
      rateLimit: { totp: { max: 1, baseDelay: '30s' } },
    })
    const bob = await keyward.generateTotpKey('bob')
    const [opening, refused] = await wrongCodes(secret, clock(), 2)
    await expect(verify(opening as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    await expect(verify(refused as string)).rejects.toMatchObject({ code: 'RATE_LIMITED' })
    const [bobsWrong] = await wrongCodes(bob.secret, clock(), 1)
    await expect(keyward.verifyTotp('bob', bobsWrong as string)).rejects.toMatchObject({
      code: 'INVALID_TOTP_CODE',
    })
  })

  it('never locks for longer than a day, however the delay doubles', async () => {
    const { clock, secret, verify } = await enrolled({ rateLimit: { totp: { max: 1, baseDelay: '13h' } } })
    const [first] = await wrongCodes(secret, clock(), 1)
    await expect(verify(first as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    clock.advance(13 * 3_600_000)
    const [second, third] = await wrongCodes(secret, clock(), 2)
    await expect(verify(second as string)).rejects.toMatchObject({ code: 'INVALID_TOTP_CODE' })
    // The next delay would be 26 hours: it is a day.
    await expect(verify(third as string)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfter: 86_400 })
  })

  it('accepts a right code whose counts the store cannot reset, reporting each failed reset, and reports nothing when all reset', async () => {
    const base = memoryStore()
    let refusing: (bucket: string) => boolean = () => false
    const store: KeyStore = {
      ...base,
      resetCounter: (bucket) =>
        refusing(bucket) ? Promise.reject(new Error(`cannot reset ${bucket}`)) : base.resetCounter(bucket),
    }
    const { clock, events, secret, verify } = await enrolled({ store })
    const errors = () => events.filter((event) => event.type === 'error')
    await verify(await codeAt(secret, clock()))
    expect(errors()).toEqual([])

    refusing = (bucket) => bucket === 'totp-fail:alice'
    clock.advance(30_000)
    await verify(await codeAt(secret, clock()))
    expect(errors()).toEqual([
      {
        type: 'error',
        at: expect.any(Date),
        during: 'rate-limit',
        code: 'STORE_UNAVAILABLE',
        error: new Error('cannot reset totp-fail:alice'),
      },
    ])

    refusing = () => true
    clock.advance(30_000)
    await verify(await codeAt(secret, clock()))
    const [, all] = errors()
    expect(all).toMatchObject({ during: 'rate-limit', code: 'STORE_UNAVAILABLE' })
    const error = (all as { error: AggregateError }).error
    expect(error).toBeInstanceOf(AggregateError)
    expect(error.message).toBe('keyward: 5 TOTP counts were not reset')
    expect(error.errors.map((reason: Error) => reason.message)).toEqual(
      ['totp-fail', 'totp-locks', 'totp-lock', 'account', 'account-lock'].map(
        (bucket) => `cannot reset ${bucket}:alice`,
      ),
    )
  })

  it('fails closed when the store answers counters malformed: no code is checked until they are right', async () => {
    // A count as a string (a Redis client answering integers as strings) never equals 1: past the
    // limit no lock window opened, and every code was refused for good.
    const base = memoryStore()
    let malformed = false
    const store: KeyStore = {
      ...base,
      incrementCounter: async (...args) => {
        const hit = await base.incrementCounter(...args)
        return malformed ? ({ ...hit, count: String(hit.count) } as unknown as CounterHit) : hit
      },
    }
    const { clock, secret, verify } = await enrolled({ store })
    malformed = true
    const result = await burst(verify, [
      await codeAt(secret, clock()),
      ...(await wrongCodes(secret, clock(), 9)),
    ])
    expect(result.tally).toEqual({ STORE_UNAVAILABLE: 10 })
    malformed = false
    clock.advance(30_000)
    await verify(await codeAt(secret, clock()))
    expect((await store.getTotp('alice'))?.enabled).toBe(true)
  })

  it('fails closed when the store peeks a lock malformed, and the cause names peekCounter', async () => {
    const base = memoryStore()
    const store: KeyStore = {
      ...base,
      peekCounter: async () => ({ count: '1', resetAt: new Date(Number.NaN) }) as unknown as CounterHit,
    }
    const { clock, secret, verify } = await enrolled({ store })
    const refusal = await verify(await codeAt(secret, clock())).catch((error: unknown) => error)
    expect(refusal).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      cause: {
        message: "keyward: the store's peekCounter answered a counter whose count or resetAt is malformed",
      },
    })
    expect((await store.getTotp('alice'))?.enabled).toBe(false)
  })

  it('fails closed when the store cannot count: no code is checked', async () => {
    const base = memoryStore()
    let down = false
    const store: KeyStore = {
      ...base,
      incrementCounter: (...args) =>
        down ? Promise.reject(new Error('connect ECONNREFUSED')) : base.incrementCounter(...args),
    }
    const { clock, events, secret, verify } = await enrolled({ store })
    down = true
    const result = await burst(verify, [
      await codeAt(secret, clock()),
      ...(await wrongCodes(secret, clock(), 9)),
    ])
    expect(result.tally).toEqual({ STORE_UNAVAILABLE: 10 })
    expect(events.filter((event) => event.type === 'auth.failed' || event.type === 'totp.enabled')).toEqual(
      [],
    )
    expect((await store.getTotp('alice'))?.enabled).toBe(false)
  })
})
