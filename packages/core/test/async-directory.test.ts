import type { KeywardUser } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

describe('the guard with a host directory', () => {
  it('admits an auth token when the directory answers with a promise, and refuses it once the user is gone', async () => {
    const users = new Map<string, KeywardUser>([['alice', { id: 'alice', permissions: ['agents:read'] }]])
    const { keyward } = setup({ users: { get: async (id) => users.get(id) ?? null } })
    const { auth_token } = await keyward.issueTokens('alice')
    const request = { rawHeaders: ['Authorization', `Bearer ${auth_token}`], socket: {}, ip: '192.0.2.7' }
    expect(await keyward.authenticate(request)).toMatchObject({
      ok: true,
      principal: { userId: 'alice', keyId: null, credential: 'auth_token' },
    })
    users.delete('alice')
    expect(await keyward.authenticate(request)).toEqual({
      ok: false,
      failure: { code: 'USER_GONE', userId: 'alice', credential: 'auth_token' },
    })
    await keyward.close()
  })

  it('authenticate rejects with STORE_UNAVAILABLE when the directory throws for a key in memory', async () => {
    let down = false
    const { keyward } = setup({
      users: {
        get: (id) => {
          if (down) throw new Error('directory down')
          return { id, permissions: [] }
        },
      },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = { rawHeaders: ['X-Api-Key', key], socket: {}, ip: '192.0.2.7' }
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    down = true
    await expect(keyward.authenticate(request)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await keyward.close()
  })
})
