/**
 * Store events: a deleted key is announced to subscribers on every instance, and a refused
 * deletion is not (stores without `subscribe` skip it).
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
  })
}
