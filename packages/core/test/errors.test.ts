/** keyward's errors as a host's logs show them: the name, the message, the cause. */
import { createKeyward, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { SECRET, setup } from './support.js'

const thrownBy = (attempt: () => unknown): unknown => {
  try {
    attempt()
  } catch (error) {
    return error
  }
  throw new Error('nothing was thrown')
}

describe('errors, as logged', () => {
  it("a store failure says so and carries the store's own error; a refused input carries no cause", async () => {
    const outage = new Error('connection refused')
    const { keyward } = setup({ store: { ...memoryStore(), findKeyByDigest: () => Promise.reject(outage) } })
    const failed = await keyward.verifyKey('ms-0123456789abcdef0123456789abcdef').catch((error) => error)
    expect(failed).toMatchObject({ name: 'StoreUnavailableError', message: 'The key store is unavailable' })
    expect(failed.cause).toBe(outage)

    const refused = await keyward.issueKey('', { name: 'ci' }).catch((error) => error)
    expect(refused).toMatchObject({ code: 'INVALID_INPUT' })
    // An own `cause` of undefined would still show in a log, as `[cause]: undefined`.
    expect('cause' in refused).toBe(false)
  })

  // JSON would show both as null, hiding which number was refused.
  it.each([Number.NaN, Number.POSITIVE_INFINITY])(
    'a configuration error goes by its own name and shows the refused %s as it was given',
    (bodyLimit) => {
      const error = thrownBy(() =>
        createKeyward({ jwtSecret: SECRET, users: { get: () => null }, bodyLimit }),
      )
      expect(String(error)).toBe(
        `KeywardConfigError: keyward: option "bodyLimit" must be a positive integer (got ${bodyLimit})`,
      )
    },
  )
})
