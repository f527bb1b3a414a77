/**
 * A session (one refresh family) ends `sessionLifetime` after its first token, however often it
 * is refreshed: its tokens never outlive that end, and from it on the chain is refused as
 * invalid, never as reuse. The family's id is a UUIDv7 dated by the injected clock, so the start
 * travels through every store unchanged.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { KeyStore, KeywardEvent, TokenPair } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { timeOfId, timeOrderedId } from '../src/lib/time-ordered-id.js'
import { DAY, ISSUED_AT, setup } from './support.js'

const digestOf = (refreshToken: string) => createHash('sha256').update(refreshToken).digest('hex')

const stored = async (store: KeyStore, refreshToken: string, now: number) => {
  const record = await store.findRefreshToken(digestOf(refreshToken), new Date(now))
  if (record === null) throw new Error('the store does not hold the token')
  return record
}

const codesOf = (events: readonly KeywardEvent[]) =>
  events.flatMap((event) => (event.type === 'auth.failed' ? [event.code] : []))

/** Refreshes every `every` ms until `until` (ms after ISSUED_AT), returning the newest pair. */
async function refreshUntil(
  context: ReturnType<typeof setup>,
  pair: TokenPair,
  every: number,
  until: number,
): Promise<TokenPair> {
  let newest = pair
  while (context.clock() + every <= ISSUED_AT + until) {
    context.clock.advance(every)
    newest = await context.keyward.refreshTokens(newest.refresh_token)
  }
  return newest
}

describe('sessionLifetime', () => {
  it('caps the newest token at the session end, refreshes until its last millisecond, then refuses the chain as invalid', async () => {
    const context = setup({ refreshTokenLifetime: '30d', sessionLifetime: '90d' })
    const { keyward, clock, store, events } = context
    const first = await keyward.issueTokens('alice')
    const end = ISSUED_AT + 90 * DAY
    expect((await stored(store, first.refresh_token, clock())).expiresOn.getTime()).toBe(ISSUED_AT + 30 * DAY)

    // Day 87: a token made now would live to day 117; it lives to day 90.
    const late = await refreshUntil(context, first, 29 * DAY, 87 * DAY)
    expect(clock()).toBe(ISSUED_AT + 87 * DAY)
    expect((await stored(store, late.refresh_token, clock())).expiresOn.getTime()).toBe(end)

    clock.set(end - 1)
    const last = await keyward.refreshTokens(late.refresh_token)
    expect((await stored(store, last.refresh_token, clock())).expiresOn.getTime()).toBe(end)
    clock.set(end)
    for (let presentation = 0; presentation < 2; presentation++)
      await expect(keyward.refreshTokens(last.refresh_token)).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
        message: 'The refresh token is invalid or expired. Sign in again',
      })
    expect(codesOf(events)).toEqual(['INVALID_REFRESH_TOKEN', 'INVALID_REFRESH_TOKEN'])
    // A new sign-in starts a new session of its own.
    const again = await keyward.issueTokens('alice')
    clock.advance(89 * DAY)
    await expect(keyward.refreshTokens(again.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('bounds sessions exchanged from an API key too, by default at one year', async () => {
    const context = setup({ keyLifetime: '5y' })
    const issued = await context.keyward.issueKey('alice', { name: 'ci' })
    const first = await context.keyward.authenticateWithApiKey(issued.key)
    const end = Date.parse('2027-11-22T10:00:00.000Z')
    const late = await refreshUntil(context, first, 29 * DAY, end - 1 - ISSUED_AT)
    expect(end - context.clock()).toBeLessThan(29 * DAY)
    expect((await stored(context.store, late.refresh_token, context.clock())).expiresOn.getTime()).toBe(end)
    context.clock.set(end)
    await expect(context.keyward.refreshTokens(late.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('is unbounded with false: a session refreshed every 29 days lives on for two years', async () => {
    const context = setup({ sessionLifetime: false })
    const first = await context.keyward.issueTokens('alice')
    const newest = await refreshUntil(context, first, 29 * DAY, 730 * DAY)
    const record = await stored(context.store, newest.refresh_token, context.clock())
    expect(record.expiresOn.getTime()).toBe(context.clock() + 30 * DAY)
    context.clock.advance(29 * DAY)
    await expect(context.keyward.refreshTokens(newest.refresh_token)).resolves.toMatchObject({
      refresh_token: expect.stringMatching(/^rt_/),
    })
  })

  it('takes a shortened lifetime at once: a token made under a longer one is refused past the new end', async () => {
    const before = setup({ sessionLifetime: false })
    const after = setup({ store: before.store, clock: before.clock, sessionLifetime: '10d' })
    const first = await before.keyward.issueTokens('alice')
    before.clock.advance(9 * DAY)
    const made = await before.keyward.refreshTokens(first.refresh_token)
    before.clock.advance(DAY)
    // The store still holds it (made to live 30 days), and it is refused all the same.
    expect((await stored(before.store, made.refresh_token, before.clock())).expiresOn.getTime()).toBe(
      ISSUED_AT + 39 * DAY,
    )
    await expect(after.keyward.refreshTokens(made.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    expect(codesOf(after.events)).toEqual(['INVALID_REFRESH_TOKEN'])
    // Refused, not spent: it is no reuse alarm when presented again.
    await expect(after.keyward.refreshTokens(made.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    expect(codesOf(after.events)).toEqual(['INVALID_REFRESH_TOKEN', 'INVALID_REFRESH_TOKEN'])
  })

  it('takes a family named before families were dated (a UUIDv4) to have begun on 2026-12-02', async () => {
    const context = setup({ sessionLifetime: '10d' })
    const raw = `rt_${'A'.repeat(43)}`
    await context.store.insertRefreshToken({
      digest: digestOf(raw),
      familyId: randomUUID(),
      userId: 'alice',
      keyId: null,
      createdOn: new Date(ISSUED_AT),
      expiresOn: new Date(ISSUED_AT + 30 * DAY),
    })
    const end = Date.parse('2026-12-12T00:00:00.000Z')
    context.clock.set(end - 1)
    const next = await context.keyward.refreshTokens(raw)
    expect((await stored(context.store, next.refresh_token, context.clock())).expiresOn.getTime()).toBe(end)
    context.clock.set(end)
    await expect(context.keyward.refreshTokens(next.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
  })

  it('names each family with a UUIDv7 dated by the clock', async () => {
    const context = setup()
    const pair = await context.keyward.issueTokens('alice')
    const { familyId } = await stored(context.store, pair.refresh_token, context.clock())
    expect(familyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(timeOfId(familyId)).toBe(ISSUED_AT)
    for (const ms of [0, 1, ISSUED_AT, 2 ** 48 - 1]) expect(timeOfId(timeOrderedId(ms))).toBe(ms)
    expect(timeOfId(timeOrderedId(ISSUED_AT + 0.75))).toBe(ISSUED_AT)
    for (const broken of [-1, 2 ** 48, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => timeOrderedId(broken)).toThrow(
        expect.objectContaining({ name: 'RangeError', message: expect.stringContaining('clock') }),
      )
    expect(new Set(Array.from({ length: 100 }, () => timeOrderedId(ISSUED_AT))).size).toBe(100)
    expect(timeOfId(randomUUID())).toBeUndefined()
    expect(timeOfId('not-an-id')).toBeUndefined()
  })
})
