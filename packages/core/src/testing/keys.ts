/**
 * API keys: every field kept, id and digest unique, listing per user and oldest first (ties by
 * id), deletion only by the owner, last-use times that never move backwards, and parallel issue
 * and delete.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../lib/secrets.js'
import { DAY, pendingTotp, sampleKeyRecord, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describeKeys(suite: ConformanceSuite): void {
  const { options, parallel } = suite

  describe('keys', () => {
    it('stores a key and finds it by digest and by id, with every field intact', async () => {
      const record = sampleKeyRecord(uniqueUser(), { lastUsedOn: new Date('2026-11-30T08:00:00.000Z') })
      await suite.store.insertKey(record)
      expect(await suite.store.findKeyByDigest(record.digest)).toEqual(record)
      expect(await suite.store.findKeyById(record.id)).toEqual(record)
    })

    it('answers null for an unknown digest or id', async () => {
      expect(await suite.store.findKeyByDigest(sha256Hex('nothing'))).toBeNull()
      expect(await suite.store.findKeyById(randomUUID())).toBeNull()
    })

    it('refuses a second record with the same digest or the same id', async () => {
      const userId = uniqueUser()
      const record = sampleKeyRecord(userId)
      await suite.store.insertKey(record)
      await expect(suite.store.insertKey({ ...record, id: randomUUID() })).rejects.toThrow()
      await expect(suite.store.insertKey({ ...sampleKeyRecord(userId), id: record.id })).rejects.toThrow()
      expect(await suite.store.listKeys(userId)).toEqual([record])
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
      await suite.store.insertKey(newest)
      await suite.store.insertKey(oldest)
      await suite.store.insertKey(expired)
      await suite.store.insertKey(sampleKeyRecord(uniqueUser()))
      const listed = (await suite.store.listKeys(userId)).map((record) => record.id)
      if (options.dropsExpiredKeys) {
        expect(listed).toEqual([oldest.id, newest.id])
        expect(await suite.store.findKeyByDigest(expired.digest)).toBeNull()
        expect(await suite.store.findKeyById(expired.id)).toBeNull()
      } else {
        expect(listed).toEqual([oldest.id, expired.id, newest.id])
      }
      expect(await suite.store.listKeys(uniqueUser())).toEqual([])
    })

    it('lists keys created in the same millisecond in id order, whatever order they were stored in', async () => {
      const userId = uniqueUser()
      const createdOn = new Date('2026-03-01T00:00:00.000Z')
      const stem = randomUUID()
      const ids = [`${stem}-a`, `${stem}-b`, `${stem}-c`] as const
      // Neither insertion order nor its reverse.
      for (const id of [ids[1], ids[2], ids[0]]) {
        await suite.store.insertKey(sampleKeyRecord(userId, { id, createdOn }))
      }
      expect((await suite.store.listKeys(userId)).map((record) => record.id)).toEqual(ids)
    })

    it('deletes by id and by digest, only for the owner, and returns the deleted record, last use included', async () => {
      const userId = uniqueUser()
      const byId = sampleKeyRecord(userId, { lastUsedOn: new Date('2026-11-30T10:00:00.000Z') })
      const byDigest = sampleKeyRecord(userId)
      await suite.store.insertKey(byId)
      await suite.store.insertKey(byDigest)
      expect(await suite.store.deleteKey(uniqueUser(), { id: byId.id })).toBeNull()
      expect(await suite.store.deleteKey(uniqueUser(), { digest: byDigest.digest })).toBeNull()
      expect(await suite.store.deleteKey(userId, { id: byId.id })).toEqual(byId)
      expect(await suite.store.deleteKey(userId, { digest: byDigest.digest })).toEqual(byDigest)
      expect(await suite.store.findKeyById(byId.id)).toBeNull()
      expect(await suite.store.findKeyByDigest(byDigest.digest)).toBeNull()
      expect(await suite.store.deleteKey(userId, { id: byId.id })).toBeNull()
    })

    it('records last use in batches, moving it forward and never backwards, ignoring unknown ids', async () => {
      const userId = uniqueUser()
      const record = sampleKeyRecord(userId)
      const other = sampleKeyRecord(userId)
      await suite.store.insertKey(record)
      await suite.store.insertKey(other)
      const later = new Date('2026-12-01T10:00:00.000Z')
      const earlier = new Date('2026-11-30T10:00:00.000Z')
      // An unknown id first, and one key twice in a batch, its later time first.
      await suite.store.recordKeyUsage([
        { id: randomUUID(), lastUsedOn: later },
        { id: record.id, lastUsedOn: later },
        { id: other.id, lastUsedOn: earlier },
        { id: record.id, lastUsedOn: earlier },
      ])
      await suite.store.recordKeyUsage([{ id: record.id, lastUsedOn: earlier }])
      expect((await suite.store.findKeyById(record.id))?.lastUsedOn).toEqual(later)
      expect((await suite.store.findKeyById(other.id))?.lastUsedOn).toEqual(earlier)
      // Forward from a recorded time too, as every batch after a key's first use does.
      const latest = new Date('2026-12-02T10:00:00.000Z')
      await suite.store.recordKeyUsage([{ id: record.id, lastUsedOn: latest }])
      expect((await suite.store.findKeyById(record.id))?.lastUsedOn).toEqual(latest)
      await suite.store.recordKeyUsage([])
    })

    it("keeps users apart whose ids nest or run past ASCII ('a', 'a:key', 'a:totp:a', 'ü名')", async () => {
      const base = uniqueUser()
      const users = [base, `${base}:key`, `${base}:totp:${base}`, `${base}ü名`]
      const records = users.map((userId) => sampleKeyRecord(userId))
      for (const record of records) await suite.store.insertKey(record)
      for (const [index, userId] of users.entries()) {
        expect(await suite.store.listKeys(userId)).toEqual([records[index]])
        expect(await suite.store.putPendingTotp(pendingTotp(userId, `v1.${index}`))).toBe(true)
      }
      for (const [index, userId] of users.entries())
        expect(await suite.store.getTotp(userId)).toMatchObject({ userId, sealedSecret: `v1.${index}` })
    })

    it('writes no last use for a key deleted before its batch: the key stays gone', async () => {
      const userId = uniqueUser()
      const record = sampleKeyRecord(userId)
      await suite.store.insertKey(record)
      await suite.store.deleteKey(userId, { id: record.id })
      await suite.store.recordKeyUsage([{ id: record.id, lastUsedOn: new Date('2026-12-01T10:00:00.000Z') }])
      expect(await suite.store.findKeyById(record.id)).toBeNull()
      expect(await suite.store.findKeyByDigest(record.digest)).toBeNull()
      expect(await suite.store.listKeys(userId)).toEqual([])
    })

    it(`issues and deletes ${parallel} keys in parallel without losing or duplicating one`, async () => {
      const userId = uniqueUser()
      const records = Array.from({ length: parallel }, () => sampleKeyRecord(userId))
      await Promise.all(records.map((record) => suite.store.insertKey(record)))
      expect(new Set((await suite.store.listKeys(userId)).map((record) => record.id))).toEqual(
        new Set(records.map((r) => r.id)),
      )
      const doomed = records.slice(0, parallel / 2)
      // Each key is deleted twice at once: exactly one of the two deletions may win.
      const results = await Promise.all(
        doomed.flatMap((record) => [
          suite.store.deleteKey(userId, { id: record.id }),
          suite.store.deleteKey(userId, { digest: record.digest }),
        ]),
      )
      expect(results.filter((result) => result !== null)).toHaveLength(doomed.length)
      const left = await suite.store.listKeys(userId)
      expect(left.map((record) => record.id).sort()).toEqual(
        records
          .slice(parallel / 2)
          .map((r) => r.id)
          .sort(),
      )
    })
  })
}
