/** What a store passes to the conformance suite, and what the runner hands each of its blocks. */
import type { KeyStore } from '../store/types.js'

export interface StoreUnderTest {
  readonly store: KeyStore
  /**
   * Everything the backing store holds, as text (rows, values), so the suite can prove that
   * no key, token or TOTP secret is stored in plaintext. Omit it only if the store has no
   * way to be read directly.
   */
  dump?(): Promise<string>
  /** A second handle on the same backing store, as another instance would have (for cross-instance events). */
  peer?(): Promise<KeyStore>
  teardown?(): Promise<void>
}

export interface StoreConformanceOptions {
  /** Shown in the suite's title. */
  readonly name: string
  /** Builds a store over fresh, empty storage. Called once for the suite. */
  setup(): Promise<StoreUnderTest>
  /** Parallel operations in the concurrency tests. Default 200. */
  readonly concurrency?: number
  /**
   * The store deletes a key record once its `expiresOn` has passed (on its own clock), so
   * `listKeys` cannot include expired keys. keyward filters expired keys itself, so this is
   * allowed; the suite then checks that an expired key is really gone.
   */
  readonly dropsExpiredKeys?: boolean
}

/**
 * What the runner hands each block of the suite. `subject` and `store` exist only once the
 * suite's setup has run, so tests read them through this object, never copy them while
 * the blocks are being declared.
 */
export interface ConformanceSuite {
  readonly options: StoreConformanceOptions
  /** Parallel operations in the concurrency tests. */
  readonly parallel: number
  readonly subject: StoreUnderTest
  readonly store: KeyStore
  /** The second instance, made once; the store itself when the setup gives none. */
  readonly peer: () => Promise<KeyStore>
}
