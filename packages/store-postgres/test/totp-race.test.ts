import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { gatedPair } from './gated-pair.js'

/**
 * Two first codes of one pending TOTP enrolment, on two instances, the second arriving while the
 * first's transaction is still open: their transactions interleaved by the gate (gated-pair.ts).
 */
describeWith('DATABASE_URL', 'postgres store: a TOTP enrolment enabled by two codes at once', (url) => {
  const { stores, waitsFor, withGate } = gatedPair(url, ['first', 'second'])
  const { first, second } = stores

  it('says the second code, arriving while the first enables the enrolment, was accepted, not that it enabled it too', async () => {
    const userId = 'enrolling'
    await first.putPendingTotp({
      userId,
      sealedSecret: 'v1.sealed',
      enabled: false,
      lastStep: null,
      createdOn: new Date(),
    })
    const outcomes = await withGate('keyward_totp', 'AFTER UPDATE', async (open) => {
      // The first code enables the enrolment, then waits at the gate with its transaction open.
      const enabling = first.acceptTotpStep(userId, 'v1.sealed', 100)
      await waitsFor('first', 'gate')
      // The next code arrives meanwhile, and waits for the row.
      const following = second.acceptTotpStep(userId, 'v1.sealed', 101)
      await waitsFor('second', 'first')
      await open()
      return [await enabling, await following]
    })
    // Told 'enabled' twice, keyward would emit totp.enabled twice for one enrolment.
    expect(outcomes).toEqual(['enabled', 'accepted'])
    expect(await first.getTotp(userId)).toMatchObject({ enabled: true, lastStep: 101 })
  })
})
