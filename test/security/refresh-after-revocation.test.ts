/**
 * A refresh token whose key was deleted, or whose user is gone, is spent and its family ended on
 * every store: presented again, it is invalid as the first time, never a reuse alarm, and nothing
 * of its family refreshes. Redis takes the very same rotation twice as one (a resent command), so
 * keyward must end the family with a rotation of its own.
 */
import { createKeyward, type KeywardEvent, type KeywardUser } from '@keyward/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET } from '../contract/support/fixture.js'
import { eachStore, type OpenStore } from '../support/stores.js'

function refreshAfterRevocation(name: string, open: () => Promise<OpenStore>): void {
  describe(`refresh tokens after revocation on ${name}`, () => {
    let opened: OpenStore
    beforeAll(async () => {
      opened = await open()
    })
    afterAll(() => opened.close())

    const engine = () => {
      const users = new Map<string, KeywardUser>([['alice', { id: 'alice', permissions: [] }]])
      const events: KeywardEvent[] = []
      const keyward = createKeyward({
        jwtSecret: JWT_SECRET,
        store: opened.store,
        users: { get: (id) => users.get(id) ?? null },
        rateLimit: false,
        onEvent: (event) => events.push(event),
      })
      return { keyward, users, events }
    }

    it('answers a deleted key’s refresh token as invalid each time, with no reuse alarm', async () => {
      const { keyward, events } = engine()
      try {
        const issued = await keyward.issueKey('alice', { name: 'ci' })
        const pair = await keyward.authenticateWithApiKey(issued.key)
        await keyward.deleteKey('alice', { id: issued.id })
        for (let attempt = 0; attempt < 3; attempt++) {
          await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
            code: 'INVALID_REFRESH_TOKEN',
          })
        }
        expect(
          events.filter((event) => event.type === 'auth.failed' && event.code !== 'INVALID_REFRESH_TOKEN'),
        ).toEqual([])
      } finally {
        await keyward.close()
      }
    })

    it('answers a gone user’s refresh token as invalid each time, even once the user is back', async () => {
      const { keyward, users, events } = engine()
      try {
        const pair = await keyward.issueTokens('alice')
        const alice = users.get('alice') as KeywardUser
        users.delete('alice')
        await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
          code: 'INVALID_REFRESH_TOKEN',
        })
        users.set('alice', alice)
        await expect(keyward.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
          code: 'INVALID_REFRESH_TOKEN',
        })
        expect(
          events.filter((event) => event.type === 'auth.failed' && event.code !== 'INVALID_REFRESH_TOKEN'),
        ).toEqual([])
      } finally {
        await keyward.close()
      }
    })
  })
}

eachStore(refreshAfterRevocation)
