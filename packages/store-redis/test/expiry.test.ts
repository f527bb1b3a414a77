import { randomUUID } from 'node:crypto'
import type { ApiKeyRecord } from '@keyward/core'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { deleteUnder, keysUnder, randomPrefix } from './support.js'

const DAY = 86_400_000

const keyRecord = (userId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id: randomUUID(),
  userId,
  name: 'expiring',
  digest: randomUUID().replaceAll('-', '').padEnd(64, 'e'),
  preview: 'ms-…eeee',
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 90 * DAY),
  lastUsedOn: null,
  ...overrides,
})

describeWith('REDIS_URL', 'redis store expiry', (url) => {
  const client = new Redis(url)
  const prefix = randomPrefix()
  const store = redisStore({ client, prefix })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    await client.quit()
  })

  it('expires a key record and its digest index exactly when the key expires', async () => {
    const later = keyRecord('alice', { expiresOn: new Date(Date.now() + 30 * DAY + 123) })
    const sooner = keyRecord('alice', { expiresOn: new Date(Date.now() + 10 * DAY + 456) })
    await store.insertKey(later)
    await store.insertKey(sooner)
    for (const key of [later, sooner]) {
      expect(await client.pexpiretime(`${prefix}key:${key.id}`)).toBe(key.expiresOn.getTime())
      expect(await client.pexpiretime(`${prefix}digest:${key.digest}`)).toBe(key.expiresOn.getTime())
    }
    // The user's index lives as long as the longest-lived key in it.
    expect(await client.pexpiretime(`${prefix}user-keys:alice`)).toBe(later.expiresOn.getTime())
  })

  it('drops a key from Redis at its expiry', async () => {
    const key = keyRecord('bob', { expiresOn: new Date(Date.now() + 200) })
    await store.insertKey(key)
    expect(await store.findKeyByDigest(key.digest)).toEqual(key)
    await expect
      .poll(async () => (await keysUnder(client, prefix)).filter((name) => name.includes(key.id)), {
        timeout: 5_000,
      })
      .toEqual([])
    expect(await store.findKeyByDigest(key.digest)).toBeNull()
    expect(await client.exists(`${prefix}digest:${key.digest}`)).toBe(0)
  })

  it('writes nothing for a key that has already expired', async () => {
    const key = keyRecord('carol', { expiresOn: new Date(Date.now() - 1) })
    await store.insertKey(key)
    expect(
      (await keysUnder(client, prefix)).filter((name) => name.includes('carol') || name.includes(key.id)),
    ).toEqual([])
  })

  it('prunes ids whose record expired from the listing index', async () => {
    const kept = keyRecord('dave')
    const gone = keyRecord('dave')
    await store.insertKey(kept)
    await store.insertKey(gone)
    await client.del(`${prefix}key:${gone.id}`) // as its expiry would
    expect(await store.listKeys('dave')).toEqual([kept])
    expect(await client.zrange(`${prefix}user-keys:dave`, 0, -1)).toEqual([kept.id])
  })

  it('expires refresh tokens at their expiry, and their family with the last of them', async () => {
    const familyId = randomUUID()
    const first = {
      digest: randomUUID(),
      familyId,
      userId: 'erin',
      keyId: null,
      createdOn: new Date(),
      expiresOn: new Date(Date.now() + 7 * DAY + 789),
    }
    await store.insertRefreshToken(first)
    const next = {
      digest: randomUUID(),
      createdOn: new Date(),
      expiresOn: new Date(Date.now() + 30 * DAY + 12),
    }
    expect((await store.rotateRefreshToken(first.digest, next, new Date())).status).toBe('rotated')
    expect(await client.pexpiretime(`${prefix}refresh:${first.digest}`)).toBe(first.expiresOn.getTime())
    expect(await client.pexpiretime(`${prefix}refresh:${next.digest}`)).toBe(next.expiresOn.getTime())
    expect(await client.pexpiretime(`${prefix}family:${familyId}`)).toBe(next.expiresOn.getTime())
  })

  it('lets a counter live one window for cleanup, while its window follows the given time', async () => {
    const bucket = `ip:${randomUUID()}`
    // A clock a day behind the server's: the window still counts, and Redis still cleans up.
    const now = new Date(Date.now() - DAY)
    await store.incrementCounter(bucket, 60_000, now)
    expect((await store.incrementCounter(bucket, 60_000, now)).count).toBe(2)
    const ttl = await client.pttl(`${prefix}counter:${bucket}`)
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
  })
})
