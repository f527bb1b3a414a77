/**
 * A refresh token ends with the API key it came from: from the key's expiresOn on, by the
 * injected clock, the chain is refused as invalid, and stays refused, never taken for reuse.
 */
import type { KeywardEvent } from '@keyward/core'
import { decodeJwt } from 'jose'
import { describe, expect, it } from 'vitest'
import { MINUTE, setup } from './support.js'

const KEY_LIFETIME = 5 * MINUTE

const codesOf = (events: readonly KeywardEvent[]) =>
  events.flatMap((event) => (event.type === 'auth.failed' ? [event.code] : []))

describe('refresh tokens of an expired API key', () => {
  it('refresh until the last millisecond of the key, then are refused as invalid, twice, with no reuse alarm', async () => {
    const { keyward, clock, events } = setup({ keyLifetime: '5m' })
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(issued.key)
    clock.advance(KEY_LIFETIME - 1)
    const newest = await keyward.refreshTokens(pair.refresh_token)
    expect(decodeJwt(newest.auth_token)).toMatchObject({ sub: 'alice', key_id: issued.id })
    clock.advance(1)
    for (let presentation = 0; presentation < 2; presentation++)
      await expect(keyward.refreshTokens(newest.refresh_token)).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
        message: 'The refresh token is invalid or expired. Sign in again',
      })
    // The spent first token of the chain, presented now, is no reuse alarm either: the chain is over.
    await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    expect(codesOf(events)).not.toContain('REFRESH_TOKEN_REUSED')
    expect(events.filter((event) => event.type === 'token.refreshed')).toHaveLength(1)
  })

  it('are refused the same way by an instance that never saw the key (read from the store, not a cache)', async () => {
    const issuer = setup({ keyLifetime: '5m' })
    const cold = setup({ store: issuer.store, clock: issuer.clock, keyLifetime: '5m' })
    const issued = await issuer.keyward.issueKey('alice', { name: 'ci' })
    const pair = await issuer.keyward.authenticateWithApiKey(issued.key)
    issuer.clock.advance(KEY_LIFETIME)
    for (let presentation = 0; presentation < 2; presentation++)
      await expect(cold.keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
        code: 'INVALID_REFRESH_TOKEN',
      })
    expect(codesOf(cold.events)).not.toContain('REFRESH_TOKEN_REUSED')
  })

  it('from an instance that never saw the key, still refresh at its last millisecond', async () => {
    const issuer = setup({ keyLifetime: '5m' })
    const cold = setup({ store: issuer.store, clock: issuer.clock, keyLifetime: '5m' })
    const issued = await issuer.keyward.issueKey('alice', { name: 'ci' })
    const pair = await issuer.keyward.authenticateWithApiKey(issued.key)
    issuer.clock.advance(KEY_LIFETIME - 1)
    const next = await cold.keyward.refreshTokens(pair.refresh_token)
    expect(decodeJwt(next.auth_token)).toMatchObject({ sub: 'alice', key_id: issued.id })
  })
})
