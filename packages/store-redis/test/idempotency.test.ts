import { randomUUID } from 'node:crypto'
import type { ApiKeyRecord, RefreshTokenRecord } from '@keyward/core'
import { sampleKeyRecord } from '@keyward/core/testing'
import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { suiteStore } from './support.js'

const DAY = 86_400_000

// ioredis resends a command whose reply a dropped connection lost (autoResendUnfulfilledCommands,
// on by default), so a write may run twice: these call the store twice, as a resend would.
describeWith('REDIS_URL', 'redis store under a resent command', (url) => {
  const { store } = suiteStore(url)

  const token = (): RefreshTokenRecord => ({
    digest: randomUUID(),
    familyId: randomUUID(),
    userId: 'alice',
    keyId: randomUUID(),
    createdOn: new Date(),
    expiresOn: new Date(Date.now() + DAY),
  })
  const next = () => ({ digest: randomUUID(), createdOn: new Date(), expiresOn: new Date(Date.now() + DAY) })

  it('answers the same rotation again as rotated, without revoking the family', async () => {
    const first = token()
    await store.insertRefreshToken(first)
    const successor = next()
    const now = new Date()
    const rotated = await store.rotateRefreshToken(first.digest, successor, now)
    expect(rotated).toEqual({ status: 'rotated', previous: first })
    expect(await store.rotateRefreshToken(first.digest, successor, now)).toEqual(rotated)
    // The successor the client finally receives works.
    expect((await store.rotateRefreshToken(successor.digest, next(), new Date())).status).toBe('rotated')
  })

  it('still treats the spent token presented for another successor as reuse', async () => {
    const first = token()
    await store.insertRefreshToken(first)
    const successor = next()
    await store.rotateRefreshToken(first.digest, successor, new Date())
    expect(await store.rotateRefreshToken(first.digest, next(), new Date())).toEqual({
      status: 'reused',
      previous: first,
    })
    // The family is revoked: the earlier rotation is not replayed either.
    expect((await store.rotateRefreshToken(first.digest, successor, new Date())).status).toBe('not_found')
    expect((await store.rotateRefreshToken(successor.digest, next(), new Date())).status).toBe('not_found')
  })

  it('accepts the very same key record again, and still refuses another with its id or digest', async () => {
    const record = sampleKeyRecord('bob')
    await store.insertKey(record)
    await expect(store.insertKey(record)).resolves.toBeUndefined()
    expect(await store.listKeys('bob')).toEqual([record])
    await expect(store.insertKey({ ...sampleKeyRecord('bob'), id: record.id })).rejects.toThrow(/duplicate/)
    await expect(store.insertKey({ ...sampleKeyRecord('bob'), digest: record.digest })).rejects.toThrow(
      /duplicate/,
    )
    await expect(store.insertKey({ ...record, userId: 'mallory' })).rejects.toThrow(/duplicate/)
  })

  it('takes a record for the same one again only if every field is the same', async () => {
    const record = sampleKeyRecord('carl')
    await store.insertKey(record)
    const others: Partial<ApiKeyRecord>[] = [
      { name: 'another name' },
      { preview: 'ms-…zzzz' },
      { createdOn: new Date(record.createdOn.getTime() + 1) },
      { expiresOn: new Date(record.expiresOn.getTime() + 1) },
      { lastUsedOn: new Date() },
    ]
    for (const other of others) {
      await expect(store.insertKey({ ...record, ...other })).rejects.toThrow(/duplicate/)
    }
    expect(await store.listKeys('carl')).toEqual([record])
  })

  it('stores the same refresh token again as it was', async () => {
    const record = token()
    await store.insertRefreshToken(record)
    await store.insertRefreshToken(record)
    expect(await store.rotateRefreshToken(record.digest, next(), new Date())).toEqual({
      status: 'rotated',
      previous: record,
    })
  })
})
