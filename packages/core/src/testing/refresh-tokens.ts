/**
 * Refresh tokens: rotation within a family, reuse revoking the family, expiry judged by the given
 * time, and races between instances (one winner; no successor outliving a revocation).
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../lib/secrets.js'
import { DAY, next, refreshRecord, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describeRefreshTokens(suite: ConformanceSuite): void {
  const { parallel, peer } = suite

  describe('refresh tokens', () => {
    it('rotates a live token once; the successor inherits family, user and key, with its own digest and dates', async () => {
      const first = refreshRecord(uniqueUser(), { keyId: randomUUID() })
      await suite.store.insertRefreshToken(first)
      // Dates unlike the first token's, so a successor that kept them would show; handed in with
      // another token's family, user and key beside them, which the store must not take.
      const successor = next(Date.now() + 60_000)
      const carrying = { ...refreshRecord(uniqueUser(), { keyId: randomUUID() }), ...successor }
      const rotated = await suite.store.rotateRefreshToken(first.digest, carrying, new Date())
      expect(rotated).toEqual({ status: 'rotated', previous: first })
      const again = await suite.store.rotateRefreshToken(successor.digest, next(), new Date())
      expect(again).toEqual({ status: 'rotated', previous: { ...first, ...successor } })
    })

    it("treats a spent token as reuse and revokes its whole family, and none of the user's other families", async () => {
      const userId = uniqueUser()
      const first = refreshRecord(userId)
      const otherSession = refreshRecord(userId)
      await suite.store.insertRefreshToken(first)
      await suite.store.insertRefreshToken(otherSession)
      const second = next()
      await suite.store.rotateRefreshToken(first.digest, second, new Date())
      const reuse = await suite.store.rotateRefreshToken(first.digest, next(), new Date())
      expect(reuse).toEqual({ status: 'reused', previous: first })
      expect((await suite.store.rotateRefreshToken(second.digest, next(), new Date())).status).not.toBe(
        'rotated',
      )
      // Revoked with its family: presented again, it is unknown, not a second reuse alarm.
      expect(await suite.store.rotateRefreshToken(first.digest, next(), new Date())).toEqual({
        status: 'not_found',
      })
      expect((await suite.store.rotateRefreshToken(otherSession.digest, next(), new Date())).status).toBe(
        'rotated',
      )
    })

    it('on reuse of the first of a chain of three, revokes the newest too, not only the direct successor', async () => {
      const first = refreshRecord(uniqueUser())
      await suite.store.insertRefreshToken(first)
      const second = next()
      const third = next()
      await suite.store.rotateRefreshToken(first.digest, second, new Date())
      await suite.store.rotateRefreshToken(second.digest, third, new Date())
      expect(await suite.store.rotateRefreshToken(first.digest, next(), new Date())).toEqual({
        status: 'reused',
        previous: first,
      })
      // Two rotations down the chain, the newest token went with its family.
      expect(await suite.store.findRefreshToken(third.digest, new Date())).toBeNull()
      expect(await suite.store.rotateRefreshToken(third.digest, next(), new Date())).toEqual({
        status: 'not_found',
      })
      expect(await suite.store.rotateRefreshToken(second.digest, next(), new Date())).toEqual({
        status: 'not_found',
      })
    })

    it('does not rotate unknown or expired tokens', async () => {
      const expired = refreshRecord(uniqueUser(), { expiresOn: new Date(Date.now() - 1000) })
      await suite.store.insertRefreshToken(expired)
      expect(await suite.store.rotateRefreshToken(expired.digest, next(), new Date())).toEqual({
        status: 'not_found',
      })
      expect(await suite.store.rotateRefreshToken(sha256Hex('unknown'), next(), new Date())).toEqual({
        status: 'not_found',
      })
    })

    it("judges expiry by the given time, not the store's clock: from its expiresOn on, a token is expired, spent or not", async () => {
      const userId = uniqueUser()
      const expiresOn = new Date(Date.now() + DAY)
      const unspent = refreshRecord(userId, { expiresOn })
      const spent = refreshRecord(userId, { expiresOn })
      await suite.store.insertRefreshToken(unspent)
      await suite.store.insertRefreshToken(spent)
      const justBefore = new Date(expiresOn.getTime() - 1)
      expect((await suite.store.rotateRefreshToken(spent.digest, next(), justBefore)).status).toBe('rotated')
      expect(await suite.store.rotateRefreshToken(unspent.digest, next(), expiresOn)).toEqual({
        status: 'not_found',
      })
      expect(await suite.store.rotateRefreshToken(spent.digest, next(), expiresOn)).toEqual({
        status: 'not_found',
      })
    })

    it('leaves the family alone when a spent token is presented after it expired', async () => {
      const first = refreshRecord(uniqueUser(), { expiresOn: new Date(Date.now() + DAY) })
      await suite.store.insertRefreshToken(first)
      const successor = next()
      await suite.store.rotateRefreshToken(first.digest, successor, new Date())
      const afterFirstExpired = new Date(first.expiresOn.getTime() + 1)
      expect(await suite.store.rotateRefreshToken(first.digest, next(), afterFirstExpired)).toEqual({
        status: 'not_found',
      })
      expect((await suite.store.rotateRefreshToken(successor.digest, next(), afterFirstExpired)).status).toBe(
        'rotated',
      )
    })

    it("keeps a successor made to live less than a second (a session's last) until its expiresOn", async () => {
      // keyward caps a successor at its session's end; a store that counts lifetimes in whole
      // seconds would have none left to give it. 999 ms is the most that is still under a
      // second, the widest margin for a store that expires records on its own clock.
      const lifetime = 999
      for (let attempt = 1; ; attempt++) {
        const first = refreshRecord(uniqueUser())
        await suite.store.insertRefreshToken(first)
        const at = Date.now()
        const last = {
          digest: sha256Hex(randomUUID()),
          createdOn: new Date(at),
          expiresOn: new Date(at + lifetime),
        }
        const started = performance.now()
        expect(await suite.store.rotateRefreshToken(first.digest, last, new Date(at))).toEqual({
          status: 'rotated',
          previous: first,
        })
        const found = await suite.store.findRefreshToken(last.digest, new Date(at))
        // Gone after a stall as long as its whole life proves nothing (its store's clock may have
        // expired it), so the case runs again; a whole-second store loses it at once, every time.
        if (found === null && performance.now() - started >= lifetime && attempt < 3) continue
        expect(found).toEqual({ ...first, ...last })
        expect(await suite.store.findRefreshToken(last.digest, new Date(at + lifetime))).toBeNull()
        return
      }
    })

    it('finds a token by digest, spent or not, until its expiresOn (by the given time) or its family is revoked', async () => {
      const { store } = suite
      const expiresOn = new Date(Date.now() + DAY)
      const first = refreshRecord(uniqueUser(), { keyId: randomUUID(), expiresOn })
      await store.insertRefreshToken(first)
      expect(await store.findRefreshToken(first.digest, new Date())).toEqual(first)
      const successor = next(Date.now() + 60_000)
      await store.rotateRefreshToken(first.digest, successor, new Date())
      expect(await store.findRefreshToken(first.digest, new Date())).toEqual(first)
      expect(await store.findRefreshToken(successor.digest, new Date())).toEqual({ ...first, ...successor })
      expect(await store.findRefreshToken(first.digest, new Date(expiresOn.getTime() - 1))).toEqual(first)
      expect(await store.findRefreshToken(first.digest, expiresOn)).toBeNull()
      expect(await store.findRefreshToken(sha256Hex('unknown'), new Date())).toBeNull()
      // A read only: the token found is still rotated as before (spent: reuse), and then gone.
      expect((await store.rotateRefreshToken(first.digest, next(), new Date())).status).toBe('reused')
      expect(await store.findRefreshToken(first.digest, new Date())).toBeNull()
      expect(await store.findRefreshToken(successor.digest, new Date())).toBeNull()
    })

    it('lets exactly one of many simultaneous redemptions of one token succeed, across instances, and the losers revoke the family', async () => {
      const token = refreshRecord(uniqueUser())
      await suite.store.insertRefreshToken(token)
      const other = await peer()
      const redemptions = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const successor = next()
          const result = await (i % 2 === 0 ? suite.store : other).rotateRefreshToken(
            token.digest,
            successor,
            new Date(),
          )
          return { successor, result }
        }),
      )
      const winners = redemptions.filter(({ result }) => result.status === 'rotated')
      expect(winners).toHaveLength(1)
      // A loser finds the token spent: that is reuse, and revokes the family. The first loser to
      // find it answers reused (later ones may find the family gone: not_found); a store whose
      // losers all answer not_found has left the winner's successor alive.
      const losers = redemptions.map(({ result }) => result).filter(({ status }) => status !== 'rotated')
      expect(losers).toContainEqual({ status: 'reused', previous: token })
      for (const { successor } of winners) {
        expect(await suite.store.findRefreshToken(successor.digest, new Date())).toBeNull()
        expect(await other.rotateRefreshToken(successor.digest, next(), new Date())).toEqual({
          status: 'not_found',
        })
      }
    })

    it('leaves no successor alive when reuse revokes a family that another instance is rotating', async () => {
      // The thief rotated first and rotates again while the owner presents the spent token:
      // whichever commits first, the thief's newest token must not outlive the revocation.
      // Timing is not forced, so a store that gets this wrong fails often rather than always.
      const other = await peer()
      const outcomes: string[] = []
      for (let i = 0; i < Math.max(1, Math.min(50, Math.ceil(parallel / 4))); i++) {
        const first = refreshRecord(uniqueUser())
        await suite.store.insertRefreshToken(first)
        const stolen = next()
        await other.rotateRefreshToken(first.digest, stolen, new Date())
        const minted = next()
        const [reuse] = await Promise.all([
          suite.store.rotateRefreshToken(first.digest, next(), new Date()),
          other.rotateRefreshToken(stolen.digest, minted, new Date()),
        ])
        const after = await other.rotateRefreshToken(minted.digest, next(), new Date())
        outcomes.push(`reuse ${reuse.status}, successor ${after.status === 'rotated' ? 'alive' : 'revoked'}`)
      }
      expect(outcomes.filter((outcome) => outcome !== 'reuse reused, successor revoked')).toEqual([])
    })
  })

  describe("revoking a user's refresh tokens (ending the user's sessions)", () => {
    it("revokes every family of the user, spent tokens and live ones, and no other user's", async () => {
      const { store } = suite
      const userId = uniqueUser()
      const first = refreshRecord(userId, { keyId: randomUUID() })
      const hostLogin = refreshRecord(userId)
      const someoneElse = refreshRecord(uniqueUser())
      for (const record of [first, hostLogin, someoneElse]) await store.insertRefreshToken(record)
      const successor = next()
      await store.rotateRefreshToken(first.digest, successor, new Date())

      await store.revokeUserRefreshTokens(userId)
      for (const digest of [first.digest, successor.digest, hostLogin.digest]) {
        expect(await store.findRefreshToken(digest, new Date())).toBeNull()
        // Gone, not spent: presenting one is no reuse alarm.
        expect(await store.rotateRefreshToken(digest, next(), new Date())).toEqual({ status: 'not_found' })
      }
      expect((await store.rotateRefreshToken(someoneElse.digest, next(), new Date())).status).toBe('rotated')
    })

    it('leaves the sessions the user starts afterwards, and answers for a user with none', async () => {
      const userId = uniqueUser()
      await suite.store.revokeUserRefreshTokens(userId)
      await suite.store.insertRefreshToken(refreshRecord(userId))
      await suite.store.revokeUserRefreshTokens(userId)
      const later = refreshRecord(userId)
      await suite.store.insertRefreshToken(later)
      const successor = next()
      expect((await suite.store.rotateRefreshToken(later.digest, successor, new Date())).status).toBe(
        'rotated',
      )
      expect(await suite.store.findRefreshToken(successor.digest, new Date())).toEqual({
        ...later,
        ...successor,
      })
    })

    it('revokes every one of a user with many sessions, each rotated', async () => {
      const userId = uniqueUser()
      const live: string[] = []
      for (let i = 0; i < 30; i++) {
        const record = refreshRecord(userId)
        await suite.store.insertRefreshToken(record)
        const successor = next()
        await suite.store.rotateRefreshToken(record.digest, successor, new Date())
        live.push(successor.digest)
      }
      await (await peer()).revokeUserRefreshTokens(userId)
      const found = await Promise.all(live.map((digest) => suite.store.findRefreshToken(digest, new Date())))
      expect(found.filter((record) => record !== null)).toEqual([])
    })

    it('leaves no successor alive when another instance rotates a token of the user meanwhile', async () => {
      // Whichever comes first, a successor the rotation stored must not outlive the revocation.
      // Timing is not forced, so a store that gets this wrong fails often rather than always.
      const other = await peer()
      const survivors: string[] = []
      for (let i = 0; i < Math.max(1, Math.min(50, Math.ceil(parallel / 4))); i++) {
        const userId = uniqueUser()
        const first = refreshRecord(userId)
        await suite.store.insertRefreshToken(first)
        const successor = next()
        const [rotation] = await Promise.all([
          other.rotateRefreshToken(first.digest, successor, new Date()),
          suite.store.revokeUserRefreshTokens(userId),
        ])
        const after = await other.rotateRefreshToken(successor.digest, next(), new Date())
        if (after.status !== 'not_found')
          survivors.push(`rotation ${rotation.status}, successor ${after.status}`)
      }
      expect(survivors).toEqual([])
    })
  })
}
