/**
 * A client's odd input is a client's problem on every store: an id that no key can have is
 * answered as "no such key" (null, the route's 404), never as a store error (the route's 503,
 * which reads as an outage). PostgreSQL refuses a NUL in text where memory and Redis store it.
 * And what keyward accepts, every store holds.
 */
import { createKeyward } from '@keyward/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET } from '../contract/support/fixture.js'
import { eachStore, type OpenStore } from '../support/stores.js'

function oddIds(name: string, open: () => Promise<OpenStore>): void {
  describe(`odd ids on ${name}`, () => {
    let opened: OpenStore
    beforeAll(async () => {
      opened = await open()
    })
    afterAll(() => opened.close())
    const engine = () =>
      createKeyward({
        jwtSecret: JWT_SECRET,
        store: opened.store,
        users: { get: (id) => ({ id, permissions: [] }) },
      })

    it('deletes nothing for an id holding a NUL, and says so with null', async () => {
      const keyward = engine()
      try {
        const issued = await keyward.issueKey('alice', { name: 'ci' })
        for (const id of ['\u0000', `${issued.id}\u0000`, `a\u0000b`]) {
          await expect(keyward.deleteKey('alice', { id })).resolves.toBeNull()
        }
        expect((await keyward.verifyKey(issued.key)).ok).toBe(true)
        expect((await keyward.deleteKey('alice', { id: issued.id }))?.id).toBe(issued.id)
      } finally {
        await keyward.close()
      }
    })

    it('holds the longest user id and name keyward accepts, in 3-byte characters', async () => {
      const keyward = engine()
      try {
        const userId = '\u20ac'.repeat(512)
        const name = '\u20ac'.repeat(128)
        const issued = await keyward.issueKey(userId, { name })
        await keyward.issueTokens(userId)
        await keyward.generateTotpKey(userId)
        expect(await keyward.listKeys(userId)).toMatchObject([{ id: issued.id, name, userId }])
        expect((await keyward.verifyKey(issued.key)).ok).toBe(true)
      } finally {
        await keyward.close()
      }
    })
  })
}

eachStore(oddIds)
