import { memoryStore, type StoreEvent } from '@keyward/core'
import { runStoreConformance, sampleKeyRecord } from '@keyward/core/testing'
import { expect, it } from 'vitest'

runStoreConformance({ name: 'memory', setup: async () => ({ store: memoryStore() }) })

it("a listener that throws fails neither the delete nor the listeners after it (as PostgreSQL's and Redis's)", async () => {
  const store = memoryStore()
  const heard: StoreEvent[] = []
  await store.subscribe?.(() => {
    throw new Error('a listener bug')
  })
  await store.subscribe?.((event) => heard.push(event))
  const record = sampleKeyRecord('alice')
  await store.insertKey(record)
  await expect(store.deleteKey('alice', { id: record.id })).resolves.toMatchObject({ id: record.id })
  expect(await store.findKeyById(record.id)).toBeNull()
  expect(heard).toEqual([expect.objectContaining({ type: 'key.deleted', keyId: record.id })])
})
