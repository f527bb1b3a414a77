import { type CounterHit, memoryStore } from '@keyward/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BEARER_VALUE_START,
  plainBearerLine,
  readCredential,
  readRawCredential,
} from '../src/guard/credentials.js'
import { instrumentedStore, MINUTE, setup } from './support.js'

const KEY = 'ms-0123456789abcdef0123456789abcdef'

describe('reading the credential', () => {
  it.each<[Record<string, string | string[]>, unknown]>([
    [{ 'x-api-key': KEY }, { kind: 'api_key', value: KEY }],
    [{ authorization: `Bearer ${KEY}` }, { kind: 'api_key', value: KEY }],
    [{ authorization: `bearer ${KEY}` }, { kind: 'api_key', value: KEY }],
    [{ authorization: `BEARER   ${KEY}  ` }, { kind: 'api_key', value: KEY }],
    [{ authorization: `Bearer  ${KEY}` }, { kind: 'api_key', value: KEY }],
    [{ authorization: `Bearer ${KEY} ` }, { kind: 'api_key', value: KEY }],
    [{ authorization: `Bearer ${KEY}\t` }, { kind: 'api_key', value: KEY }],
    // Headers whose names are as long as X-Api-Key's (9) or Authorization's (13) are neither.
    [
      { 'x-real-ip': '203.0.113.9', authorization: `Bearer ${KEY}` },
      { kind: 'api_key', value: KEY },
    ],
    [
      { authorization: `Bearer ${KEY}`, 'cache-control': 'no-cache' },
      { kind: 'api_key', value: KEY },
    ],
    [{ authorization: 'Bearer aaa.bbb.ccc' }, { kind: 'auth_token', value: 'aaa.bbb.ccc' }],
    // No prefix and no JWT dots: a key mistyped or of another prefix, refused as a key.
    [{ authorization: 'Bearer sk-0123456789abcdef' }, { kind: 'api_key', value: 'sk-0123456789abcdef' }],
    [{ authorization: 'Bearer junk' }, { kind: 'api_key', value: 'junk' }],
    // A refresh token sent in its stead is refused as an auth token.
    [{ authorization: `Bearer rt_${'A'.repeat(43)}` }, { kind: 'auth_token', value: `rt_${'A'.repeat(43)}` }],
    [
      { 'x-api-key': KEY, authorization: 'Bearer aaa.bbb.ccc' },
      { kind: 'api_key', value: KEY },
    ],
    [{}, { kind: 'none' }],
    [{ authorization: 'Basic dXNlcjpwYXNz' }, { kind: 'none' }],
    [{ authorization: `Digest ${KEY}` }, { kind: 'none' }],
    [{ authorization: 'Bearerish x' }, { kind: 'none' }],
    [{ authorization: 'Bearer' }, { kind: 'malformed', reason: 'Bearer needs a key or token' }],
    [{ authorization: 'Bearer    ' }, { kind: 'malformed', reason: 'Bearer needs a key or token' }],
    [{ 'x-api-key': '' }, { kind: 'malformed', reason: 'X-Api-Key is empty' }],
    [{ 'x-api-key': [KEY, KEY] }, { kind: 'malformed', reason: 'X-Api-Key must be sent once' }],
  ])('%j', (headers, expected) => {
    expect(readCredential(headers, 'ms-')).toEqual(expected)
    // The same from Node's raw header lines, with names in any case.
    const raw = Object.entries(headers).flatMap(([name, value]) =>
      [value].flat().flatMap((one) => [name.replace(/^./, (first) => first.toUpperCase()), one]),
    )
    expect(readRawCredential(raw, 'ms-')).toEqual(expected)
  })

  it("reads a bearer value of the key prefix as a key, even a prefix that starts as a refresh token's", () => {
    const key = `rt_${'0'.repeat(32)}`
    expect(readCredential({ authorization: `Bearer ${key}` }, 'rt_')).toEqual({ kind: 'api_key', value: key })
  })

  it('refuses a repeated Authorization header in raw headers (req.headers keeps only the first)', () => {
    const raw = ['Host', 'x', 'Authorization', `Bearer ${KEY}`, 'authorization', 'Bearer other']
    expect(readRawCredential(raw, 'ms-')).toEqual({
      kind: 'malformed',
      reason: 'Authorization must be sent once',
    })
  })
  it('reads a plain Bearer line (the warm path’s) only where the full reading finds the same credential', () => {
    // Authorization lines weighted up: a plain line is one Authorization among other headers.
    const names = fc.oneof(
      { arbitrary: fc.constantFrom('Authorization', 'authorization', 'AUTHORIZATION'), weight: 2 },
      { arbitrary: fc.constantFrom('X-Api-Key', 'x-api-key', 'X-API-KEY', 'Host'), weight: 1 },
    )
    // Plain Bearer values weighted up too, beside near misses and random text.
    const values = fc.oneof(
      { arbitrary: fc.constantFrom(`Bearer ${KEY}`, 'Bearer a.b.c'), weight: 2 },
      fc.constantFrom(KEY, 'bearer a.b.c', `Bearer  ${KEY}`, 'Bearer', 'Bearer ', ''),
      fc.constantFrom(' ', 'Basic a.b.c', `Bearer ${KEY} `, 'Bearer  a.b.c', 'a.b.c', `${KEY}0`),
      fc.string({ maxLength: 12 }),
    )
    let plain = 0
    fc.assert(
      fc.property(fc.array(fc.tuple(names, values), { maxLength: 4 }), (lines) => {
        const raw = lines.flat()
        const line = plainBearerLine(raw)
        if (line === undefined) return
        plain++
        const value = line.slice(BEARER_VALUE_START)
        const token = value.includes('.') || value.startsWith('rt_')
        const kind = value.startsWith('ms-') || !token ? 'api_key' : 'auth_token'
        expect(readRawCredential(raw, 'ms-')).toEqual({ kind, value })
      }),
      { numRuns: 2000 },
    )
    expect(plain).toBeGreaterThan(60)
  })
})

describe('the guard', () => {
  it('accepts X-Api-Key, Bearer with an API key, and Bearer with an auth token', async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const { auth_token } = await keyward.authenticateWithApiKey(key)
    for (const headers of [
      { 'x-api-key': key },
      { authorization: `Bearer ${key}` },
      { authorization: `Bearer ${auth_token}` },
    ]) {
      expect(await keyward.authenticate({ headers })).toMatchObject({
        ok: true,
        principal: { userId: 'alice', keyId: id },
      })
    }
  })

  it('requires every listed permission (403-class FORBIDDEN otherwise)', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const headers = { 'x-api-key': key }
    expect((await keyward.authenticate({ headers }, { permissions: ['agents:read'] })).ok).toBe(true)
    expect(await keyward.authenticate({ headers }, { permissions: ['agents:read', 'agents:write'] })).toEqual(
      {
        ok: false,
        failure: { code: 'FORBIDDEN' },
      },
    )
  })

  it('gives adapters the full error response: 401 with WWW-Authenticate, 400 for a malformed header, 403', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('bob', { name: 'ci' })
    const missing = await keyward.guard({ headers: {} })
    expect(missing).toMatchObject({
      ok: false,
      response: { status: 401, headers: { 'www-authenticate': 'Bearer realm="keyward"' } },
    })
    const bad = await keyward.guard({ headers: { 'x-api-key': KEY } })
    expect(bad).toMatchObject({
      ok: false,
      response: {
        status: 401,
        body: { error: 'Invalid API key', message: 'The provided API key is invalid or expired' },
        headers: { 'www-authenticate': 'Bearer realm="keyward", error="invalid_token"' },
      },
    })
    const malformed = await keyward.guard({ headers: { authorization: 'Bearer' } })
    expect(malformed).toMatchObject({ ok: false, response: { status: 400 } })
    const forbidden = await keyward.guard({ headers: { 'x-api-key': key } }, { permissions: ['agents:read'] })
    expect(forbidden).toMatchObject({
      ok: false,
      response: {
        status: 403,
        body: {
          error: 'Insufficient permissions',
          message: "Your API key doesn't have access to this resource",
        },
      },
    })
  })

  it('answers 503 when the store is down: never an accept', async () => {
    const { keyward } = setup({
      store: { ...memoryStore(), findKeyByDigest: () => Promise.reject(new Error('ECONNREFUSED')) },
    })
    const outcome = await keyward.guard({ headers: { 'x-api-key': KEY } })
    expect(outcome).toMatchObject({
      ok: false,
      response: { status: 503, body: { error: 'Service unavailable' } },
    })
    expect(JSON.stringify(outcome)).not.toContain('ECONNREFUSED')
  })

  it('makes no store write on the hot path', async () => {
    const { store, calls } = instrumentedStore()
    const writes = () => calls.filter((name) => !/^(find|get|list|peek|subscribe)/.test(name))
    const { keyward, clock } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { auth_token } = await keyward.authenticateWithApiKey(key)
    calls.length = 0
    for (let i = 0; i < 500; i++) {
      clock.advance(10)
      expect((await keyward.guard({ headers: { 'x-api-key': key } })).ok).toBe(true)
      expect((await keyward.guard({ headers: { authorization: `Bearer ${auth_token}` } })).ok).toBe(true)
    }
    expect(writes()).toEqual([])
  })
})

describe('failed-attempt limits per client address', () => {
  it('reads the client address from memory only when an address is blocked or a credential fails', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    let reads = 0
    const request = (apiKey: string) => ({
      headers: { 'x-api-key': apiKey },
      get ip() {
        reads++
        return '203.0.113.20'
      },
    })
    // A request that waits for the store reads it before waiting (a reset connection loses it).
    expect((await keyward.guard(request(key))).ok).toBe(true)
    expect(reads).toBe(1)
    reads = 0
    expect((await keyward.guard(request(key))).ok).toBe(true)
    expect(reads).toBe(0)
    expect((await keyward.guard(request(KEY))).ok).toBe(false)
    expect(reads).toBeGreaterThan(0)
    for (let i = 0; i < 60; i++) await keyward.guard(request(KEY))
    reads = 0
    // Now an address is blocked: every request's address is checked, even with a good key.
    expect((await keyward.guard(request(key))).ok).toBe(false)
    expect(reads).toBe(1)
  })

  it('stops reading addresses the moment the last block ends', async () => {
    const { keyward, clock } = setup({ rateLimit: { perAddress: { max: 1, window: '1m' } } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    let reads = 0
    const request = {
      headers: { 'x-api-key': key },
      get ip() {
        reads++
        return '198.51.100.1'
      },
    }
    await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '203.0.113.9' })
    expect((await keyward.guard(request)).ok).toBe(true)
    clock.advance(MINUTE - 1)
    reads = 0
    expect((await keyward.guard(request)).ok).toBe(true)
    expect(reads).toBeGreaterThan(0)
    clock.advance(1)
    reads = 0
    expect((await keyward.guard(request)).ok).toBe(true)
    expect(reads).toBe(0)
  })

  it('blocks an address after 60 failures in a minute with 429, Retry-After and RateLimit headers', async () => {
    const { keyward, clock } = setup()
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.9' }
    for (let i = 0; i < 60; i++) expect((await keyward.guard(attacker)).ok).toBe(false)
    const limited = await keyward.guard(attacker)
    expect(limited).toMatchObject({
      ok: false,
      response: {
        status: 429,
        body: {
          error: 'Rate limit exceeded',
          message: 'Too many requests. Please try again later',
          retry_after: 60,
        },
        headers: {
          'retry-after': '60',
          'ratelimit-policy': '"failures";q=60;w=60',
          ratelimit: '"failures";r=0;t=60',
        },
      },
    })
    clock.advance(MINUTE)
    expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 401 } })
  })

  it('states a configured limit and window in its headers', async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '5m' } } })
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.9' }
    for (let i = 0; i < 3; i++) await keyward.guard(attacker)
    expect(await keyward.guard(attacker)).toMatchObject({
      response: {
        status: 429,
        headers: { 'retry-after': '300', 'ratelimit-policy': '"failures";q=3;w=300' },
      },
    })
  })

  it('states a window of a part of a second in whole seconds, rounded up: w is an integer', async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 1, window: '1500ms' } } })
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.9' }
    await keyward.guard(attacker)
    expect(await keyward.guard(attacker)).toMatchObject({
      response: { status: 429, headers: { 'retry-after': '2', 'ratelimit-policy': '"failures";q=1;w=2' } },
    })
  })

  it('keeps an address blocked while a block made after it ends sooner, and lifts that one when it ends', async () => {
    const { keyward, clock } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const from = (ip: string, apiKey = KEY) => ({ headers: { 'x-api-key': apiKey }, ip })
    // Early's window opens first; Late fails 60 times in a window of its own and is blocked first.
    await keyward.guard(from('198.51.100.2'))
    clock.advance(10_000)
    for (let i = 0; i < 60; i++) await keyward.guard(from('203.0.113.9'))
    clock.advance(10_000)
    for (let i = 0; i < 59; i++) await keyward.guard(from('198.51.100.2'))
    // Early's block (from its window, opened at 0 s) ends now; Late's (opened at 10 s) has not.
    clock.advance(40_000)
    expect((await keyward.guard(from('198.51.100.2', key))).ok).toBe(true)
    expect(await keyward.guard(from('203.0.113.9', key))).toMatchObject({ response: { status: 429 } })
  })

  it('still limits, in process, when the store cannot count failures, and reports why', async () => {
    const base = memoryStore()
    const { keyward, clock, events } = setup({
      store: { ...base, incrementCounter: () => Promise.reject(new Error('read-only transaction')) },
      rateLimit: { perAddress: { max: 3, window: '1m' } },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.11' }
    for (let i = 0; i < 3; i++)
      expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 401 } })
    expect(await keyward.guard(attacker)).toMatchObject({
      response: { status: 429, headers: { 'retry-after': '60' } },
    })
    expect(events.filter((event) => event.type === 'error')).toEqual(
      Array.from({ length: 3 }, () => ({
        type: 'error',
        at: expect.any(Date),
        during: 'rate-limit',
        code: 'STORE_UNAVAILABLE',
        error: new Error('read-only transaction'),
      })),
    )
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip: '198.51.100.1' })).ok).toBe(true)
    // Window after window, as the store would.
    clock.advance(MINUTE)
    for (let i = 0; i < 3; i++)
      expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 401 } })
    expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 429 } })
  })

  it.each([
    // As a Redis client answering integers as strings did: the block's end was NaN, which never blocks.
    ['a count as a string, no date', { count: '9', resetAt: new Date(Number.NaN) } as unknown as CounterHit],
    // A hit that counts nothing never reaches the limit.
    ['a count of 0', { count: 0, resetAt: new Date(Date.now() + MINUTE) }],
    // An end as text (a client that serialises dates), or none at all.
    ['an end as a string', { count: 1, resetAt: '2026-11-22T10:01:00.000Z' } as unknown as CounterHit],
    ['no end', { count: 1 } as unknown as CounterHit],
  ])(
    'still limits, in process, when the store answers counters malformed (%s)',
    async (_answer, malformed) => {
      const base = memoryStore()
      const { keyward, events } = setup({
        store: { ...base, incrementCounter: async () => malformed },
        rateLimit: { perAddress: { max: 3, window: '1m' } },
      })
      const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.11' }
      for (let i = 0; i < 3; i++)
        expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 401 } })
      expect(await keyward.guard(attacker)).toMatchObject({ response: { status: 429 } })
      expect(events.filter((event) => event.type === 'error')).toMatchObject(
        Array.from({ length: 3 }, () => ({
          during: 'rate-limit',
          error: {
            message: expect.stringMatching(
              /incrementCounter answered a counter whose count or resetAt is malformed/,
            ),
          },
        })),
      )
    },
  )

  it('limits failures from an address forwarded as long text (a proxy passing a header on unchecked), as from any other', async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.7,'.repeat(8) }
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const outcome = await keyward.guard(attacker)
      statuses.push(outcome.ok ? 200 : outcome.response.status)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })

  it("limits HTTP requests with no address together (a Unix socket, Koa's empty ip), and a host's own calls not at all", async () => {
    const { keyward, events } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const socket = {}
    for (const ip of [undefined, '', undefined])
      expect(await keyward.guard({ headers: { 'x-api-key': KEY }, ip, socket })).toMatchObject({
        response: { status: 401 },
      })
    expect(await keyward.guard({ headers: { 'x-api-key': KEY }, socket: {} })).toMatchObject({
      response: { status: 429 },
    })
    expect(events.filter((event) => event.type === 'auth.failed').map((event) => event.ip)).toEqual(
      Array(3).fill('unresolved'),
    )
    // Neither a host's own call with no address nor a request with one shares that group.
    expect(await keyward.guard({ headers: { 'x-api-key': KEY } })).toMatchObject({
      response: { status: 401 },
    })
    expect(await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '203.0.113.1', socket })).toMatchObject({
      response: { status: 401 },
    })
  })

  it("limits keyward's routes reached on a connection with no address in the same group", async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const exchange = (socket?: object) =>
      keyward.handle({
        method: 'POST',
        path: '/accounts/auth-with-api-key',
        query: {},
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: KEY }),
        socket,
      })
    // A host's own call, with neither address nor connection, is not limited by address.
    for (let i = 0; i < 4; i++) expect(await exchange()).toMatchObject({ status: 401 })
    for (let i = 0; i < 3; i++) expect(await exchange({})).toMatchObject({ status: 401 })
    expect(await exchange({})).toMatchObject({ status: 429 })
    expect(await keyward.guard({ headers: { 'x-api-key': KEY }, socket: {} })).toMatchObject({
      response: { status: 429 },
    })
  })

  it('does not lock out a key holder on another address', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    for (let i = 0; i < 70; i++) await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '203.0.113.9' })
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip: '198.51.100.1' })).ok).toBe(true)
  })

  /** Three failures a minute allowed, and alice's key; then one unknown key from each address (401). */
  async function failedOnceFrom(ips: readonly string[]) {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    for (const ip of ips)
      expect(await keyward.guard({ headers: { 'x-api-key': KEY }, ip })).toMatchObject({
        response: { status: 401 },
      })
    return { keyward, key }
  }

  it('counts an IPv6 client by its /56, so rotating through its own addresses buys nothing', async () => {
    const { keyward, key } = await failedOnceFrom([
      '2001:db8:0:1::1',
      '2001:db8:0:2::2',
      '2001:db8:0:ff:abcd::3',
    ])
    const rotated = await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '2001:DB8::99' })
    expect(rotated).toMatchObject({ ok: false, response: { status: 429 } })
    // The next /56, and an IPv4 client, are not held to its failures.
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip: '2001:db8:0:100::1' })).ok).toBe(true)
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip: '203.0.113.1' })).ok).toBe(true)
  })

  it('counts an address forwarded with its port as the address, so each new connection buys nothing', async () => {
    const { keyward, key } = await failedOnceFrom([
      '203.0.113.7:51234',
      '203.0.113.7:51235',
      '[::ffff:203.0.113.7]:443',
    ])
    for (const ip of ['203.0.113.7', '203.0.113.7:60000'])
      expect(await keyward.guard({ headers: { 'x-api-key': key }, ip })).toMatchObject({
        ok: false,
        response: { status: 429 },
      })
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip: '203.0.113.8:51234' })).ok).toBe(true)
  })

  it('counts failures of the key exchange and of refresh too', async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const ip = '203.0.113.10'
    for (let i = 0; i < 2; i++)
      await expect(keyward.authenticateWithApiKey(KEY, { ip })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(keyward.refreshTokens('rt_bogus', { ip })).rejects.toMatchObject({
      code: 'INVALID_REFRESH_TOKEN',
    })
    await expect(keyward.authenticateWithApiKey(KEY, { ip })).rejects.toMatchObject({ code: 'RATE_LIMITED' })
  })

  it('refuses a refresh from a blocked address, even with a good refresh token', async () => {
    const { keyward } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const pair = await keyward.issueTokens('alice')
    const ip = '203.0.113.10'
    for (let i = 0; i < 3; i++) await keyward.guard({ headers: { 'x-api-key': KEY }, ip })
    await expect(keyward.refreshTokens(pair.refresh_token, { ip })).rejects.toMatchObject({
      code: 'RATE_LIMITED',
    })
    expect(
      (await keyward.refreshTokens(pair.refresh_token, { ip: '198.51.100.1' })).refresh_token,
    ).toBeDefined()
  })

  it('tells a blocked address on the key exchange and on refresh when to come back, as the guard does', async () => {
    const { keyward, clock } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { refresh_token } = await keyward.issueTokens('alice')
    const ip = '203.0.113.10'
    for (let i = 0; i < 3; i++) await keyward.guard({ headers: { 'x-api-key': KEY }, ip })
    clock.advance(20_000)
    // What a host's own route needs for Retry-After and the RateLimit headers: the block's countdown.
    const countdown = { code: 'RATE_LIMITED', retryAfter: 40, rateLimit: { limit: 3, windowSeconds: 60 } }
    await expect(keyward.authenticateWithApiKey(key, { ip })).rejects.toMatchObject(countdown)
    await expect(keyward.refreshTokens(refresh_token, { ip })).rejects.toMatchObject(countdown)
  })

  it('does not count a store outage during refresh as a failure of the address', async () => {
    const base = memoryStore()
    const refused = () => Promise.reject(new Error('connection refused'))
    const store = { ...base, findRefreshToken: refused, rotateRefreshToken: refused }
    const { keyward } = setup({ store, rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const ip = '203.0.113.10'
    for (let i = 0; i < 5; i++)
      await expect(keyward.refreshTokens(`rt_${'a'.repeat(43)}`, { ip })).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
      })
    expect((await keyward.guard({ headers: { 'x-api-key': key }, ip })).ok).toBe(true)
  })

  it('holds across instances sharing a store', async () => {
    const store = memoryStore()
    const one = setup({ store, rateLimit: { perAddress: { max: 4, window: '1m' } } }).keyward
    const two = setup({ store, rateLimit: { perAddress: { max: 4, window: '1m' } } }).keyward
    const attacker = { headers: { 'x-api-key': KEY }, ip: '203.0.113.11' }
    await one.guard(attacker)
    await one.guard(attacker)
    await one.guard(attacker)
    await two.guard(attacker)
    expect(await two.guard(attacker)).toMatchObject({ response: { status: 429 } })
  })

  it('can be switched off, whole or alone, and then counts nothing', async () => {
    for (const rateLimit of [false, { perAddress: false }] as const) {
      const { store, count } = instrumentedStore()
      const { keyward } = setup({ store, rateLimit })
      for (let i = 0; i < 100; i++) await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '203.0.113.12' })
      expect(await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '203.0.113.12' })).toMatchObject({
        response: { status: 401 },
      })
      expect(count('incrementCounter')).toBe(0)
    }
  })
})

describe('events', () => {
  it('reports issue, use, failure, refresh and deletion, never with a secret', async () => {
    const { keyward, events, clock } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const pair = await keyward.authenticateWithApiKey(key)
    await keyward.refreshTokens(pair.refresh_token)
    await keyward.guard({ headers: { 'x-api-key': KEY }, ip: '192.0.2.1' })
    await keyward.deleteKey('alice', { id })
    clock.advance(1)
    expect(events.map((event) => event.type)).toEqual([
      'key.issued',
      'key.used',
      'token.issued',
      'token.refreshed',
      'auth.failed',
      'key.deleted',
    ])
    expect(events.find((event) => event.type === 'auth.failed')).toMatchObject({
      code: 'NOT_FOUND',
      ip: '192.0.2.1',
    })
    const text = JSON.stringify(events)
    for (const secret of [key, key.slice(3), pair.auth_token, pair.refresh_token])
      expect(text).not.toContain(secret)
  })

  it('survives a hook that throws', async () => {
    const { keyward } = setup({
      onEvent: () => {
        throw new Error('host bug')
      },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
  })

  it('survives an async hook that rejects, leaving no unhandled rejection to end the process', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      let calls = 0
      const { keyward } = setup({
        onEvent: async () => {
          calls++
          throw new Error('audit database down')
        },
      })
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      expect((await keyward.verifyKey(key)).ok).toBe(true)
      expect((await keyward.verifyKey('ms-0123456789abcdef0123456789abcdef')).ok).toBe(false)
      await new Promise((resolve) => setImmediate(resolve))
      expect(calls).toBeGreaterThanOrEqual(2)
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
