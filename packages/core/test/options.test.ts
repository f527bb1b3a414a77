import { createKeyward, KeywardConfigError, type KeywardOptions } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { SECRET } from './support.js'

const users = { get: () => null }
const valid: KeywardOptions = { jwtSecret: SECRET, users }

describe('options are checked at start-up', () => {
  it.each<[string, Partial<KeywardOptions> & Record<string, unknown>, RegExp]>([
    ['a missing secret', { jwtSecret: undefined }, /jwtSecret.*required/],
    ['a short secret', { jwtSecret: 'x'.repeat(31) }, /jwtSecret.*at least 32 bytes \(got 31\)/],
    ['missing users', { users: undefined }, /users.*required/],
    ['a malformed key lifetime', { keyLifetime: '3 months' }, /keyLifetime.*lifetime/],
    ['a zero key lifetime', { keyLifetime: '0d' }, /keyLifetime/],
    ['a token lifetime in months', { authTokenLifetime: '1mo' }, /authTokenLifetime.*fixed length/],
    ['a bad prefix', { keyPrefix: 'has space' }, /keyPrefix/],
    ['a bad base path', { basePath: 'no-slash' }, /basePath/],
    ['a relative base URL', { baseUrl: '/api' }, /baseUrl/],
    ['a short TOTP encryption key', { totp: { encryptionKey: 'short' } }, /totp.encryptionKey.*32 bytes/],
    ['a zero cache size', { cache: { max: 0 } }, /cache.max/],
    [
      'a refresh lifetime shorter than the auth token',
      { refreshTokenLifetime: '1m' },
      /refreshTokenLifetime/,
    ],
    ['a store without the interface', { store: {} as never }, /store/],
  ])('rejects %s with a KeywardConfigError', (_, override, message) => {
    const attempt = () => createKeyward({ ...valid, ...override } as KeywardOptions)
    expect(attempt).toThrow(KeywardConfigError)
    expect(attempt).toThrow(message)
  })

  it('is a TypeError with a stable code, naming the option', () => {
    try {
      createKeyward({ ...valid, jwtSecret: 'short' })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError)
      expect(error).toMatchObject({ code: 'INVALID_OPTION', option: 'jwtSecret' })
    }
  })

  it("does not change the caller's options object", async () => {
    const options = Object.freeze({ ...valid, cache: Object.freeze({ max: 5 }) })
    const snapshot = JSON.stringify(options)
    const keyward = createKeyward(options)
    expect(JSON.stringify(options)).toBe(snapshot)
    await keyward.close()
  })

  it('accepts a 32-byte Uint8Array secret', async () => {
    const keyward = createKeyward({ ...valid, jwtSecret: new Uint8Array(32).fill(7) })
    await keyward.close()
  })
})
