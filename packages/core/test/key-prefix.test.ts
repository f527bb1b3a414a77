import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

/** Keys issued under `from`, then an instance on the same store whose keyPrefix is `to`. */
async function prefixChanged(previousKeyPrefixes?: string[], from = 'ms-', to = 'acme_') {
  const before = setup({ keyPrefix: from })
  const old = await before.keyward.issueKey('alice', { name: 'before the change' })
  const after = setup({ store: before.store, keyPrefix: to, previousKeyPrefixes })
  return { old, ...after }
}

describe('a changed keyPrefix', () => {
  it.each([
    ['a longer', 'ms-', 'acme_'],
    ['a shorter', 'acme_live_', 'ms-'],
  ])(
    'keeps the keys of a previous prefix working (%s one now): verified, by either header, found and deleted by the key',
    async (_change, from, to) => {
      const { old, keyward } = await prefixChanged([from], from, to)
      expect(await keyward.verifyKey(old.key)).toMatchObject({ ok: true, principal: { keyId: old.id } })
      for (const headers of [{ 'x-api-key': old.key }, { authorization: `Bearer ${old.key}` }])
        expect(await keyward.authenticate({ headers })).toMatchObject({ ok: true })
      expect(await keyward.authenticateWithApiKey(old.key)).toHaveProperty('auth_token')
      expect(await keyward.findKey(old.key)).toMatchObject({ id: old.id, userId: 'alice' })
      expect(await keyward.deleteKey('alice', { key: old.key })).toMatchObject({ id: old.id })
      expect(await keyward.verifyKey(old.key)).toEqual({ ok: false, code: 'NOT_FOUND' })
    },
  )

  it('issues new keys with the current prefix alone', async () => {
    const { keyward } = await prefixChanged(['ms-'])
    const issued = await keyward.issueKey('alice', { name: 'after the change' })
    expect(issued.key).toMatch(/^acme_[0-9a-f]{32}$/)
    expect(issued.preview).toBe(`acme_…${issued.key.slice(-4)}`)
    expect((await keyward.verifyKey(issued.key)).ok).toBe(true)
  })

  it('takes a previous prefix only with 32 hex characters after it, as the current one', async () => {
    const { old, keyward } = await prefixChanged(['ms-'])
    for (const raw of [
      `${old.key}0`,
      old.key.slice(0, -1),
      `${old.key.slice(0, -1)}Z`,
      `xx-${old.key.slice(3)}`,
    ])
      expect(await keyward.verifyKey(raw)).toEqual({ ok: false, code: 'MALFORMED' })
  })

  it('refuses the keys of a prefix no longer listed as malformed, and finds none of them', async () => {
    const { old, keyward } = await prefixChanged()
    expect(await keyward.verifyKey(old.key)).toEqual({ ok: false, code: 'MALFORMED' })
    expect(await keyward.findKey(old.key)).toBeNull()
    expect(await keyward.deleteKey('alice', { key: old.key })).toBeNull()
  })
})
