/**
 * Guessing TOTP codes with a burst of concurrent requests, over each store: memory, PGlite,
 * PostgreSQL and Redis. Each attempt is counted by the store's atomic increment before its code
 * is checked, so of 200 wrong codes sent at once only `totp.max` are checked (INVALID_TOTP_CODE)
 * and the rest refused (RATE_LIMITED); after the delay one more is checked, and a right code
 * within the limit is accepted.
 */
import { PGlite } from '@electric-sql/pglite'
import { createKeyward, type KeyStore, type Keyward, KeywardError, memoryStore } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import { Pool } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomSchema } from '../../packages/store-postgres/test/support.js'
import { deleteUnder, randomPrefix } from '../../packages/store-redis/test/support.js'
import { JWT_SECRET, manualClock } from '../contract/support/fixture.js'
import { totpCode } from '../contract/support/totp.js'
import { describeWith } from '../support/services.js'

const BURST = 200
const MAX = 5

interface Subject {
  readonly store: KeyStore
  teardown(): Promise<void>
}

/** `count` distinct codes, none valid within a step of `now`. */
async function wrongCodes(secret: string, now: number, count: number): Promise<string[]> {
  const valid = new Set(await Promise.all([-30_000, 0, 30_000].map((drift) => totpCode(secret, now + drift))))
  const codes: string[] = []
  for (let n = 100_000; codes.length < count; n += 7) if (!valid.has(String(n))) codes.push(String(n))
  return codes
}

async function tally(keyward: Keyward, userId: string, codes: readonly string[]) {
  const results = await Promise.allSettled(codes.map((code) => keyward.verifyTotp(userId, code)))
  const counts: Record<string, number> = {}
  for (const result of results) {
    const outcome =
      result.status === 'fulfilled'
        ? 'accepted'
        : result.reason instanceof KeywardError
          ? result.reason.code
          : String(result.reason)
    counts[outcome] = (counts[outcome] ?? 0) + 1
  }
  return counts
}

function totpBurst(name: string, open: () => Promise<Subject>): void {
  describe(`TOTP guesses in a burst on ${name}`, () => {
    let subject: Subject
    let keyward: Keyward
    // Frozen at the real time: Redis expires counters on its own clock.
    const clock = manualClock(Math.floor(Date.now() / 1000) * 1000)
    const report: string[] = []

    beforeAll(async () => {
      subject = await open()
      keyward = createKeyward({
        jwtSecret: JWT_SECRET,
        store: subject.store,
        clock,
        users: { get: (id) => ({ id, permissions: [] }) },
        rateLimit: { totp: { max: MAX, baseDelay: '30s' } },
      })
    })

    afterAll(async () => {
      await keyward?.close()
      await subject?.teardown()
      console.log(`[totp-burst] ${name}: ${report.join('; ')}`)
    })

    it(`checks ${MAX} of ${BURST} wrong codes sent at once, then one per delay`, async () => {
      const { secret } = await keyward.generateTotpKey('guessed')
      const first = await tally(keyward, 'guessed', await wrongCodes(secret, clock(), BURST))
      expect(first).toEqual({ INVALID_TOTP_CODE: MAX, RATE_LIMITED: BURST - MAX })
      await expect(keyward.verifyTotp('guessed', await totpCode(secret, clock()))).rejects.toMatchObject({
        code: 'RATE_LIMITED',
        retryAfter: 30,
      })
      clock.advance(30_000)
      const second = await tally(keyward, 'guessed', await wrongCodes(secret, clock(), BURST))
      expect(second).toEqual({ INVALID_TOTP_CODE: 1, RATE_LIMITED: BURST - 1 })
      report.push(
        `${BURST} at once: ${first.INVALID_TOTP_CODE} checked; after the delay: ${second.INVALID_TOTP_CODE} checked`,
      )
    })

    it('accepts a right code sent after wrong ones within the limit', async () => {
      const { secret } = await keyward.generateTotpKey('owner')
      expect(await tally(keyward, 'owner', await wrongCodes(secret, clock(), MAX - 1))).toEqual({
        INVALID_TOTP_CODE: MAX - 1,
      })
      await keyward.verifyTotp('owner', await totpCode(secret, clock()))
      await expect(keyward.generateTotpKey('owner')).rejects.toMatchObject({ code: 'TOTP_ALREADY_ENABLED' })
    })
  })
}

totpBurst('the memory store', async () => ({ store: memoryStore(), teardown: async () => {} }))

totpBurst('PGlite', async () => {
  const db = new PGlite()
  await migrate(db)
  return { store: postgresStore({ client: db }), teardown: () => db.close() }
})

describeWith('DATABASE_URL', 'TOTP burst on PostgreSQL', (url) => {
  totpBurst('PostgreSQL', async () => {
    const schema = randomSchema()
    const pool = new Pool({ connectionString: url })
    await migrate(pool, { schema })
    return {
      store: postgresStore({ client: pool, schema }),
      async teardown() {
        await pool.query(`DROP SCHEMA "${schema}" CASCADE`)
        await pool.end()
      },
    }
  })
})

describeWith('REDIS_URL', 'TOTP burst on Redis', (url) => {
  totpBurst('Redis', async () => {
    const prefix = randomPrefix()
    const client = new Redis(url)
    return {
      store: redisStore({ client, prefix }),
      async teardown() {
        await deleteUnder(client, prefix)
        await client.quit()
      },
    }
  })
})
