import { randomUUID } from 'node:crypto'
import type { ApiKeyRecord, TotpRecord } from '@keyward/core'
import { redisStore } from '@keyward/store-redis'
import { expect, it, vi } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { failFastClient, suiteStore } from './support.js'

const keyRecord = (userId: string): ApiKeyRecord => ({
  id: randomUUID(),
  userId,
  name: 'redis specifics',
  digest: randomUUID().replaceAll('-', '').padEnd(64, 'a'),
  preview: 'ms-…aaaa',
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 86_400_000),
  lastUsedOn: null,
})

describeWith('REDIS_URL', 'redis store specifics', (url) => {
  const { client, prefix, store } = suiteStore(url)

  it('records last use for batches larger than one script call takes', async () => {
    const records = Array.from({ length: 1_201 }, () => keyRecord('bob'))
    await Promise.all(records.map((record) => store.insertKey(record)))
    const at = new Date('2026-11-23T08:00:00.001Z')
    // Each call holds Redis for its batch only: 500 ids at most (sha, no keys, the prefix, then pairs).
    const evalsha = vi.spyOn(client, 'evalsha')
    try {
      await store.recordKeyUsage(records.map((record) => ({ id: record.id, lastUsedOn: at })))
      expect(evalsha.mock.calls.map((call) => (call.length - 3) / 2)).toEqual([500, 500, 201])
    } finally {
      evalsha.mockRestore()
    }
    const listed = await store.listKeys('bob')
    expect(listed).toHaveLength(records.length)
    expect(listed.every((record) => record.lastUsedOn?.getTime() === at.getTime())).toBe(true)
  })

  it('writes nothing for the last use of a key that is gone: no hash without a TTL is left behind', async () => {
    const deleted = keyRecord('dora')
    await store.insertKey(deleted)
    await store.deleteKey('dora', { id: deleted.id })
    const unknown = randomUUID()
    await store.recordKeyUsage([
      { id: deleted.id, lastUsedOn: new Date() },
      { id: unknown, lastUsedOn: new Date() },
    ])
    expect(await client.exists(`${prefix}key:${deleted.id}`, `${prefix}key:${unknown}`)).toBe(0)
  })

  it('fails, naming the field, on a stored record that lacks one (corrupt data), rather than answering a partial record', async () => {
    const record = keyRecord('erik')
    await store.insertKey(record)
    await client.hdel(`${prefix}key:${record.id}`, 'userId')
    await expect(store.findKeyById(record.id)).rejects.toThrow('keyward: stored record lacks "userId"')
    await expect(store.findKeyByDigest(record.digest)).rejects.toThrow(/lacks "userId"/)
  })

  it('stores a pending TOTP enrolment with every field, and a replacement keeps none of the one it replaces', async () => {
    const userId = `totp-${randomUUID()}`
    const first: TotpRecord = {
      userId,
      sealedSecret: 'v1.first',
      enabled: false,
      lastStep: 7,
      createdOn: new Date('2026-11-23T08:00:00.000Z'),
    }
    expect(await store.putPendingTotp(first)).toBe(true)
    expect(await store.getTotp(userId)).toEqual(first)
    const second: TotpRecord = { ...first, sealedSecret: 'v1.second', lastStep: null, createdOn: new Date() }
    expect(await store.putPendingTotp(second)).toBe(true)
    expect(await store.getTotp(userId)).toEqual(second)
    // No step of the first enrolment holds the second back.
    expect(await store.acceptTotpStep(userId, 'v1.second', 3)).toBe('enabled')
  })

  it('hands its listener no message on the events channel that is not an event', async () => {
    const heard: unknown[] = []
    const unsubscribe = await store.subscribe((event) => heard.push(event))
    try {
      await client.publish(`${prefix}events`, 'not json')
      await client.publish(`${prefix}events`, JSON.stringify({ type: 'key.deleted' }))
      const record = keyRecord('fay')
      await store.insertKey(record)
      await store.deleteKey('fay', { id: record.id })
      await expect
        .poll(() => heard, { timeout: 5_000 })
        .toEqual([{ type: 'key.deleted', keyId: record.id, digest: record.digest }])
    } finally {
      await unsubscribe()
    }
  })

  it('subscribes through a lazy, fail-fast client, and survives a listener that throws', async () => {
    const lazy = failFastClient(url)
    await lazy.connect()
    const heard: string[] = []
    const unsubscribe = await redisStore({ client: lazy, prefix }).subscribe!((event) => {
      heard.push(event.keyId)
      throw new Error('a listener bug')
    })
    try {
      const first = keyRecord('carol')
      const second = keyRecord('carol')
      for (const record of [first, second]) {
        await store.insertKey(record)
        await store.deleteKey('carol', { id: record.id })
      }
      await expect.poll(() => heard, { timeout: 5_000 }).toEqual([first.id, second.id])
    } finally {
      await unsubscribe()
      lazy.disconnect()
    }
  })
})
