import { randomUUID } from 'node:crypto'
import type { RefreshTokenRecord } from '@keyward/core'
import { expect, it, vi } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { REVOKE_BATCH } from '../src/lua.js'
import { keysUnder, suiteStore } from './support.js'

const DAY = 86_400_000
/** Rotations of one chain within its tokens' lifetime: more than one revocation deletes. */
const ROTATIONS = REVOKE_BATCH + 500

const successor = () => ({
  digest: randomUUID(),
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 30 * DAY),
})

describeWith('REDIS_URL', 'redis store revoking a long rotation chain', (url) => {
  const { client, prefix, store } = suiteStore(url)

  it('deletes at most a batch of its tokens in the script, and every one of them is refused', async () => {
    const first: RefreshTokenRecord = { ...successor(), familyId: randomUUID(), userId: 'hana', keyId: null }
    await store.insertRefreshToken(first)
    const chain = [first.digest]
    for (let rotation = 0; rotation < ROTATIONS; rotation++) {
      const next = successor()
      const rotated = await store.rotateRefreshToken(chain.at(-1) as string, next, new Date())
      expect(rotated.status).toBe('rotated')
      chain.push(next.digest)
    }
    const tokensHeld = async () => (await keysUnder(client, `${prefix}refresh:`)).length
    expect(await tokensHeld()).toBe(ROTATIONS + 1)

    // The first token again: reuse. The script deletes the family's set and a batch of tokens.
    expect((await store.rotateRefreshToken(first.digest, successor(), new Date())).status).toBe('reused')
    expect(await client.exists(`${prefix}family:${first.familyId}`)).toBe(0)
    const left = await tokensHeld()
    expect(left).toBeGreaterThanOrEqual(ROTATIONS - REVOKE_BATCH)
    expect(left).toBeLessThanOrEqual(ROTATIONS + 1 - REVOKE_BATCH)

    // Those left behind expire by their own TTL, and none is found or rotated meanwhile.
    for (const key of await keysUnder(client, `${prefix}refresh:`)) {
      expect(await client.pttl(key)).toBeGreaterThan(0)
    }
    const now = new Date()
    for (const digest of chain) expect(await store.findRefreshToken(digest, now)).toBeNull()
    for (const digest of [chain.at(-1) as string, chain[1] as string]) {
      expect(await store.rotateRefreshToken(digest, successor(), now)).toEqual({ status: 'not_found' })
    }
  })

  it('ends every session of a user who has more than a batch of them, a batch per script', async () => {
    const sessions = Array.from(
      { length: REVOKE_BATCH + 200 },
      (): RefreshTokenRecord => ({
        ...successor(),
        familyId: randomUUID(),
        userId: 'jo',
        keyId: null,
      }),
    )
    for (const session of sessions) await store.insertRefreshToken(session)
    const evalsha = vi.spyOn(client, 'evalsha')
    try {
      await store.revokeUserRefreshTokens('jo')
      // A batch of families, then the 200 left: two scripts, neither holding Redis for all of them.
      expect(evalsha).toHaveBeenCalledTimes(2)
    } finally {
      evalsha.mockRestore()
    }
    expect(await keysUnder(client, `${prefix}family:`)).toEqual([])
    const now = new Date()
    const found = await Promise.all(sessions.map(({ digest }) => store.findRefreshToken(digest, now)))
    expect(found.filter((record) => record !== null)).toEqual([])
  })
})
