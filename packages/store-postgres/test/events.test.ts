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

it('announces a deletion only to the stores on its own schema', async () => {
  await migrate(db, { schema: 'events_here' })
  await migrate(db, { schema: 'events_there' })
  const here = postgresStore({ client: db, schema: 'events_here' })
  const there = postgresStore({ client: db, schema: 'events_there' })
  const heardThere: string[] = []
  const unsubscribe = await there.subscribe((event) => heardThere.push(event.keyId))
  try {
    const [deletedHere, deletedThere] = [keyRecord(), keyRecord()]
    await here.insertKey(deletedHere)
    await there.insertKey(deletedThere)
    await here.deleteKey('alice', { id: deletedHere.id })
    // Notifications arrive in commit order: once the later deletion is heard, the earlier one would have been.
    await there.deleteKey('alice', { id: deletedThere.id })
    await expect.poll(() => heardThere, { timeout: 5_000 }).toContain(deletedThere.id)
    expect(heardThere).toEqual([deletedThere.id])
  } finally {
    await unsubscribe()
  }
})

it('tells its listener only the events on its channel: nothing for text that is no event', async () => {
  await migrate(db, { schema: 'events_noise' })
  const store = postgresStore({ client: db, schema: 'events_noise' })
  const heard: unknown[] = []
  const unsubscribe = await store.subscribe((event) => heard.push(event))
  try {
    await db.query(`NOTIFY keyward_events_events_noise, 'not json'`)
    await db.query(`NOTIFY keyward_events_events_noise, '{"type":"key.deleted"}'`)
    const deleted = keyRecord()
    await store.insertKey(deleted)
    await store.deleteKey('alice', { id: deleted.id })
    await expect.poll(() => heard.length, { timeout: 5_000 }).toBeGreaterThan(0)
    expect(heard).toEqual([{ type: 'key.deleted', keyId: deleted.id, digest: deleted.digest }])
  } finally {
    await unsubscribe()
  }
})

it('takes a schema name of 48 characters, the longest whose channel fits PostgreSQL, and announces on it', async () => {
  const schema = `events_${'x'.repeat(41)}`
  expect(schema).toHaveLength(48)
  await migrate(db, { schema })
  const store = postgresStore({ client: db, schema })
  const heard: string[] = []
  const unsubscribe = await store.subscribe((event) => heard.push(event.keyId))
  try {
    const deleted = keyRecord()
    await store.insertKey(deleted)
    await store.deleteKey('alice', { id: deleted.id })
    await expect.poll(() => heard, { timeout: 5_000 }).toEqual([deleted.id])
  } finally {
    await unsubscribe()
  }
})
