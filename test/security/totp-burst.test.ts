/**
 * Guessing TOTP codes with a burst of concurrent requests, over each store: memory, PGlite,
 * PostgreSQL and Redis. Each attempt is counted by the store's atomic increment before its code
 * is checked, so of 200 wrong codes sent at once only `totp.max` are checked (INVALID_TOTP_CODE)
 * and the rest refused (RATE_LIMITED); after the delay one more is checked, and a right code
 * within the limit is accepted.
 */
import { createKeyward, type Keyward } from '@keyward/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { burst, wrongCodes } from '../../packages/core/test/support.js'
import { JWT_SECRET, manualClock } from '../contract/support/fixture.js'
import { totpCode } from '../contract/support/totp.js'
import { eachStore, type OpenStore } from '../support/stores.js'

const BURST = 200
const MAX = 5

/** Sends every code at once; the answers tallied by error code. */
const tally = async (keyward: Keyward, userId: string, codes: readonly string[]) =>
  (await burst((code) => keyward.verifyTotp(userId, code), codes)).tally

function totpBurst(name: string, open: () => Promise<OpenStore>): void {
  describe(`TOTP guesses in a burst on ${name}`, () => {
    let subject: OpenStore
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
      await subject?.close()
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

eachStore(totpBurst)
