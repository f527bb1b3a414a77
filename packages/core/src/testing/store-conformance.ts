import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward } from '../keyward.js'
import { sha256Hex } from '../lib/secrets.js'
import type { ApiKeyRecord, KeyStore, RefreshTokenRecord, StoreEvent } from '../store/types.js'

export interface StoreUnderTest {
  readonly store: KeyStore
  /**
   * Everything the backing store holds, as text (rows, values), so the suite can prove that
   * no key, token or TOTP secret is stored in plaintext. Omit it only if the store has no
   * way to be read directly.
   */
  dump?(): Promise<string>
  /** A second handle on the same backing store, as another instance would have (for cross-instance events). */
  peer?(): Promise<KeyStore>
  teardown?(): Promise<void>
}

export interface StoreConformanceOptions {
  /** Shown in the suite's title. */
  readonly name: string
  /** Builds a store over fresh, empty storage. Called once for the suite. */
  setup(): Promise<StoreUnderTest>
  /** Parallel operations in the concurrency tests. Default 200. */
  readonly concurrency?: number
  /**
   * The store deletes a key record once its `expiresOn` has passed (on its own clock), so
   * `listKeys` cannot include expired keys. keyward filters expired keys itself, so this is
   * allowed; the suite then checks that an expired key is really gone.
   */
  readonly dropsExpiredKeys?: boolean
}

const DAY = 86_400_000
let sequence = 0
const uniqueUser = () => `user-${randomUUID()}`

/** A well-formed key record (random id and digest) for a store's own tests. */
export function sampleKeyRecord(userId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  sequence += 1
  const secret = `${randomUUID()}${sequence}`
  return {
    id: randomUUID(),
    userId,
    name: `key ${sequence}`,
    digest: sha256Hex(secret),
    preview: `ms-…${String(sequence).padStart(4, '0').slice(-4)}`,
    createdOn: new Date(Date.UTC(2026, 10, 22, 12, 0, 0) + sequence),
    expiresOn: new Date(Date.UTC(2027, 1, 22, 12, 0, 0)),
    lastUsedOn: null,
    ...overrides,
  }
}

function refreshRecord(userId: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    digest: sha256Hex(randomUUID()),
    familyId: randomUUID(),
    userId,
    keyId: null,
    createdOn: new Date(),
    expiresOn: new Date(Date.now() + 30 * DAY),
    ...overrides,
  }
}

const next = (at = Date.now()) => ({
  digest: sha256Hex(randomUUID()),
  createdOn: new Date(at),
  expiresOn: new Date(at + 30 * DAY),
})

/**
 * The KeyStore contract as a vitest suite. Any store, including a third party's, runs it with:
 *
 *   runStoreConformance({ name: 'my store', setup: async () => ({ store: myStore(), dump }) })
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const parallel = options.concurrency ?? 200

  describe(`KeyStore conformance: ${options.name}`, () => {
    let subject: StoreUnderTest
    let store: KeyStore
    let peerStore: Promise<KeyStore> | undefined
    /** The second instance, made once; the store itself when the setup gives none. */
    const peer = () => {
      peerStore ??= subject.peer ? subject.peer() : Promise.resolve(store)
      return peerStore
    }

    beforeAll(async () => {
      subject = await options.setup()
      store = subject.store
    })
    afterAll(async () => {
      await subject?.teardown?.()
    })

    describe('keys', () => {
      it('stores a key and finds it by digest and by id, with every field intact', async () => {
        const record = sampleKeyRecord(uniqueUser(), { lastUsedOn: new Date('2026-11-30T08:00:00.000Z') })
        await store.insertKey(record)
        expect(await store.findKeyByDigest(record.digest)).toEqual(record)
        expect(await store.findKeyById(record.id)).toEqual(record)
      })

      it('answers null for an unknown digest or id', async () => {
        expect(await store.findKeyByDigest(sha256Hex('nothing'))).toBeNull()
        expect(await store.findKeyById(randomUUID())).toBeNull()
      })

      it('refuses a second record with the same digest or the same id', async () => {
        const userId = uniqueUser()
        const record = sampleKeyRecord(userId)
        await store.insertKey(record)
        await expect(store.insertKey({ ...record, id: randomUUID() })).rejects.toThrow()
        await expect(store.insertKey({ ...sampleKeyRecord(userId), id: record.id })).rejects.toThrow()
        expect(await store.listKeys(userId)).toEqual([record])
      })

      it(`lists only the user's keys, oldest first, expired ones ${
        options.dropsExpiredKeys ? 'gone' : 'included'
      }`, async () => {
        const userId = uniqueUser()
        const oldest = sampleKeyRecord(userId, { createdOn: new Date('2026-01-01T00:00:00Z') })
        const expired = sampleKeyRecord(userId, {
          createdOn: new Date('2026-01-15T00:00:00Z'),
          expiresOn: new Date(Date.now() - DAY),
        })
        const newest = sampleKeyRecord(userId, { createdOn: new Date('2026-02-01T00:00:00Z') })
        await store.insertKey(newest)
        await store.insertKey(oldest)
        await store.insertKey(expired)
        await store.insertKey(sampleKeyRecord(uniqueUser()))
        const listed = (await store.listKeys(userId)).map((record) => record.id)
        if (options.dropsExpiredKeys) {
          expect(listed).toEqual([oldest.id, newest.id])
          expect(await store.findKeyByDigest(expired.digest)).toBeNull()
          expect(await store.findKeyById(expired.id)).toBeNull()
        } else {
          expect(listed).toEqual([oldest.id, expired.id, newest.id])
        }
        expect(await store.listKeys(uniqueUser())).toEqual([])
      })

      it('deletes by id and by digest, only for the owner, and returns the deleted record', async () => {
        const userId = uniqueUser()
        const byId = sampleKeyRecord(userId)
        const byDigest = sampleKeyRecord(userId)
        await store.insertKey(byId)
        await store.insertKey(byDigest)
        expect(await store.deleteKey(uniqueUser(), { id: byId.id })).toBeNull()
        expect(await store.deleteKey(uniqueUser(), { digest: byDigest.digest })).toBeNull()
        expect(await store.deleteKey(userId, { id: byId.id })).toEqual(byId)
        expect(await store.deleteKey(userId, { digest: byDigest.digest })).toEqual(byDigest)
        expect(await store.findKeyById(byId.id)).toBeNull()
        expect(await store.findKeyByDigest(byDigest.digest)).toBeNull()
        expect(await store.deleteKey(userId, { id: byId.id })).toBeNull()
      })

      it('records last use in batches, never moving it backwards, ignoring unknown ids', async () => {
        const userId = uniqueUser()
        const record = sampleKeyRecord(userId)
        const other = sampleKeyRecord(userId)
        await store.insertKey(record)
        await store.insertKey(other)
        const later = new Date('2026-12-01T10:00:00.000Z')
        const earlier = new Date('2026-11-30T10:00:00.000Z')
        // An unknown id first, and one key twice in a batch, its later time first.
        await store.recordKeyUsage([
          { id: randomUUID(), lastUsedOn: later },
          { id: record.id, lastUsedOn: later },
          { id: other.id, lastUsedOn: earlier },
          { id: record.id, lastUsedOn: earlier },
        ])
        await store.recordKeyUsage([{ id: record.id, lastUsedOn: earlier }])
        expect((await store.findKeyById(record.id))?.lastUsedOn).toEqual(later)
        expect((await store.findKeyById(other.id))?.lastUsedOn).toEqual(earlier)
        await store.recordKeyUsage([])
      })

      it(`issues and deletes ${parallel} keys in parallel without losing or duplicating one`, async () => {
        const userId = uniqueUser()
        const records = Array.from({ length: parallel }, () => sampleKeyRecord(userId))
        await Promise.all(records.map((record) => store.insertKey(record)))
        expect(new Set((await store.listKeys(userId)).map((record) => record.id))).toEqual(
          new Set(records.map((r) => r.id)),
        )
        const doomed = records.slice(0, parallel / 2)
        // Each key is deleted twice at once: exactly one of the two deletions may win.
        const results = await Promise.all(
          doomed.flatMap((record) => [
            store.deleteKey(userId, { id: record.id }),
            store.deleteKey(userId, { digest: record.digest }),
          ]),
        )
        expect(results.filter((result) => result !== null)).toHaveLength(doomed.length)
        const left = await store.listKeys(userId)
        expect(left.map((record) => record.id).sort()).toEqual(
          records
            .slice(parallel / 2)
            .map((r) => r.id)
            .sort(),
        )
      })
    })

    describe('refresh tokens', () => {
      it('rotates a live token once; the successor inherits family, user and key, with its own digest and dates', async () => {
        const first = refreshRecord(uniqueUser(), { keyId: randomUUID() })
        await store.insertRefreshToken(first)
        // Dates unlike the first token's, so a successor that kept them would show.
        const successor = next(Date.now() + 60_000)
        const rotated = await store.rotateRefreshToken(first.digest, successor, new Date())
        expect(rotated).toEqual({ status: 'rotated', previous: first })
        const again = await store.rotateRefreshToken(successor.digest, next(), new Date())
        expect(again).toEqual({ status: 'rotated', previous: { ...first, ...successor } })
      })

      it("treats a spent token as reuse and revokes its whole family, and none of the user's other families", async () => {
        const userId = uniqueUser()
        const first = refreshRecord(userId)
        const otherSession = refreshRecord(userId)
        await store.insertRefreshToken(first)
        await store.insertRefreshToken(otherSession)
        const second = next()
        await store.rotateRefreshToken(first.digest, second, new Date())
        const reuse = await store.rotateRefreshToken(first.digest, next(), new Date())
        expect(reuse).toEqual({ status: 'reused', previous: first })
        expect((await store.rotateRefreshToken(second.digest, next(), new Date())).status).not.toBe('rotated')
        // Revoked with its family: presented again, it is unknown, not a second reuse alarm.
        expect(await store.rotateRefreshToken(first.digest, next(), new Date())).toEqual({
          status: 'not_found',
        })
        expect((await store.rotateRefreshToken(otherSession.digest, next(), new Date())).status).toBe(
          'rotated',
        )
      })

      it('does not rotate unknown or expired tokens', async () => {
        const expired = refreshRecord(uniqueUser(), { expiresOn: new Date(Date.now() - 1000) })
        await store.insertRefreshToken(expired)
        expect(await store.rotateRefreshToken(expired.digest, next(), new Date())).toEqual({
          status: 'not_found',
        })
        expect(await store.rotateRefreshToken(sha256Hex('unknown'), next(), new Date())).toEqual({
          status: 'not_found',
        })
      })

      it("judges expiry by the given time, not the store's clock: from its expiresOn on, a token is expired, spent or not", async () => {
        const userId = uniqueUser()
        const expiresOn = new Date(Date.now() + DAY)
        const unspent = refreshRecord(userId, { expiresOn })
        const spent = refreshRecord(userId, { expiresOn })
        await store.insertRefreshToken(unspent)
        await store.insertRefreshToken(spent)
        const justBefore = new Date(expiresOn.getTime() - 1)
        expect((await store.rotateRefreshToken(spent.digest, next(), justBefore)).status).toBe('rotated')
        expect(await store.rotateRefreshToken(unspent.digest, next(), expiresOn)).toEqual({
          status: 'not_found',
        })
        expect(await store.rotateRefreshToken(spent.digest, next(), expiresOn)).toEqual({
          status: 'not_found',
        })
      })

      it('lets exactly one of many simultaneous redemptions of one token succeed, across instances', async () => {
        const token = refreshRecord(uniqueUser())
        await store.insertRefreshToken(token)
        const other = await peer()
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : other).rotateRefreshToken(token.digest, next(), new Date()),
          ),
        )
        expect(results.filter((result) => result.status === 'rotated')).toHaveLength(1)
      })

      it('leaves no successor alive when reuse revokes a family that another instance is rotating', async () => {
        // The thief rotated first and rotates again while the owner presents the spent token:
        // whichever commits first, the thief's newest token must not outlive the revocation.
        // Timing is not forced, so a store that gets this wrong fails often rather than always.
        const other = await peer()
        const outcomes: string[] = []
        for (let i = 0; i < Math.max(1, Math.min(50, Math.ceil(parallel / 4))); i++) {
          const first = refreshRecord(uniqueUser())
          await store.insertRefreshToken(first)
          const stolen = next()
          await other.rotateRefreshToken(first.digest, stolen, new Date())
          const minted = next()
          const [reuse] = await Promise.all([
            store.rotateRefreshToken(first.digest, next(), new Date()),
            other.rotateRefreshToken(stolen.digest, minted, new Date()),
          ])
          const after = await other.rotateRefreshToken(minted.digest, next(), new Date())
          outcomes.push(
            `reuse ${reuse.status}, successor ${after.status === 'rotated' ? 'alive' : 'revoked'}`,
          )
        }
        expect(outcomes.filter((outcome) => outcome !== 'reuse reused, successor revoked')).toEqual([])
      })
    })

    describe('TOTP', () => {
      const pending = (userId: string, sealedSecret = 'v1.sealed') => ({
        userId,
        sealedSecret,
        enabled: false,
        lastStep: null,
        createdOn: new Date('2026-11-22T00:00:00.000Z'),
      })

      it('stores a pending secret, replaces a pending one, and never an enabled one', async () => {
        const userId = uniqueUser()
        expect(await store.getTotp(userId)).toBeNull()
        expect(await store.putPendingTotp(pending(userId, 'v1.first'))).toBe(true)
        expect(await store.putPendingTotp(pending(userId, 'v1.second'))).toBe(true)
        expect(await store.getTotp(userId)).toEqual(pending(userId, 'v1.second'))
        expect(await store.acceptTotpStep(userId, 100)).toBe(true)
        expect(await store.putPendingTotp(pending(userId, 'v1.third'))).toBe(false)
        expect(await store.getTotp(userId)).toMatchObject({
          sealedSecret: 'v1.second',
          enabled: true,
          lastStep: 100,
        })
      })

      it('accepts only steps later than the last accepted one', async () => {
        const userId = uniqueUser()
        expect(await store.acceptTotpStep(userId, 1)).toBe(false)
        await store.putPendingTotp(pending(userId))
        expect(await store.acceptTotpStep(userId, 10)).toBe(true)
        expect(await store.acceptTotpStep(userId, 10)).toBe(false)
        expect(await store.acceptTotpStep(userId, 9)).toBe(false)
        expect(await store.acceptTotpStep(userId, 11)).toBe(true)
      })

      it('accepts one step once under simultaneous attempts', async () => {
        const userId = uniqueUser()
        await store.putPendingTotp(pending(userId))
        const results = await Promise.all(Array.from({ length: 20 }, () => store.acceptTotpStep(userId, 42)))
        expect(results.filter(Boolean)).toHaveLength(1)
      })

      it("deletes a user's enrolment and no one else's", async () => {
        const userId = uniqueUser()
        const other = uniqueUser()
        await store.putPendingTotp(pending(userId))
        await store.putPendingTotp(pending(other))
        await store.deleteTotp(userId)
        expect(await store.getTotp(userId)).toBeNull()
        expect(await store.getTotp(other)).toEqual(pending(other))
      })
    })

    describe('pruning', () => {
      it('deletes expired refresh tokens and ended counters, and nothing live or spent (stores that prune)', async () => {
        if (!store.pruneExpired) return expect(store.pruneExpired).toBeUndefined()
        // A day ahead of the real time, so a store pruning by its own clock would keep the dead.
        const now = new Date(Date.now() + DAY)
        const userId = uniqueUser()
        const live = refreshRecord(userId, { expiresOn: new Date(now.getTime() + 1) })
        const spent = refreshRecord(userId)
        const dead = refreshRecord(userId, { expiresOn: now })
        await store.insertRefreshToken(live)
        await store.insertRefreshToken(spent)
        await store.insertRefreshToken(dead)
        await store.rotateRefreshToken(spent.digest, next(), new Date())
        const ended = `test:ended:${randomUUID()}`
        const running = `test:running:${randomUUID()}`
        await store.incrementCounter(ended, 1000, new Date(now.getTime() - 1000))
        await store.incrementCounter(running, 60_000, now)
        await store.pruneExpired(now)
        expect((await store.peekCounter(running, now))?.count).toBe(1)
        expect((await store.rotateRefreshToken(live.digest, next(), now)).status).toBe('rotated')
        // A spent token is kept until it expires, or presenting it again would go unnoticed.
        expect((await store.rotateRefreshToken(spent.digest, next(), now)).status).toBe('reused')
        if (subject.dump) {
          const dump = await subject.dump()
          expect(dump).not.toContain(dead.digest)
          expect(dump).not.toContain(ended)
          expect(dump).toContain(running)
        }
      })
    })

    describe('counters', () => {
      it('counts within a window and starts again after it', async () => {
        const bucket = `test:${randomUUID()}`
        const start = new Date()
        expect(await store.peekCounter(bucket, start)).toBeNull()
        const first = await store.incrementCounter(bucket, 60_000, start)
        expect(first.count).toBe(1)
        expect(first.resetAt.getTime()).toBeGreaterThanOrEqual(start.getTime() + 59_000)
        expect((await store.incrementCounter(bucket, 60_000, start)).count).toBe(2)
        expect((await store.peekCounter(bucket, start))?.count).toBe(2)
        const afterWindow = new Date(first.resetAt.getTime() + 1)
        expect(await store.peekCounter(bucket, afterWindow)).toBeNull()
        expect((await store.incrementCounter(bucket, 60_000, afterWindow)).count).toBe(1)
        await store.resetCounter(bucket)
        expect(await store.peekCounter(bucket, afterWindow)).toBeNull()
      })

      it("computes the window from the given time, not the store's clock", async () => {
        // Far from the real time both ways, as a test clock or a skewed host would be.
        for (const at of [Date.UTC(2031, 0, 1), Date.UTC(2020, 0, 1)]) {
          const bucket = `test:${randomUUID()}`
          const first = await store.incrementCounter(bucket, 60_000, new Date(at))
          expect(first).toEqual({ count: 1, resetAt: new Date(at + 60_000) })
          expect(await store.incrementCounter(bucket, 60_000, new Date(at + 59_999))).toEqual({
            count: 2,
            resetAt: new Date(at + 60_000),
          })
          expect((await store.peekCounter(bucket, new Date(at + 59_999)))?.count).toBe(2)
          expect(await store.peekCounter(bucket, new Date(at + 60_000))).toBeNull()
          expect(await store.incrementCounter(bucket, 60_000, new Date(at + 60_000))).toEqual({
            count: 1,
            resetAt: new Date(at + 120_000),
          })
        }
      })

      it('resets one counter and no other', async () => {
        const [reset, kept] = [`test:${randomUUID()}`, `test:${randomUUID()}`]
        const now = new Date()
        await store.incrementCounter(reset, 60_000, now)
        await store.incrementCounter(kept, 60_000, now)
        await store.resetCounter(reset)
        expect(await store.peekCounter(reset, now)).toBeNull()
        expect((await store.peekCounter(kept, now))?.count).toBe(1)
      })

      it(`counts ${parallel} simultaneous increments exactly`, async () => {
        const bucket = `test:${randomUUID()}`
        const now = new Date()
        const hits = await Promise.all(
          Array.from({ length: parallel }, () => store.incrementCounter(bucket, 60_000, now)),
        )
        expect(hits.map((hit) => hit.count).sort((a, b) => a - b)).toEqual(
          Array.from({ length: parallel }, (_, i) => i + 1),
        )
      })
    })

    describe('events', () => {
      it('tells subscribers (another instance included) that a key was deleted, by id or by digest, and not when a deletion is refused', async () => {
        if (!store.subscribe) return expect(store.subscribe).toBeUndefined()
        const received: StoreEvent[] = []
        const unsubscribe = await (await peer()).subscribe!((event) => received.push(event))
        try {
          const userId = uniqueUser()
          const [byId, refused, byDigest] = [
            sampleKeyRecord(userId),
            sampleKeyRecord(userId),
            sampleKeyRecord(userId),
          ]
          for (const record of [byId, refused, byDigest]) await store.insertKey(record)
          await store.deleteKey(userId, { id: byId.id })
          await store.deleteKey(uniqueUser(), { digest: refused.digest })
          await store.deleteKey(userId, { digest: byDigest.digest })
          // Events arrive in order, so an event for the refused deletion would come before the last.
          const ours = (event: StoreEvent) => [byId.id, refused.id, byDigest.id].includes(event.keyId)
          const deleted = (record: ApiKeyRecord) => ({
            type: 'key.deleted',
            keyId: record.id,
            digest: record.digest,
          })
          await expect
            .poll(() => received.filter(ours), { timeout: 5_000 })
            .toEqual([deleted(byId), deleted(byDigest)])
        } finally {
          await unsubscribe()
        }
      })
    })

    describe('secrets at rest', () => {
      it('holds no key, refresh token or TOTP secret in plaintext after a full keyward session', async () => {
        if (!subject.dump) return expect(subject.dump).toBeUndefined()
        const userId = uniqueUser()
        const keyward = createKeyward({
          jwtSecret: 'conformance-secret-conformance-secret-0123456789',
          store,
          users: { get: (id) => ({ id, permissions: [] }) },
          rateLimit: false,
        })
        const issued = await keyward.issueKey(userId, { name: 'plaintext probe' })
        const pair = await keyward.authenticateWithApiKey(issued.key)
        const rotated = await keyward.refreshTokens(pair.refresh_token)
        const enrollment = await keyward.generateTotpKey(userId)
        await keyward.close()
        const dump = await subject.dump()
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
  })
}
