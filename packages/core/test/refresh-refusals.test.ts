import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

describe('refresh tokens when the host listens to no events', () => {
  it('refreshes, refuses a wrong or reused token as such, and ends sessions', async () => {
    const { keyward } = setup({ onEvent: undefined })
    const first = await keyward.issueTokens('alice')
    const second = await keyward.refreshTokens(first.refresh_token)
    expect(second.refresh_token).not.toBe(first.refresh_token)
    await expect(keyward.refreshTokens('not a refresh token')).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    await expect(keyward.refreshTokens(first.refresh_token)).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REUSED',
    })
    const third = await keyward.issueTokens('alice')
    await keyward.endSessions('alice')
    await expect(keyward.refreshTokens(third.refresh_token)).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    await keyward.close()
  })
})

describe('a reused refresh token', () => {
  it('tells the client its session was revoked and that it must sign in again', async () => {
    const { keyward } = setup()
    const first = await keyward.issueTokens('alice')
    await keyward.refreshTokens(first.refresh_token)
    await expect(keyward.refreshTokens(first.refresh_token)).rejects.toMatchObject({
      code: 'REFRESH_TOKEN_REUSED',
      message: expect.stringMatching(/already used.*revoked.*[Ss]ign in again/),
    })
    await keyward.close()
  })
})
