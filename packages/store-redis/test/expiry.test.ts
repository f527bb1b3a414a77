import { randomUUID } from 'node:crypto'
import {
  type ApiKeyRecord,
  PENDING_TOTP_LIFETIME_MS,
  type RefreshTokenRecord,
  type TotpRecord,
} from '@keyward/core'
import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { keysUnder, keywardOver, suiteStore } from './support.js'

const DAY = 86_400_000
/** Far behind Redis's clock, as an injected test clock or a host whose clock is wrong would be. */
const IN_2001 = Date.UTC(2001, 0, 1)

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

const refreshRecord = (userId: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord => ({
  digest: randomUUID(),
  familyId: randomUUID(),
  userId,
  keyId: null,
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 7 * DAY),
  ...overrides,
})

const lifetime = (record: { createdOn: Date; expiresOn: Date }) =>
  record.expiresOn.getTime() - record.createdOn.getTime()

describeWith('REDIS_URL', 'redis store expiry', (url) => {
  const { client, prefix, store } = suiteStore(url)

  /** The Redis key lives for `ms` from when it was written (a few seconds' slack for a slow run). */
  const expectTtl = async (key: string, ms: number) => {
    const ttl = await client.pttl(`${prefix}${key}`)
    expect(ttl).toBeGreaterThan(ms - 5_000)
    expect(ttl).toBeLessThanOrEqual(ms)
  }

  it("keeps a key record and its digest index for the key's lifetime", async () => {
    const later = keyRecord('alice', { expiresOn: new Date(Date.now() + 30 * DAY + 123) })
    const sooner = keyRecord('alice', { expiresOn: new Date(Date.now() + 10 * DAY + 456) })
    await store.insertKey(later)
    await store.insertKey(sooner)
    for (const key of [later, sooner]) {
      await expectTtl(`key:${key.id}`, lifetime(key))
      await expectTtl(`digest:${key.digest}`, lifetime(key))
    }
    // The user's index lives as long as the longest-lived key in it.
    await expectTtl('user-keys:alice', lifetime(later))
  })

  it('drops a key from Redis at the end of its lifetime', async () => {
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

  it('writes nothing for a key whose lifetime is not positive (expired as it is issued)', async () => {
    const key = keyRecord('carol', { expiresOn: new Date(Date.now() - 1), createdOn: new Date() })
    await store.insertKey(key)
    expect(
      (await keysUnder(client, prefix)).filter((name) => name.includes('carol') || name.includes(key.id)),
    ).toEqual([])
  })

  it('writes nothing, and throws nothing, for a key whose lifetime is zero (expiresOn is createdOn)', async () => {
    const createdOn = new Date()
    const key = keyRecord('cody', { createdOn, expiresOn: createdOn })
    await expect(store.insertKey(key)).resolves.toBeUndefined()
    expect(
      (await keysUnder(client, prefix)).filter((name) => name.includes('cody') || name.includes(key.id)),
    ).toEqual([])
  })

  it('prunes ids whose record expired from the listing index', async () => {
    const kept = keyRecord('dave')
    const gone = keyRecord('dave')
    await store.insertKey(kept)
    await store.insertKey(gone)
    await client.del(`${prefix}key:${gone.id}`) // as its expiry would
    expect(await store.listKeys('dave')).toEqual([kept])
    expect(await client.zrange(`${prefix}user-keys:dave`, '0', '-1')).toEqual([kept.id])
  })

  it('keeps refresh tokens for their lifetime, and their family as long as the longest-lived', async () => {
    const first = refreshRecord('erin', { expiresOn: new Date(Date.now() + 7 * DAY + 789) })
    await store.insertRefreshToken(first)
    // A family never refreshed goes with its only token.
    await expectTtl(`family:${first.familyId}`, lifetime(first))
    await expectTtl('user-families:erin', lifetime(first))
    const next = {
      digest: randomUUID(),
      createdOn: new Date(),
      expiresOn: new Date(Date.now() + 30 * DAY + 12),
    }
    expect((await store.rotateRefreshToken(first.digest, next, new Date())).status).toBe('rotated')
    await expectTtl(`refresh:${first.digest}`, lifetime(first))
    await expectTtl(`refresh:${next.digest}`, lifetime(next))
    await expectTtl(`family:${first.familyId}`, lifetime(next))
    // The user's families, for ending the user's sessions, are kept as long as the longest-lived.
    await expectTtl('user-families:erin', lifetime(next))
  })

  it("writes nothing for a refresh token whose lifetime is zero, not even into the user's families", async () => {
    const live = refreshRecord('fern')
    await store.insertRefreshToken(live)
    const createdOn = new Date()
    const dead = refreshRecord('fern', { createdOn, expiresOn: createdOn })
    await expect(store.insertRefreshToken(dead)).resolves.toBeUndefined()
    expect(await client.smembers(`${prefix}user-families:fern`)).toEqual([live.familyId])
    expect((await keysUnder(client, prefix)).filter((name) => name.includes(dead.familyId))).toEqual([])
  })

  it("drops from a user's families those that ended, so a user who signs in for years has a small set", async () => {
    const families = `${prefix}user-families:ivy`
    let last: RefreshTokenRecord | undefined
    for (let session = 0; session < 200; session++) {
      last = refreshRecord('ivy')
      await store.insertRefreshToken(last)
      await client.del(`${prefix}family:${last.familyId}`) // as its end, or a reuse, would
    }
    expect(await client.scard(families)).toBeLessThan(10)
    expect(await client.sismember(families, last?.familyId ?? '')).toBe(1)
  })

  it('drops from a family the tokens that expired, so a session refreshed for years stays small', async () => {
    let token = refreshRecord('gina')
    await store.insertRefreshToken(token)
    const family = `${prefix}family:${token.familyId}`
    for (let rotation = 0; rotation < 200; rotation++) {
      const next = { digest: randomUUID(), createdOn: new Date(), expiresOn: new Date(Date.now() + 30 * DAY) }
      expect((await store.rotateRefreshToken(token.digest, next, new Date())).status).toBe('rotated')
      await client.del(`${prefix}refresh:${token.digest}`) // as the spent token's expiry would
      token = { ...token, ...next }
    }
    // 201 tokens were members; the live one and a few expired ones not yet checked remain.
    expect(await client.scard(family)).toBeLessThan(10)
    expect(await client.sismember(family, token.digest)).toBe(1)
    const last = { digest: randomUUID(), createdOn: new Date(), expiresOn: new Date(Date.now() + DAY) }
    expect((await store.rotateRefreshToken(token.digest, last, new Date())).status).toBe('rotated')
  })

  it("stores, finds and rotates records whose times are far behind Redis's clock", async () => {
    const key = keyRecord('frank', { createdOn: new Date(IN_2001), expiresOn: new Date(IN_2001 + 90 * DAY) })
    await store.insertKey(key)
    expect(await store.findKeyByDigest(key.digest)).toEqual(key)
    expect(await store.listKeys('frank')).toEqual([key])
    await expectTtl(`key:${key.id}`, 90 * DAY)
    await expectTtl(`digest:${key.digest}`, 90 * DAY)
    await expectTtl('user-keys:frank', 90 * DAY)

    const token = refreshRecord('frank', {
      createdOn: new Date(IN_2001),
      expiresOn: new Date(IN_2001 + 30 * DAY),
    })
    await store.insertRefreshToken(token)
    await expectTtl(`refresh:${token.digest}`, 30 * DAY)
    const at = IN_2001 + DAY
    const next = { digest: randomUUID(), createdOn: new Date(at), expiresOn: new Date(at + 30 * DAY) }
    expect(await store.rotateRefreshToken(token.digest, next, new Date(at))).toEqual({
      status: 'rotated',
      previous: token,
    })
    await expectTtl(`refresh:${next.digest}`, 30 * DAY)
    await expectTtl(`family:${token.familyId}`, 30 * DAY)
    expect(
      (await store.rotateRefreshToken(next.digest, { ...next, digest: randomUUID() }, new Date(at))).status,
    ).toBe('rotated')
  })

  it('works end to end with keyward on a clock far behind Redis', async () => {
    const keyward = keywardOver(store, () => IN_2001)
    try {
      const issued = await keyward.issueKey('grace', { name: 'in 2001' })
      expect(await keyward.verifyKey(issued.key)).toMatchObject({ ok: true })
      const pair = await keyward.authenticateWithApiKey(issued.key)
      const next = await keyward.refreshTokens(pair.refresh_token)
      await expect(keyward.refreshTokens(next.refresh_token)).resolves.toMatchObject({
        refresh_token: expect.any(String),
      })
    } finally {
      await keyward.close()
    }
  })

  it('keeps a pending TOTP enrolment for its lifetime from each write, and an enabled one for good', async () => {
    const userId = `totp-${randomUUID()}`
    const record = `totp:${userId}`
    // Created far behind Redis's clock: its lifetime still runs from the write.
    const pending: TotpRecord = {
      userId,
      sealedSecret: 'v1.first',
      enabled: false,
      lastStep: null,
      createdOn: new Date(IN_2001),
    }
    expect(await store.putPendingTotp(pending)).toBe(true)
    await expectTtl(record, PENDING_TOTP_LIFETIME_MS)
    // As though most of the day had gone: a replacement has a day of its own.
    await client.pexpire(`${prefix}${record}`, 60_000)
    expect(await store.putPendingTotp({ ...pending, sealedSecret: 'v1.second' })).toBe(true)
    await expectTtl(record, PENDING_TOTP_LIFETIME_MS)
    expect(await store.acceptTotpStep(userId, 'v1.second', 10)).toBe('enabled')
    expect(await client.pttl(`${prefix}${record}`)).toBe(-1)
    expect(await store.getTotp(userId)).toMatchObject({ sealedSecret: 'v1.second', enabled: true })
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
