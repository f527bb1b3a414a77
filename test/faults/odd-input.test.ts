/**
 * A client's odd input is a client's problem on every store: an id that no key can have is
 * answered as "no such key" (null, the route's 404), never as a store error (the route's 503,
 * which reads as an outage). PostgreSQL refuses a NUL in text where memory and Redis store it.
 * And what keyward accepts, every store holds.
 */
import { createKeyward, type KeywardEvent, type KeywardOptions } from '@keyward/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET } from '../contract/support/fixture.js'
import { totpCode } from '../contract/support/totp.js'
import { eachStore, type OpenStore } from '../support/stores.js'

function oddIds(name: string, open: () => Promise<OpenStore>): void {
  describe(`odd ids on ${name}`, () => {
    let opened: OpenStore
    beforeAll(async () => {
      opened = await open()
    })
    afterAll(() => opened.close())
    const engine = (options: Partial<KeywardOptions> = {}) =>
      createKeyward({
        jwtSecret: JWT_SECRET,
        store: opened.store,
        users: { get: (id) => ({ id, permissions: [] }) },
        ...options,
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
        // A name's length counts characters: 128 of 4 bytes (two UTF-16 units each) fit too.
        const keyName = '\u{1f511}'.repeat(128)
        expect((await keyward.issueKey(userId, { name: keyName })).name).toBe(keyName)
      } finally {
        await keyward.close()
      }
    })

    it("refuses a user id no store holds on the host's lookups too: none names another user", async () => {
      const keyward = engine()
      try {
        // The PostgreSQL and Redis drivers send a lone surrogate as U+FFFD: bob\ud800 would be bob\ufffd.
        const victim = 'bob\ufffd'
        const issued = await keyward.issueKey(victim, { name: 'ci' })
        const { secret } = await keyward.generateTotpKey(victim)
        for (const odd of ['bob\ud800', 'a\u0000b', '', 'u'.repeat(513)]) {
          const refused = expect.objectContaining({ code: 'INVALID_INPUT', field: 'userId' })
          await expect(keyward.listKeys(odd)).rejects.toThrow(refused)
          await expect(keyward.deleteKey(odd, { id: issued.id })).rejects.toThrow(refused)
          await expect(keyward.totpEnabled(odd)).rejects.toThrow(refused)
          await expect(keyward.verifyTotp(odd, '123456')).rejects.toThrow(refused)
          await expect(keyward.resetTotp(odd)).rejects.toThrow(refused)
        }
        expect(await keyward.listKeys(victim)).toMatchObject([{ id: issued.id }])
        await keyward.verifyTotp(victim, await totpCode(secret, Date.now()))
        expect(await keyward.totpEnabled(victim)).toBe(true)
      } finally {
        await keyward.close()
      }
    })

    it('counts failures from an address of any length or content, as it counts an IP', async () => {
      const events: KeywardEvent[] = []
      const keyward = engine({
        rateLimit: { perAddress: { max: 2, window: '1m' } },
        onEvent: (event) => void events.push(event),
      })
      try {
        // What a proxy forwards unchecked under the host's `trust proxy`: 4,000 characters
        // overflowed PostgreSQL's index row as a counter's key.
        for (const ip of ['x'.repeat(4000), 'not\u0000an\u00a0address']) {
          for (let attempt = 1; attempt <= 3; attempt++) {
            const answer = keyward.authenticateWithApiKey('kw_not-a-key', { ip })
            await expect(answer).rejects.toThrow(
              expect.objectContaining({ code: attempt <= 2 ? 'MALFORMED' : 'RATE_LIMITED' }),
            )
          }
        }
        expect(events.filter((event) => event.type === 'error')).toEqual([])
      } finally {
        await keyward.close()
      }
    })
  })
}

eachStore(oddIds)
