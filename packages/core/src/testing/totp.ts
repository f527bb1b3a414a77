/**
 * TOTP enrolment: a pending secret is replaced but an enabled one never is, each step is accepted
 * once, only after the last one and only for the secret it was checked against, even under
 * simultaneous attempts (an accepted step may store the secret sealed again), exactly one accepted
 * step says it enabled the enrolment, deletion is per user and resets an enabled enrolment, and
 * pruning deletes a pending enrolment once its lifetime is over, never an enabled one.
 */
import { describe, expect, it } from 'vitest'
import { PENDING_TOTP_LIFETIME_MS } from '../totp/pending.js'
import { DAY, pendingTotp, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describeTotp(suite: ConformanceSuite): void {
  describe('TOTP', () => {
    const SEALED = 'v1.sealed'

    it('stores a pending secret, replaces a pending one (its time included), and never an enabled one', async () => {
      const userId = uniqueUser()
      // The replacement starts its own lifetime: one that kept the first's would be refused or pruned early.
      const restarted = new Date('2026-11-22T00:05:00.000Z')
      expect(await suite.store.getTotp(userId)).toBeNull()
      expect(await suite.store.putPendingTotp(pendingTotp(userId, 'v1.first'))).toBe(true)
      expect(await suite.store.putPendingTotp(pendingTotp(userId, 'v1.second', restarted))).toBe(true)
      expect(await suite.store.getTotp(userId)).toEqual(pendingTotp(userId, 'v1.second', restarted))
      expect(await suite.store.acceptTotpStep(userId, 'v1.second', 100)).toBe('enabled')
      expect(await suite.store.putPendingTotp(pendingTotp(userId, 'v1.third'))).toBe(false)
      expect(await suite.store.getTotp(userId)).toMatchObject({
        sealedSecret: 'v1.second',
        enabled: true,
        lastStep: 100,
      })
    })

    it('accepts only steps later than the last accepted one', async () => {
      const userId = uniqueUser()
      expect(await suite.store.acceptTotpStep(userId, SEALED, 1)).toBe('refused')
      await suite.store.putPendingTotp(pendingTotp(userId))
      expect(await suite.store.acceptTotpStep(userId, SEALED, 10)).toBe('enabled')
      expect(await suite.store.acceptTotpStep(userId, SEALED, 10)).toBe('refused')
      expect(await suite.store.acceptTotpStep(userId, SEALED, 9)).toBe('refused')
      expect(await suite.store.acceptTotpStep(userId, SEALED, 11)).toBe('accepted')
    })

    it('takes step 0 as a step like any other: no step accepted yet is not step 0', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId))
      expect(await suite.store.acceptTotpStep(userId, SEALED, 0)).toBe('enabled')
      expect(await suite.store.getTotp(userId)).toMatchObject({ enabled: true, lastStep: 0 })
      // Read back as no step, it would be accepted again: a replay.
      expect(await suite.store.acceptTotpStep(userId, SEALED, 0)).toBe('refused')
    })

    it('accepts a step only for the secret it was checked against, not one that replaced it', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId, 'v1.first'))
      await suite.store.putPendingTotp(pendingTotp(userId, 'v1.second'))
      expect(await suite.store.acceptTotpStep(userId, 'v1.first', 42)).toBe('refused')
      expect(await suite.store.getTotp(userId)).toEqual(pendingTotp(userId, 'v1.second'))
      expect(await suite.store.acceptTotpStep(userId, 'v1.second', 42)).toBe('enabled')
    })

    it('stores the secret sealed again in the same write as an accepted step, and only then', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId, 'v1.old'))
      expect(await suite.store.acceptTotpStep(userId, 'v1.old', 10, 'v1.resealed')).toBe('enabled')
      expect(await suite.store.getTotp(userId)).toMatchObject({
        sealedSecret: 'v1.resealed',
        enabled: true,
        lastStep: 10,
      })
      // Refused steps write nothing: a spent step, and a secret no longer stored.
      expect(await suite.store.acceptTotpStep(userId, 'v1.resealed', 10, 'v1.spent')).toBe('refused')
      expect(await suite.store.acceptTotpStep(userId, 'v1.old', 11, 'v1.replaced')).toBe('refused')
      expect(await suite.store.getTotp(userId)).toMatchObject({ sealedSecret: 'v1.resealed', lastStep: 10 })
      // Without one, the secret stays as it is.
      expect(await suite.store.acceptTotpStep(userId, 'v1.resealed', 11)).toBe('accepted')
      expect(await suite.store.getTotp(userId)).toMatchObject({ sealedSecret: 'v1.resealed', lastStep: 11 })
      // For a user with no enrolment, nothing is accepted and nothing made.
      const stranger = uniqueUser()
      expect(await suite.store.acceptTotpStep(stranger, 'v1.old', 12, 'v1.resealed')).toBe('refused')
      expect(await suite.store.getTotp(stranger)).toBeNull()
    })

    it('accepts one step once under simultaneous attempts', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId))
      const results = await Promise.all(
        Array.from({ length: 20 }, () => suite.store.acceptTotpStep(userId, SEALED, 42)),
      )
      expect(results.filter((result) => result !== 'refused')).toEqual(['enabled'])
    })

    it('says of simultaneous later steps for a pending enrolment that exactly one enabled it', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId))
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => suite.store.acceptTotpStep(userId, SEALED, 100 + i)),
      )
      expect(results.filter((result) => result === 'enabled')).toHaveLength(1)
      expect(await suite.store.getTotp(userId)).toMatchObject({ enabled: true })
    })

    it('deletes an enabled enrolment (a host-driven reset), after which a new secret can be stored', async () => {
      const userId = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId, 'v1.first'))
      expect(await suite.store.acceptTotpStep(userId, 'v1.first', 100)).toBe('enabled')
      await suite.store.deleteTotp(userId)
      expect(await suite.store.getTotp(userId)).toBeNull()
      expect(await suite.store.putPendingTotp(pendingTotp(userId, 'v1.second'))).toBe(true)
      expect(await suite.store.getTotp(userId)).toEqual(pendingTotp(userId, 'v1.second'))
    })

    it('prunes a pending enrolment its lifetime old, never a younger one or an enabled one (stores that prune)', async (context) => {
      const { pruneExpired } = suite.store
      if (!pruneExpired)
        return context.skip('the store does not prune: a pending enrolment expires by itself (its own tests)')
      // A day ahead of the real time, so a store pruning by its own clock would keep the expired one.
      const now = new Date(Date.now() + DAY)
      const lifetimeAgo = new Date(now.getTime() - PENDING_TOTP_LIFETIME_MS)
      const expired = pendingTotp(uniqueUser(), 'v1.expired', lifetimeAgo)
      const younger = pendingTotp(uniqueUser(), 'v1.younger', new Date(lifetimeAgo.getTime() + 1))
      const enabled = pendingTotp(uniqueUser(), 'v1.enabled', lifetimeAgo)
      for (const record of [expired, younger, enabled]) await suite.store.putPendingTotp(record)
      expect(await suite.store.acceptTotpStep(enabled.userId, enabled.sealedSecret, 1)).toBe('enabled')
      await pruneExpired.call(suite.store, now)
      expect(await suite.store.getTotp(expired.userId)).toBeNull()
      expect(await suite.store.getTotp(younger.userId)).toEqual(younger)
      expect(await suite.store.getTotp(enabled.userId)).toEqual({ ...enabled, enabled: true, lastStep: 1 })
    })

    it("deletes a user's enrolment and no one else's", async () => {
      const userId = uniqueUser()
      const other = uniqueUser()
      await suite.store.putPendingTotp(pendingTotp(userId))
      await suite.store.putPendingTotp(pendingTotp(other))
      await suite.store.deleteTotp(userId)
      expect(await suite.store.getTotp(userId)).toBeNull()
      expect(await suite.store.getTotp(other)).toEqual(pendingTotp(other))
    })
  })
}
