/** keyward's errors as a host's logs show them: the name, the message, the cause. */
import { memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

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
})
