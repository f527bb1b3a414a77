/**
 * Two keyward instances racing on one user, over each store: memory (shared in one process),
 * PGlite, PostgreSQL and Redis (a client each, like two processes). Parallel issues lose or
 * duplicate nothing; parallel deletions mixed with verifications leave every deleted key dead
 * on both instances and every other key alive; one refresh token redeemed twenty times at once
 * succeeds once and revokes its chain; one TOTP code sent to both instances is accepted once.
 */
import { PGlite } from '@electric-sql/pglite'
import { type Keyward, KeywardError, memoryStore } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import { Pool } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomSchema } from '../../packages/store-postgres/test/support.js'
import { deleteUnder, randomPrefix } from '../../packages/store-redis/test/support.js'
import { totpCode } from '../contract/support/totp.js'
import { describeWith } from '../support/services.js'
import {
  type Instances,
  KEY_LIMIT,
  PROPAGATION_BOUND_MS,
  type SharedStore,
  startInstances,
} from './support/two-instances.js'

const ISSUES = 200
const DELETES = 100
const REDEMPTIONS_PER_INSTANCE = 10
const TOTP_TRIES_PER_INSTANCE = 5

const codeOf = (reason: unknown) => (reason instanceof KeywardError ? reason.code : String(reason))

/** Issues `count` keys for the user at once, alternating between the instances. */
const issueMany = (instances: Instances, userId: string, count: number) =>
  Promise.all(
    Array.from({ length: count }, (_, i) => instances.both[i % 2]!.issueKey(userId, { name: `key ${i}` })),
  )

/** How many of the keys verify, on one instance. */
async function verifying(instance: Keyward, keys: readonly string[]): Promise<number> {
  const results = await Promise.all(keys.map((key) => instance.verifyKey(key)))
  return results.filter((result) => result.ok).length
}

function sameUser(name: string, setup: () => Promise<SharedStore>): void {
  describe(`two instances on ${name}, one user`, () => {
    let t: Instances
    const report: string[] = []

    beforeAll(async () => {
      t = await startInstances(await setup())
    })

    afterAll(async () => {
      await t?.close()
      console.log(`[concurrency] ${name}: ${report.join('; ')}`)
    })

    it(`${ISSUES} parallel issues across both instances: none lost, none duplicated`, async () => {
      const issued = await issueMany(t, 'issuer', ISSUES)
      const ids = issued.map((key) => key.id)
      expect(new Set(ids).size).toBe(ISSUES)
      expect(new Set(issued.map((key) => key.key)).size).toBe(ISSUES)
      for (const instance of t.both) {
        const listed = (await instance.listKeys('issuer')).map((key) => key.id)
        expect(listed).toHaveLength(ISSUES)
        expect(new Set(listed)).toEqual(new Set(ids))
      }
      // Each key works on the instance that did not issue it.
      const crossed = await Promise.all(issued.map((key, i) => t.both[(i + 1) % 2]!.verifyKey(key.key)))
      expect(crossed.every((result) => result.ok)).toBe(true)
      report.push(`${ISSUES} parallel issues, ${ISSUES} distinct ids listed on both instances`)
    })

    it(`${KEY_LIMIT + 50} parallel issues across both instances for ${KEY_LIMIT} places keep no more than ${KEY_LIMIT}`, async () => {
      const results = await Promise.allSettled(
        Array.from({ length: KEY_LIMIT + 50 }, (_, i) => t.both[i % 2]!.issueKey('crowd', { name: `k${i}` })),
      )
      const issued = results.filter((result) => result.status === 'fulfilled').length
      for (const result of results)
        if (result.status === 'rejected') expect(codeOf(result.reason)).toBe('KEY_LIMIT_REACHED')
      for (const instance of t.both) expect(await instance.listKeys('crowd')).toHaveLength(issued)
      expect(issued).toBeLessThanOrEqual(KEY_LIMIT)
      // The places the race left free can be taken, one by one, and then no more.
      for (let i = issued; i < KEY_LIMIT; i++) await t.both[i % 2]!.issueKey('crowd', { name: `later ${i}` })
      await expect(t.a.issueKey('crowd', { name: 'over' })).rejects.toMatchObject({
        code: 'KEY_LIMIT_REACHED',
      })
      await expect(t.b.issueKey('crowd', { name: 'over' })).rejects.toMatchObject({
        code: 'KEY_LIMIT_REACHED',
      })
      expect(await t.a.listKeys('crowd')).toHaveLength(KEY_LIMIT)
      report.push(`${KEY_LIMIT + 50} racing issues for ${KEY_LIMIT} places kept ${issued}`)
    })

    it(`${DELETES} parallel deletions amid verifications on both instances`, async () => {
      const issued = await issueMany(t, 'deleter', 2 * DELETES)
      const doomed = issued.filter((_, i) => i % 2 === 0)
      const kept = issued.filter((_, i) => i % 2 === 1)
      const keptIds = new Set(kept.map((key) => key.id))
      // The first instance has every key cached (a deletion on the other must evict it there); the
      // second has none, so its verifications read the store while the deletions run.
      expect(
        await verifying(
          t.a,
          issued.map((key) => key.key),
        ),
      ).toBe(2 * DELETES)

      let settled = false
      const deletions = Promise.all(
        doomed.map(async (key, i) => {
          // Spread over several turns of the event loop, so that verifications fall in between.
          for (let turn = 0; turn < i % 8; turn++) await new Promise((resolve) => setImmediate(resolve))
          // Half by id, half by the full key; each instance deletes half.
          return t.both[i % 2]!.deleteKey('deleter', i % 4 < 2 ? { id: key.id } : { key: key.key })
        }),
      ).finally(() => {
        settled = true
      })
      const verified: Array<{ id: string; ok: boolean }> = []
      let waves = 0
      do {
        waves++
        const wave = issued.flatMap((key) =>
          t.both.map(async (instance) => ({ id: key.id, ok: (await instance.verifyKey(key.key)).ok })),
        )
        verified.push(...(await Promise.all(wave)))
        await new Promise((resolve) => setImmediate(resolve))
      } while (!settled)
      const deleted = await deletions

      expect(deleted.map((record) => record?.id)).toEqual(doomed.map((key) => key.id))
      expect(verified.filter(({ id, ok }) => keptIds.has(id) && !ok)).toEqual([])
      const doomedAnswers = verified.filter(({ id }) => !keptIds.has(id))
      const early = doomedAnswers.filter(({ ok }) => ok).length

      const doomedKeys = doomed.map((key) => key.key)
      const stillWorking = async () => (await verifying(t.a, doomedKeys)) + (await verifying(t.b, doomedKeys))
      if (t.shared.eventsAreSynchronous) expect(await stillWorking()).toBe(0)
      else await expect.poll(stillWorking, { timeout: PROPAGATION_BOUND_MS, interval: 20 }).toBe(0)
      // And they stay dead: no read that raced a deletion put a key back in a cache.
      expect(await stillWorking()).toBe(0)
      for (const instance of t.both) {
        expect(
          await verifying(
            instance,
            kept.map((key) => key.key),
          ),
        ).toBe(DELETES)
        expect(new Set((await instance.listKeys('deleter')).map((key) => key.id))).toEqual(keptIds)
        expect(await instance.deleteKey('deleter', { id: doomed[0]!.id })).toBeNull()
      }
      report.push(
        `${DELETES} deletions amid ${verified.length} verifications in ${waves} waves ` +
          `(deleted keys: ${early} still verified and ${doomedAnswers.length - early} refused while their deletion ran), ` +
          `0 deleted keys verify afterwards, ${DELETES} kept keys verify on both`,
      )
    })

    it(`one refresh token redeemed ${REDEMPTIONS_PER_INSTANCE} times at once on each instance: one success, chain revoked`, async () => {
      const { key } = await t.a.issueKey('refresher', { name: 'refresh' })
      const pair = await t.a.authenticateWithApiKey(key)
      const reuseAlarmsBefore = t.events.filter(
        (event) => event.type === 'auth.failed' && event.code === 'REFRESH_TOKEN_REUSED',
      ).length
      const results = await Promise.allSettled(
        t.both.flatMap((instance) =>
          Array.from({ length: REDEMPTIONS_PER_INSTANCE }, () => instance.refreshTokens(pair.refresh_token)),
        ),
      )
      const won = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
      const refused = results.flatMap((result) =>
        result.status === 'rejected' ? [codeOf(result.reason)] : [],
      )
      expect(won).toHaveLength(1)
      expect(refused).toHaveLength(2 * REDEMPTIONS_PER_INSTANCE - 1)
      for (const code of refused) expect(['REFRESH_TOKEN_REUSED', 'INVALID_REFRESH_TOKEN']).toContain(code)
      expect(refused).toContain('REFRESH_TOKEN_REUSED')
      const reuseAlarms =
        t.events.filter((event) => event.type === 'auth.failed' && event.code === 'REFRESH_TOKEN_REUSED')
          .length - reuseAlarmsBefore
      expect(reuseAlarms).toBeGreaterThanOrEqual(1)

      // The reuse revoked the chain: the winner's new refresh token is dead on both instances.
      for (const instance of t.both) {
        await expect(instance.refreshTokens(won[0]!.refresh_token)).rejects.toMatchObject({
          code: 'INVALID_REFRESH_TOKEN',
        })
        await expect(instance.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
          code: 'INVALID_REFRESH_TOKEN',
        })
      }
      report.push(
        `refresh: 1 of ${results.length} simultaneous redemptions succeeded, ${refused.length} refused ` +
          `(${refused.filter((code) => code === 'REFRESH_TOKEN_REUSED').length} as reuse), chain revoked`,
      )
    })

    it(`one TOTP code sent ${TOTP_TRIES_PER_INSTANCE} times at once to each instance: accepted once`, async () => {
      const { secret } = await t.a.generateTotpKey('enroller')
      const code = await totpCode(secret, t.clock())
      const results = await Promise.allSettled(
        t.both.flatMap((instance) =>
          Array.from({ length: TOTP_TRIES_PER_INSTANCE }, () => instance.verifyTotp('enroller', code)),
        ),
      )
      const accepted = results.filter((result) => result.status === 'fulfilled')
      const refused = results.flatMap((result) =>
        result.status === 'rejected' ? [codeOf(result.reason)] : [],
      )
      expect(accepted).toHaveLength(1)
      for (const refusal of refused) expect(['INVALID_TOTP_CODE', 'RATE_LIMITED']).toContain(refusal)
      // Enabled for both instances, and the code is spent on both.
      for (const instance of t.both) {
        await expect(instance.generateTotpKey('enroller')).rejects.toMatchObject({
          code: 'TOTP_ALREADY_ENABLED',
        })
        await expect(instance.verifyTotp('enroller', code)).rejects.toBeInstanceOf(KeywardError)
      }
      report.push(`totp: 1 of ${results.length} simultaneous verifications of one code accepted`)
    })
  })
}

sameUser('the memory store', async () => {
  const store = memoryStore()
  return { stores: [store, store], eventsAreSynchronous: true, teardown: async () => {} }
})

sameUser('PGlite', async () => {
  const db = new PGlite()
  await migrate(db)
  // PGlite is one process: two instances are two stores over the same database.
  return {
    stores: [postgresStore({ client: db }), postgresStore({ client: db })],
    eventsAreSynchronous: false,
    teardown: () => db.close(),
  }
})

describeWith('DATABASE_URL', 'same user on PostgreSQL', (url) => {
  sameUser('PostgreSQL', async () => {
    const schema = randomSchema()
    const pools = [new Pool({ connectionString: url }), new Pool({ connectionString: url })] as const
    await migrate(pools[0], { schema })
    return {
      stores: [postgresStore({ client: pools[0], schema }), postgresStore({ client: pools[1], schema })],
      eventsAreSynchronous: false,
      async teardown() {
        await pools[0].query(`DROP SCHEMA "${schema}" CASCADE`)
        await Promise.all(pools.map((pool) => pool.end()))
      },
    }
  })
})

describeWith('REDIS_URL', 'same user on Redis', (url) => {
  sameUser('Redis', async () => {
    const prefix = randomPrefix()
    const clients = [new Redis(url), new Redis(url)] as const
    return {
      stores: [redisStore({ client: clients[0], prefix }), redisStore({ client: clients[1], prefix })],
      eventsAreSynchronous: false,
      async teardown() {
        await deleteUnder(clients[0], prefix)
        await Promise.all(clients.map((client) => client.quit()))
      },
    }
  })
})
