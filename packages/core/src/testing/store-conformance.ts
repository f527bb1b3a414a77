/**
 * The runner: sets the store up once, then runs each block of the contract against it, in the
 * order below. Each block lives in its own module and says there what it checks.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import type { KeyStore } from '../store/types.js'
import { describePruning, describeSecretsAtRest } from './at-rest.js'
import { describeCounters } from './counters.js'
import { describeEvents } from './events.js'
import { describeKeys } from './keys.js'
import { describeRefreshTokens } from './refresh-tokens.js'
import type { ConformanceSuite, StoreConformanceOptions, StoreUnderTest } from './suite.js'
import { describeTotp } from './totp.js'

/**
 * The KeyStore contract as a vitest suite. Any store, including a third party's, runs it with:
 *
 *   runStoreConformance({ name: 'my store', setup: async () => ({ store: myStore(), dump }) })
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const parallel = options.concurrency ?? 200

  describe(`KeyStore conformance: ${options.name}`, () => {
    let subject: StoreUnderTest
    let store: KeyStore
    let peerStore: Promise<KeyStore> | undefined
    const suite: ConformanceSuite = {
      options,
      parallel,
      get subject() {
        return subject
      },
      get store() {
        return store
      },
      peer: () => {
        peerStore ??= subject.peer ? subject.peer() : Promise.resolve(store)
        return peerStore
      },
    }

    beforeAll(async () => {
      subject = await options.setup()
      store = subject.store
    })
    afterAll(async () => {
      await subject?.teardown?.()
    })

    describeKeys(suite)
    describeRefreshTokens(suite)
    describeTotp(suite)
    describePruning(suite)
    describeCounters(suite)
    describeEvents(suite)
    describeSecretsAtRest(suite)
  })
}
