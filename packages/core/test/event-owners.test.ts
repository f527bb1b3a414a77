/**
 * What an operator's audit log can tell from the events alone: who a refused credential belonged
 * to, where keyward knows it, and when a session starts and a second factor is removed.
 */
import { type KeywardEvent, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { DAY, setup } from './support.js'

const IP = '198.51.100.7'
const failures = (events: KeywardEvent[]) => events.filter((event) => event.type === 'auth.failed')

describe('auth.failed names the owner of a credential keyward knows', () => {
  it('an expired key, through the guard and through the exchange', async () => {
    const { keyward, clock, events } = setup({ keyLifetime: '1d' })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    clock.advance(DAY)
    const guarded = await keyward.guard({ headers: { 'x-api-key': key }, ip: IP })
    await expect(keyward.authenticateWithApiKey(key, { ip: IP })).rejects.toMatchObject({ code: 'EXPIRED' })
    expect(failures(events)).toEqual([
      { type: 'auth.failed', at: new Date(clock()), code: 'EXPIRED', ip: IP, userId: 'alice', keyId: id },
      { type: 'auth.failed', at: new Date(clock()), code: 'EXPIRED', ip: IP, userId: 'alice', keyId: id },
    ])
    // The owner is for the operator, never for the client.
    expect(JSON.stringify(guarded)).not.toContain('alice')
    expect(JSON.stringify(guarded)).not.toContain(id)
  })

  it('a key whose user is gone', async () => {
    const { keyward, users, events } = setup()
    const { key, id } = await keyward.issueKey('bob', { name: 'ci' })
    users.delete('bob')
    await keyward.guard({ headers: { 'x-api-key': key }, ip: IP })
    expect(failures(events)).toMatchObject([{ code: 'USER_GONE', ip: IP, userId: 'bob', keyId: id }])
  })

  it('an auth token whose user is gone, and one whose key was deleted', async () => {
    const { keyward, users, events } = setup()
    const bobs = await keyward.issueKey('bob', { name: 'ci' })
    const bobsToken = (await keyward.authenticateWithApiKey(bobs.key)).auth_token
    const alices = await keyward.issueKey('alice', { name: 'ci' })
    const alicesToken = (await keyward.authenticateWithApiKey(alices.key)).auth_token
    const hostsToken = (await keyward.issueTokens('bob')).auth_token
    users.delete('bob')
    await keyward.deleteKey('alice', { id: alices.id })
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` }, ip: IP })
    const answers = [
      await keyward.guard(bearer(bobsToken)),
      await keyward.guard(bearer(alicesToken)),
      await keyward.guard(bearer(hostsToken)),
    ]
    expect(failures(events)).toEqual([
      { type: 'auth.failed', at: expect.any(Date), code: 'USER_GONE', ip: IP, userId: 'bob', keyId: bobs.id },
      {
        type: 'auth.failed',
        at: expect.any(Date),
        code: 'INVALID_TOKEN',
        ip: IP,
        userId: 'alice',
        keyId: alices.id,
      },
      // The host's own login has no key behind it.
      { type: 'auth.failed', at: expect.any(Date), code: 'USER_GONE', ip: IP, userId: 'bob' },
    ])
    for (const answer of answers) expect(answer).toMatchObject({ ok: false, response: { status: 401 } })
  })

  it('names no one for a key or token it cannot place', async () => {
    const { keyward, events } = setup()
    await keyward.guard({ headers: { 'x-api-key': 'ms-0123456789abcdef0123456789abcdef' }, ip: IP })
    await keyward.guard({ headers: { 'x-api-key': 'not-a-key' }, ip: IP })
    await keyward.guard({ headers: { authorization: 'Bearer aaa.bbb.ccc' }, ip: IP })
    expect(failures(events).map((event) => [event.code, 'userId' in event, 'keyId' in event])).toEqual([
      ['NOT_FOUND', false, false],
      ['MALFORMED', false, false],
      ['INVALID_TOKEN', false, false],
    ])
  })
})

describe('what is not an auth.failed event', () => {
  it('no credential, a malformed header, a 403 and a 429: nothing was checked, or the address already counts', async () => {
    const { keyward, events } = setup({ rateLimit: { perAddress: { max: 1, window: '1m' } } })
    const { key } = await keyward.issueKey('bob', { name: 'ci' })
    const answers = [
      await keyward.guard({ headers: {}, ip: IP }),
      await keyward.guard({ headers: { 'x-api-key': '' }, ip: IP }),
      await keyward.guard({ headers: { authorization: 'Bearer' }, ip: IP }),
      await keyward.guard({ headers: { 'x-api-key': key }, ip: IP }, { permissions: ['agents:read'] }),
    ]
    expect(answers.map((answer) => !answer.ok && answer.response.status)).toEqual([401, 400, 400, 403])
    expect(failures(events)).toEqual([])
    await keyward.guard({ headers: { 'x-api-key': 'ms-0123456789abcdef0123456789abcdef' }, ip: IP })
    const limited = await keyward.guard({ headers: { 'x-api-key': key }, ip: IP })
    expect(!limited.ok && limited.response.status).toBe(429)
    expect(failures(events).map((event) => event.code)).toEqual(['NOT_FOUND'])
  })
})

describe('a session starting is an event', () => {
  it('token.issued for the API-key exchange (with its key) and for the host login (with none)', async () => {
    const { keyward, clock, events } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(key)
    clock.advance(1000)
    const hosts = await keyward.issueTokens('bob')
    expect(events.filter((event) => event.type === 'token.issued')).toEqual([
      { type: 'token.issued', at: new Date(clock() - 1000), userId: 'alice', keyId: id },
      { type: 'token.issued', at: new Date(clock()), userId: 'bob', keyId: null },
    ])
    const text = JSON.stringify(events)
    for (const secret of [key, pair.auth_token, pair.refresh_token, hosts.auth_token, hosts.refresh_token])
      expect(text).not.toContain(secret)
  })

  it('none when the refresh token could not be stored', async () => {
    const base = memoryStore()
    const store = {
      ...base,
      insertRefreshToken: () => Promise.reject(new Error('connection reset')),
    }
    const { keyward, events } = setup({ store })
    await expect(keyward.issueTokens('alice')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(events.filter((event) => event.type === 'token.issued')).toEqual([])
  })
})

describe('removing a second factor is an event', () => {
  it('totp.reset once the store has removed the enrolment', async () => {
    const { keyward, clock, events } = setup()
    await keyward.generateTotpKey('alice')
    await keyward.resetTotp('alice')
    expect(events.filter((event) => event.type === 'totp.reset')).toEqual([
      { type: 'totp.reset', at: new Date(clock()), userId: 'alice' },
    ])
  })

  it('none when the store could not remove it', async () => {
    const base = memoryStore()
    const store = { ...base, deleteTotp: () => Promise.reject(new Error('connection reset')) }
    const { keyward, events } = setup({ store })
    await expect(keyward.resetTotp('alice')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(events.filter((event) => event.type === 'totp.reset')).toEqual([])
  })
})
