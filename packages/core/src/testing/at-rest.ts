/**
 * What the backing storage keeps, read through `dump`: pruning removes expired refresh tokens and
 * ended counters but nothing live or spent, and no key, refresh token or TOTP secret is held in
 * plaintext after a full keyward session.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createKeyward } from '../keyward.js'
import { DAY, next, refreshRecord, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describePruning(suite: ConformanceSuite): void {
  describe('pruning', () => {
    it('deletes expired refresh tokens and ended counters, and nothing live or spent (stores that prune)', async () => {
      if (!suite.store.pruneExpired) return expect(suite.store.pruneExpired).toBeUndefined()
      // A day ahead of the real time, so a store pruning by its own clock would keep the dead.
      const now = new Date(Date.now() + DAY)
      const userId = uniqueUser()
      const live = refreshRecord(userId, { expiresOn: new Date(now.getTime() + 1) })
      const spent = refreshRecord(userId)
      const dead = refreshRecord(userId, { expiresOn: now })
      await suite.store.insertRefreshToken(live)
      await suite.store.insertRefreshToken(spent)
      await suite.store.insertRefreshToken(dead)
      await suite.store.rotateRefreshToken(spent.digest, next(), new Date())
      const ended = `test:ended:${randomUUID()}`
      const running = `test:running:${randomUUID()}`
      await suite.store.incrementCounter(ended, 1000, new Date(now.getTime() - 1000))
      await suite.store.incrementCounter(running, 60_000, now)
      await suite.store.pruneExpired(now)
      expect((await suite.store.peekCounter(running, now))?.count).toBe(1)
      expect((await suite.store.rotateRefreshToken(live.digest, next(), now)).status).toBe('rotated')
      // A spent token is kept until it expires, or presenting it again would go unnoticed.
      expect((await suite.store.rotateRefreshToken(spent.digest, next(), now)).status).toBe('reused')
      if (suite.subject.dump) {
        const dump = await suite.subject.dump()
        expect(dump).not.toContain(dead.digest)
        expect(dump).not.toContain(ended)
        expect(dump).toContain(running)
      }
    })
  })
}

export function describeSecretsAtRest(suite: ConformanceSuite): void {
  describe('secrets at rest', () => {
    it('holds no key, refresh token or TOTP secret in plaintext after a full keyward session', async () => {
      if (!suite.subject.dump) return expect(suite.subject.dump).toBeUndefined()
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
