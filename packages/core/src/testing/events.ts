/**
 * Store events: a deleted key is announced to subscribers on every instance, the deleting one
 * included, and a refused deletion is not; a listener that unsubscribed hears nothing more
 * (stores without `subscribe` skip these).
 */
import { describe, expect, it } from 'vitest'
import type { ApiKeyRecord, StoreEvent } from '../store/types.js'
import { sampleKeyRecord, uniqueUser } from './fixtures.js'
import type { ConformanceSuite } from './suite.js'

export function describeEvents(suite: ConformanceSuite): void {
  const { peer } = suite

  describe('events', () => {
    it('tells subscribers (another instance included) that a key was deleted, by id or by digest, and not when a deletion is refused', async (context) => {
      if (!suite.store.subscribe) return context.skip('the store has no subscribe (one process only)')
      const received: StoreEvent[] = []
      const unsubscribe = await (await peer()).subscribe!((event) => received.push(event))
      try {
        const userId = uniqueUser()
        const [byId, refused, byDigest] = [
          sampleKeyRecord(userId),
          sampleKeyRecord(userId),
          sampleKeyRecord(userId),
        ]
        for (const record of [byId, refused, byDigest]) await suite.store.insertKey(record)
        await suite.store.deleteKey(userId, { id: byId.id })
        await suite.store.deleteKey(uniqueUser(), { digest: refused.digest })
        await suite.store.deleteKey(userId, { digest: byDigest.digest })
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

    it('tells subscribers on the instance that deleted the key too', async (context) => {
      if (!suite.store.subscribe) return context.skip('the store has no subscribe (one process only)')
      const received: string[] = []
      const unsubscribe = await suite.store.subscribe((event) => received.push(event.keyId))
      try {
        const userId = uniqueUser()
        const record = sampleKeyRecord(userId)
        await suite.store.insertKey(record)
        await suite.store.deleteKey(userId, { id: record.id })
        await expect.poll(() => received, { timeout: 5_000 }).toContain(record.id)
      } finally {
        await unsubscribe()
      }
    })

    it('stops telling a listener once it has unsubscribed, and only that one', async (context) => {
      if (!suite.store.subscribe) return context.skip('the store has no subscribe (one process only)')
      const gone: string[] = []
      const staying: string[] = []
      const unsubscribeGone = await suite.store.subscribe((event) => gone.push(event.keyId))
      const unsubscribeStaying = await suite.store.subscribe((event) => staying.push(event.keyId))
      try {
        await unsubscribeGone()
        const userId = uniqueUser()
        // Two deletions heard by the listener that stayed, so that a late event for the one that
        // left has had as long to arrive as the first one took.
        for (const record of [sampleKeyRecord(userId), sampleKeyRecord(userId)]) {
          await suite.store.insertKey(record)
          await suite.store.deleteKey(userId, { id: record.id })
          await expect.poll(() => staying, { timeout: 5_000 }).toContain(record.id)
        }
        expect(gone).toEqual([])
      } finally {
        await unsubscribeStaying()
      }
    })
  })
}
