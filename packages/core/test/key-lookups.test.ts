import { type ApiKeyRecord, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { instrumentedStore, setup } from './support.js'

describe('finding and deleting keys', () => {
  it('findKey answers null for a record the store returns under another digest (a store that matches loosely)', async () => {
    const base = memoryStore()
    let held: ApiKeyRecord | null = null
    const store = { ...base, findKeyByDigest: async () => held }
    const { keyward } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const other = await keyward.issueKey('bob', { name: 'other' })
    held = (await base.listKeys('alice'))[0] ?? null
    expect(await keyward.findKey(other.key)).toBeNull()
    expect(await keyward.findKey(key)).toMatchObject({ userId: 'alice', name: 'ci' })
    await keyward.close()
  })

  it('findKey answers null for a value that is not a string, from a caller in plain JavaScript', async () => {
    const { keyward } = setup()
    for (const raw of [undefined, null, 42])
      expect(await keyward.findKey(raw as unknown as string)).toBeNull()
    await keyward.close()
  })

  it('answers null for a key id holding NUL without asking the store (PostgreSQL would refuse it: a 503)', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    const { id } = await keyward.issueKey('alice', { name: 'ci' })
    expect(await keyward.deleteKey('alice', { id: `${id}\u0000` })).toBeNull()
    expect(count('deleteKey')).toBe(0)
    expect(await keyward.listKeys('alice')).toHaveLength(1)
    await keyward.close()
  })

  it('verifies and deletes a key when the host listens to no events', async () => {
    const { keyward } = setup({ onEvent: undefined })
    const { id, key } = await keyward.issueKey('alice', { name: 'ci' })
    for (let i = 0; i < 2; i++) {
      expect(await keyward.guard({ rawHeaders: ['X-Api-Key', key], socket: {} })).toMatchObject({ ok: true })
    }
    expect(await keyward.deleteKey('alice', { id })).toMatchObject({ id })
    expect(await keyward.listKeys('alice')).toEqual([])
    await keyward.close()
  })

  it('refuses the auth tokens of a key deleted here without reading the store again', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    const { id, key } = await keyward.issueKey('alice', { name: 'ci' })
    const { auth_token } = await keyward.authenticateWithApiKey(key)
    const request = { rawHeaders: ['Authorization', `Bearer ${auth_token}`], socket: {} }
    expect(await keyward.guard(request)).toMatchObject({ ok: true })
    await keyward.deleteKey('alice', { id })
    const reads = count('findKeyById')
    for (let i = 0; i < 3; i++) {
      expect(await keyward.guard(request)).toMatchObject({ ok: false, response: { status: 401 } })
    }
    expect(count('findKeyById')).toBe(reads)
    await keyward.close()
  })

  it.each([
    ['not a string', 42, /required and must be a string/],
    ['blank', '   ', /1 to 128 characters/],
    ['a control character', 'bad\u0007name', /control characters/],
    ['a lone surrogate', 'bad\ud800name', /lone surrogate/],
  ])('tells the client why a key name that is %s is refused', async (_, name, message) => {
    const { keyward } = setup()
    await expect(keyward.issueKey('alice', { name: name as string })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      field: 'key_name',
      message: expect.stringMatching(message),
    })
    await keyward.close()
  })
})
