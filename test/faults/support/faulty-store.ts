/**
 * A real store behind a proxy that counts every call keyward waits for and makes call number N
 * fail in one of four ways. `pruneExpired` (background work, never part of an answer) passes
 * through uncounted. `subscribe` is left out: the instance under test hears no store event, so
 * what it keeps in its cache after a failed call is its own doing (a third-party store may have
 * no channel; a real one may have lost it).
 */
import type { KeyStore } from '@keyward/core'
import {
  REQUIRED_STORE_METHODS,
  type RequiredStoreMethod,
} from '../../../packages/core/src/store/required-methods.js'

export type FaultMode =
  /** The call rejects before the store does anything. */
  | 'reject'
  /** The method throws synchronously instead of returning a promise. */
  | 'throw'
  /** The call never settles: only keyward's storeTimeout ends it. */
  | 'hang'
  /** The store does the work, then the reply is lost (a timeout after the commit). */
  | 'lost'

export const FAULT_MODES: readonly FaultMode[] = ['reject', 'throw', 'hang', 'lost']

export type StoreMethod = RequiredStoreMethod

export interface StoreCall {
  readonly method: StoreMethod
  readonly args: readonly unknown[]
}

export interface FaultyStore {
  readonly store: KeyStore
  /** Every counted call since the last `reset`, in the order they were made. */
  readonly calls: StoreCall[]
  /** The error made for the faulted call, once it was made. */
  readonly injected: Error | undefined
  /** Starts counting from zero, with call `n` failing as `mode`. */
  arm(n: number, mode: FaultMode): void
  /** Starts counting from zero, with no call failing. */
  reset(): void
}

/** Every call a request may wait for: the store's required methods. */
const METHODS: readonly StoreMethod[] = REQUIRED_STORE_METHODS

export function faultyStore(inner: KeyStore): FaultyStore {
  let calls: StoreCall[] = []
  let fault: { n: number; mode: FaultMode } | undefined
  let injected: Error | undefined

  const counted =
    (method: StoreMethod) =>
    (...args: unknown[]): Promise<unknown> => {
      calls.push({ method, args })
      const call = () => (inner[method] as (...a: unknown[]) => Promise<unknown>).apply(inner, args)
      if (fault === undefined || calls.length !== fault.n) return call()
      injected = new Error(`injected fault: ${method}, store call ${fault.n} (${fault.mode})`)
      const error = injected
      switch (fault.mode) {
        case 'reject':
          return Promise.reject(error)
        case 'throw':
          throw error
        case 'hang':
          return new Promise(() => {})
        case 'lost':
          return call().then(() => Promise.reject(error))
      }
    }

  const store = Object.fromEntries(METHODS.map((method) => [method, counted(method)])) as unknown as KeyStore
  if (inner.pruneExpired) store.pruneExpired = inner.pruneExpired.bind(inner)

  return {
    store,
    get calls() {
      return calls
    },
    get injected() {
      return injected
    },
    arm(n, mode) {
      calls = []
      injected = undefined
      fault = { n, mode }
    },
    reset() {
      calls = []
      injected = undefined
      fault = undefined
    },
  }
}
