/**
 * What the backing storage keeps, read through `dump`: pruning removes expired keys, expired
 * refresh tokens and ended counters but nothing live or spent and no enabled TOTP enrolment
 * (pending ones are totp.ts's case), and no key, refresh token or TOTP secret is held in
 * plaintext after a full keyward session.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createKeyward } from '../keyward.js'
import { DAY, next, pendingTotp, refreshRecord, sampleKeyRecord, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describePruning(suite: ConformanceSuite): void {
  describe('pruning', () => {
    /** Keys, tokens and counters on both sides of `now`, a day ahead of the real time (so a store pruning by its own clock would keep the dead), pruned at `now`. */
    async function prunedAtNow(pruneExpired: (now: Date) => Promise<void>) {
      const now = new Date(Date.now() + DAY)
      const userId = uniqueUser()
      const live = refreshRecord(userId, { expiresOn: new Date(now.getTime() + 1) })
      const spent = refreshRecord(userId)
      const dead = refreshRecord(userId, { expiresOn: now })
      for (const token of [live, spent, dead]) await suite.store.insertRefreshToken(token)
      await suite.store.rotateRefreshToken(spent.digest, next(), new Date())
      const ended = `test:ended:${randomUUID()}`
      const running = `test:running:${randomUUID()}`
      await suite.store.incrementCounter(ended, 1000, new Date(now.getTime() - 1000))
      // Asked at a time before they end, the dead token and the ended counter are found: asked
      // before any write at `now`, as a store may drop what a write's time has expired (memory's sweep).
      const beforeNow = new Date(now.getTime() - 1)
      expect(await suite.store.findRefreshToken(dead.digest, beforeNow)).toEqual(dead)
      expect((await suite.store.peekCounter(ended, beforeNow))?.count).toBe(1)
      await suite.store.incrementCounter(running, 60_000, now)
      const liveKey = sampleKeyRecord(userId, { expiresOn: new Date(now.getTime() + 1) })
      const deadKey = sampleKeyRecord(userId, { expiresOn: now })
      for (const key of [liveKey, deadKey]) await suite.store.insertKey(key)
      // An enabled enrolment never expires, however old: its user's second factor.
      const pending = pendingTotp(userId, 'v1.enrolled', new Date(now.getTime() - 400 * DAY))
      await suite.store.putPendingTotp(pending)
      await suite.store.acceptTotpStep(userId, pending.sealedSecret, 1)
      const enrolment = { ...pending, enabled: true, lastStep: 1 }
      await pruneExpired.call(suite.store, now)
      return { now, beforeNow, live, spent, dead, ended, running, liveKey, deadKey, enrolment }
    }

    it('keeps everything live or spent and every enabled TOTP enrolment, and drops expired keys, refresh tokens and counters (stores that prune)', async (context) => {
      const { pruneExpired } = suite.store
      if (!pruneExpired) return context.skip('the store does not prune: its records expire by themselves')
      const { now, beforeNow, live, spent, dead, ended, running, liveKey, deadKey, enrolment } =
        await prunedAtNow(pruneExpired)
      // Deleted, not only past their end: the same lookups find them no more.
      expect(await suite.store.findRefreshToken(dead.digest, beforeNow)).toBeNull()
      expect(await suite.store.peekCounter(ended, beforeNow)).toBeNull()
      expect(await suite.store.getTotp(enrolment.userId)).toEqual(enrolment)
      expect(await suite.store.findKeyById(liveKey.id)).toEqual(liveKey)
      expect(await suite.store.findKeyByDigest(deadKey.digest)).toBeNull()
      expect(await suite.store.findKeyById(deadKey.id)).toBeNull()
      expect(await suite.store.listKeys(liveKey.userId)).toEqual([liveKey])
      expect((await suite.store.peekCounter(running, now))?.count).toBe(1)
      expect((await suite.store.rotateRefreshToken(live.digest, next(), now)).status).toBe('rotated')
      // A spent token is kept until it expires, or presenting it again would go unnoticed.
      expect((await suite.store.rotateRefreshToken(spent.digest, next(), now)).status).toBe('reused')
    })

    it('deletes expired keys, expired refresh tokens and ended counters (stores that prune, read through dump)', async (context) => {
      const { pruneExpired } = suite.store
      if (!pruneExpired || !suite.subject.dump)
        return context.skip('the store does not prune, or the suite has no dump')
      const { dead, ended, running, deadKey, liveKey } = await prunedAtNow(pruneExpired)
      const stored = await suite.subject.dump()
      expect(stored).not.toContain(deadKey.id)
      expect(stored).toContain(liveKey.id)
      expect(stored).not.toContain(dead.digest)
      expect(stored).not.toContain(ended)
      expect(stored).toContain(running)
    })
  })
}

export function describeSecretsAtRest(suite: ConformanceSuite): void {
  describe('secrets at rest', () => {
    it('holds no key, refresh token or TOTP secret in plaintext after a full keyward session', async (context) => {
      if (!suite.subject.dump) return context.skip('the suite was given no dump of the storage to read')
      const userId = uniqueUser()
      const keyward = createKeyward({
        jwtSecret: 'conformance-secret-conformance-secret-0123456789',
        store: suite.store,
        users: { get: (id) => ({ id, permissions: [] }) },
        rateLimit: false,
      })
      const issued = await keyward.issueKey(userId, { name: 'plaintext probe' })
      const pair = await keyward.authenticateWithApiKey(issued.key)
      const rotated = await keyward.refreshTokens(pair.refresh_token)
      const enrollment = await keyward.generateTotpKey(userId)
      await keyward.close()
      const dump = await suite.subject.dump()
      expect(dump).toContain(issued.id)
      for (const secret of [
        issued.key,
        issued.key.slice(3),
        pair.refresh_token,
        rotated.refresh_token,
        enrollment.secret,
      ]) {
        expect(dump).not.toContain(secret)
      }
    })
  })
}
