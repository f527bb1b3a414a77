import { createKeyward, KeywardConfigError, type KeywardOptions, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { SECRET, setup } from './support.js'

const users = { get: () => null }
const valid: KeywardOptions = { jwtSecret: SECRET, users }
const alice = { get: (id: string) => (id === 'alice' ? { id, permissions: [] } : null) }

describe('options are checked at start-up', () => {
  it.each<[string, Partial<KeywardOptions> & Record<string, unknown>, RegExp]>([
    ['a missing secret', { jwtSecret: undefined }, /jwtSecret.*required/],
    ['a short secret', { jwtSecret: 'x'.repeat(31) }, /jwtSecret.*at least 32 bytes \(got 31\)/],
    ['missing users', { users: undefined }, /users.*required/],
    ['a malformed key lifetime', { keyLifetime: '3 months' }, /keyLifetime.*lifetime/],
    ['a zero key lifetime', { keyLifetime: '0d' }, /keyLifetime/],
    ['a key lifetime over 100 years', { keyLifetime: '101y' }, /keyLifetime.*at most 100 years/],
    ['a key lifetime of 36,526 days', { keyLifetime: '36526d' }, /keyLifetime.*at most 100 years/],
    [
      'a refresh lifetime past a Date',
      { refreshTokenLifetime: '999999999y' },
      /refreshTokenLifetime.*100 years/,
    ],
    ['a lifetime object past 100 years', { keyLifetime: { months: 1201, milliseconds: 0 } }, /keyLifetime/],
    [
      'a lifetime object with negative months',
      { keyLifetime: { months: -1, milliseconds: 86_400_000 } },
      /keyLifetime/,
    ],
    [
      'a lifetime object with negative milliseconds',
      { keyLifetime: { months: 3, milliseconds: -1 } },
      /keyLifetime/,
    ],
    ['a token lifetime in months', { authTokenLifetime: '1mo' }, /authTokenLifetime.*fixed length/],
    ['a token lifetime under a second', { authTokenLifetime: '900ms' }, /authTokenLifetime.*at least 2s/],
    // exp counts whole seconds and never passes now + lifetime: a 1s token could live 1 ms.
    ['a token lifetime of one second', { authTokenLifetime: '1s' }, /authTokenLifetime.*at least 2s/],
    ['a usage batch longer than a timer', { lastUsedResolution: '25d' }, /lastUsedResolution.*at most 24d/],
    ['a store timeout longer than a timer', { storeTimeout: '25d' }, /storeTimeout.*at most 24d/],
    ['a store timeout in months', { storeTimeout: '1mo' }, /storeTimeout.*fixed length/],
    ['a store timeout that is not a duration', { storeTimeout: 'soon' }, /storeTimeout/],
    ['a cache of over a million entries', { cache: { max: 1_000_001 } }, /cache.max.*at most 1,000,000/],
    ['a bad prefix', { keyPrefix: 'has space' }, /keyPrefix.*1-16 letters, digits/],
    ['a bad base path', { basePath: 'no-slash' }, /basePath/],
    ['a relative base URL', { baseUrl: '/api' }, /baseUrl/],
    ['a short TOTP encryption key', { totp: { encryptionKey: 'short' } }, /totp.encryptionKey.*32 bytes/],
    ['a zero cache size', { cache: { max: 0 } }, /cache.max/],
    ['a blank issuer', { issuer: '   ' }, /issuer.*non-empty/],
    [
      'a refresh lifetime shorter than the auth token',
      { refreshTokenLifetime: '1m' },
      /"refreshTokenLifetime" must not be shorter than authTokenLifetime$/,
    ],
    [
      'a session shorter than the auth token',
      { sessionLifetime: '10m' },
      /sessionLifetime.*authTokenLifetime/,
    ],
    ['a session lifetime that is not a duration', { sessionLifetime: 'forever' }, /sessionLifetime/],
    ['a session lifetime of true', { sessionLifetime: true as never }, /sessionLifetime/],
    ['a session lifetime over 100 years', { sessionLifetime: '101y' }, /sessionLifetime.*100 years/],
    ['a key limit of 0', { maxKeysPerUser: 0 }, /maxKeysPerUser.*positive integer/],
    ['a fractional key limit', { maxKeysPerUser: 1.5 }, /maxKeysPerUser/],
    ['a key limit given as text', { maxKeysPerUser: '5' as never }, /maxKeysPerUser/],
    ['a key limit of true', { maxKeysPerUser: true as never }, /maxKeysPerUser/],
    ['a store without the interface', { store: {} as never }, /store/],
    // What a JavaScript caller may pass, each of which passed or failed later, elsewhere, before.
    [
      'a store missing methods, named',
      { store: { findKeyByDigest: async () => null } as never },
      /"store" must implement the KeyStore interface \(missing insertKey, findKeyById, listKeys, deleteKey,/,
    ],
    [
      'a store of an older interface, without revokeUserRefreshTokens',
      { store: { ...memoryStore(), revokeUserRefreshTokens: undefined } as never },
      /"store" must implement the KeyStore interface \(missing revokeUserRefreshTokens\)/,
    ],
    ['a key prefix that is a number', { keyPrefix: 5 as never }, /keyPrefix/],
    [
      'previous key prefixes given as one',
      { previousKeyPrefixes: 'ms-' as never },
      /"previousKeyPrefixes" must be an array/,
    ],
    [
      'a bad previous key prefix',
      { previousKeyPrefixes: ['ok_', 'has space'] },
      /previousKeyPrefixes\[1\].*letters/,
    ],
    [
      'the key prefix among the previous ones',
      { previousKeyPrefixes: ['ms-'] },
      /previousKeyPrefixes\[0\].*keyPrefix itself/,
    ],
    [
      "a previous key prefix read as a refresh token's",
      { previousKeyPrefixes: ['rt_live'] },
      /previousKeyPrefixes\[0\].*"rt_"/,
    ],
    ['a base path that is a number', { basePath: 5 as never }, /"basePath" must be a path/],
    [
      'a base URL that is a URL object',
      { baseUrl: new URL('https://api.example') as never },
      /baseUrl.*as a string/,
    ],
    ['a base URL of another scheme', { baseUrl: 'javascript:alert(1)' }, /baseUrl.*http or https/],
    ['a clock that is a time', { clock: Date.now() as never }, /"clock" must be a function/],
    // A Date passes arithmetic (issuing a key worked) but not jose's: every exchange answered 500.
    [
      'a clock that answers a Date',
      { clock: (() => new Date()) as never },
      /"clock" must be a function returning epoch milliseconds/,
    ],
    ['a cache size alone', { cache: 1000 as never }, /"cache" must be an object \(got 1000\)/],
    [
      'a cache size given as text',
      { cache: { max: '1000' as never } },
      /cache.max.*positive integer \(got "1000"\)/,
    ],
    ['a TOTP option that is not an object', { totp: 'x' as never }, /"totp" must be an object/],
    [
      'a rate limit of true',
      { rateLimit: true as never },
      /"rateLimit" must be an object or false \(got true\)/,
    ],
    ['a rate limit of null', { rateLimit: null as never }, /"rateLimit" must be an object or false/],
    [
      'an address limit of true',
      { rateLimit: { perAddress: true as never } },
      /rateLimit.perAddress.*object or false/,
    ],
    [
      'a TOTP limit of false',
      { rateLimit: { totp: false as never } },
      /"rateLimit.totp" must be an object \(got false\)/,
    ],
    ['a key lifetime of null', { keyLifetime: null as never }, /keyLifetime.*\(got null\)/],
    ['a session lifetime of null', { sessionLifetime: null as never }, /sessionLifetime.*\(got null\)/],
    ['a store timeout of null', { storeTimeout: null as never }, /storeTimeout.*\(got null\)/],
    ['a key limit of null', { maxKeysPerUser: null as never }, /maxKeysPerUser.*\(got null\)/],
    // Each of these failed, or failed as a plain TypeError naming no option, before its check.
    [
      'a TOTP encryption key that is a number',
      { totp: { encryptionKey: 42 as never } },
      /"totp.encryptionKey" must be a string or a Uint8Array of 32 bytes$/,
    ],
    [
      'a TOTP encryption key in a bare ArrayBuffer',
      { totp: { encryptionKey: new ArrayBuffer(32) as never } },
      /"totp.encryptionKey" must be a string or a Uint8Array of 32 bytes$/,
    ],
    ['a clock that answers NaN', { clock: () => Number.NaN }, /"clock" must be a function returning/],
    ['a clock that answers Infinity', { clock: () => Infinity }, /"clock" must be a function returning/],
    ['a store of null', { store: null as never }, /"store" must implement the KeyStore interface$/],
    [
      'a store given as a URL',
      { store: 'redis://x' as never },
      /"store" must implement the KeyStore interface$/,
    ],
    ['an issuer that is a number', { issuer: 42 as never }, /"issuer" must be a non-empty string/],
    ['an audience that is a number', { audience: 42 as never }, /"audience" must be a non-empty string/],
    [
      'a TOTP issuer that is a number',
      { totp: { issuer: 42 as never } },
      /"totp.issuer" must be a non-empty/,
    ],
    ['an event hook that is no function', { onEvent: 'log' as never }, /"onEvent" must be a function/],
    ['a base URL of a scheme ending in http', { baseUrl: 'xhttp://api.example' }, /baseUrl.*http or https/],
    [
      'a previous key prefix that is a number',
      { previousKeyPrefixes: [5] as never },
      /"previousKeyPrefixes\[0\]" must be 1-16/,
    ],
    // A path is checked whole: its start and its end.
    [
      'a base path with a slash inside but none leading',
      { basePath: 'auth/v1' },
      /"basePath" must be a path starting with "\/"$/,
    ],
    ['a base path with a space', { basePath: '/auth v1' }, /"basePath" must be a path/],
    // Each option named in its own refusal, not only the ones most often set.
    [
      'a usage batch that is not a duration',
      { lastUsedResolution: 'soon' },
      /"lastUsedResolution" must be a lifetime/,
    ],
    ['a cache lifetime that is not a duration', { cache: { ttl: 'soon' } }, /"cache.ttl" must be a lifetime/],
    ['a body limit of 0', { bodyLimit: 0 }, /"bodyLimit" must be a positive integer \(got 0\)/],
    [
      'an account limit of true',
      { rateLimit: { perAccount: true as never } },
      /"rateLimit.perAccount" must be an object or false \(got true\)/,
    ],
    [
      'an address limit of no attempts',
      { rateLimit: { perAddress: { max: 0 } } },
      /"rateLimit.perAddress.max" must be a positive integer/,
    ],
    [
      'an address window in months',
      { rateLimit: { perAddress: { window: '1mo' } } },
      /"rateLimit.perAddress.window" must be a fixed length/,
    ],
    [
      'an account limit of no failures',
      { rateLimit: { perAccount: { max: 0 } } },
      /"rateLimit.perAccount.max" must be a positive integer/,
    ],
    [
      'an account lockout that is not a duration',
      { rateLimit: { perAccount: { lockout: 'soon' } } },
      /"rateLimit.perAccount.lockout" must be a lifetime/,
    ],
    [
      'a TOTP limit of no codes',
      { rateLimit: { totp: { max: 0 } } },
      /"rateLimit.totp.max" must be a positive integer/,
    ],
    [
      'a TOTP delay that is not a duration',
      { rateLimit: { totp: { baseDelay: 'soon' } } },
      /"rateLimit.totp.baseDelay" must be a lifetime/,
    ],
    // A timer waits at most 2 ** 31 - 1 ms: one more is past it.
    [
      'a usage batch a millisecond longer than a timer',
      { lastUsedResolution: { months: 0, milliseconds: 2 ** 31 } },
      /"lastUsedResolution" must be at most 24d/,
    ],
    [
      'a store timeout a millisecond longer than a timer',
      { storeTimeout: { months: 0, milliseconds: 2 ** 31 } },
      /"storeTimeout" must be at most 24d/,
    ],
  ])('rejects %s with a KeywardConfigError', (_, override, message) => {
    const attempt = () => createKeyward({ ...valid, ...override } as KeywardOptions)
    expect(attempt).toThrow(KeywardConfigError)
    expect(attempt).toThrow(message)
  })

  it('accepts lifetimes up to 100 years, and their keys expire on that date', async () => {
    for (const keyLifetime of ['100y', '1200mo', '36525d', { months: 1199, milliseconds: 30 * 86_400_000 }]) {
      const keyward = createKeyward({ ...valid, keyLifetime })
      await keyward.close()
    }
    const keyward = createKeyward({
      ...valid,
      users: { get: (id) => ({ id, permissions: [] }) },
      keyLifetime: '100y',
      clock: () => Date.parse('2026-12-01T00:00:00Z'),
    })
    const issued = await keyward.issueKey('alice', { name: 'century' })
    expect(issued.expiresOn.toISOString()).toBe('2126-12-01T00:00:00.000Z')
    await keyward.close()
  })

  it('takes a month as 31 days against the auth token: a month of refresh or session outlasts a day of token', async () => {
    const month = { refreshTokenLifetime: '1mo', sessionLifetime: '1mo' } as const
    await createKeyward({ ...valid, ...month, authTokenLifetime: '31d' }).close()
    expect(() => createKeyward({ ...valid, refreshTokenLifetime: '1mo', authTokenLifetime: '32d' })).toThrow(
      /refreshTokenLifetime/,
    )
  })

  it('refuses options that are no object, naming them', () => {
    for (const options of [null, undefined, 'jwtSecret']) {
      expect(() => createKeyward(options as never)).toThrow(/option "options" must be an object/)
    }
  })

  it("takes each bound at its edge: a 2s auth token, a timer's longest wait, an http base URL", async () => {
    const longestWait = { months: 0, milliseconds: 2 ** 31 - 1 }
    for (const edge of [
      { authTokenLifetime: '2s' },
      { lastUsedResolution: longestWait },
      { storeTimeout: longestWait },
      { baseUrl: 'http://localhost:3000' },
    ]) {
      await createKeyward({ ...valid, ...edge }).close()
    }
  })

  it('takes a cache of a million entries, the most it allows', async () => {
    await createKeyward({ ...valid, cache: { max: 1_000_000 } }).close()
  })

  it('strips the trailing slashes of basePath and baseUrl', async () => {
    const { keyward } = setup({ basePath: '/auth//', baseUrl: 'https://api.example/v1//' })
    expect(keyward.basePath).toBe('/auth')
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const issued = await keyward.handle({
      method: 'POST',
      path: '/auth/accounts/api-key',
      query: {},
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{"key_name":"cli"}',
    })
    const { data } = (issued?.body ?? {}) as { data: { creds: string } }
    expect(JSON.parse(data.creds)).toMatchObject({ base_url: 'https://api.example/v1' })
    await keyward.close()
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

  it('accepts a 32-byte Uint8Array secret, and signs with it', async () => {
    const secret = new Uint8Array(32).fill(7)
    const keyward = createKeyward({ ...valid, jwtSecret: secret, users: alice })
    const other = createKeyward({ ...valid, jwtSecret: new Uint8Array(32).fill(8), users: alice })
    const { auth_token } = await keyward.issueTokens('alice')
    const headers = { authorization: `Bearer ${auth_token}` }
    expect((await keyward.authenticate({ headers })).ok).toBe(true)
    expect((await other.authenticate({ headers })).ok).toBe(false)
    await Promise.all([keyward.close(), other.close()])
  })
})
