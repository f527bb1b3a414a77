import type { KeyStore } from './types.js'

/** The methods every store has; `pruneExpired` and `subscribe` are optional. */
export type RequiredStoreMethod = Exclude<keyof KeyStore, 'pruneExpired' | 'subscribe'>

/**
 * Every required method, named once: createKeyward refuses a store that lacks one, and each is
 * bounded by `storeTimeout`. A method added to KeyStore fails to compile until it is named here.
 */
export const REQUIRED_STORE_METHODS = Object.keys({
  insertKey: true,
  findKeyByDigest: true,
  findKeyById: true,
  listKeys: true,
  deleteKey: true,
  recordKeyUsage: true,
  insertRefreshToken: true,
  findRefreshToken: true,
  rotateRefreshToken: true,
  revokeUserRefreshTokens: true,
  getTotp: true,
  putPendingTotp: true,
  acceptTotpStep: true,
  deleteTotp: true,
  incrementCounter: true,
  peekCounter: true,
  resetCounter: true,
} satisfies Record<RequiredStoreMethod, true>) as RequiredStoreMethod[]
