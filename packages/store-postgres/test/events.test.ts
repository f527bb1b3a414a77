import { randomUUID } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import type { ApiKeyRecord } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, expect, it } from 'vitest'

const db = new PGlite()
afterAll(() => db.close())

const keyRecord = (): ApiKeyRecord => ({
  id: randomUUID(),
  userId: 'alice',
  name: 'events',
  digest: randomUUID().replaceAll('-', '').padEnd(64, 'b'),
  preview: 'ms-…bbbb',
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 86_400_000),
  lastUsedOn: null,
})

it('announces deletions by id and by digest, and survives a listener that throws', async () => {
  await migrate(db, { schema: 'events' })
  const store = postgresStore({ client: db, schema: 'events' })
  const heard: string[] = []
  const unsubscribe = await store.subscribe!((event) => {
    heard.push(event.keyId)
    throw new Error('a listener bug')
  })
  try {
    const [byId, byDigest] = [keyRecord(), keyRecord()]
    await store.insertKey(byId)
    await store.insertKey(byDigest)
    await store.deleteKey('alice', { id: byId.id })
    await store.deleteKey('alice', { digest: byDigest.digest })
    await expect.poll(() => heard, { timeout: 5_000 }).toEqual([byId.id, byDigest.id])
  } finally {
    await unsubscribe()
  }
})
