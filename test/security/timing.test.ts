/**
 * What a timing attacker could tell apart, checked by what happens rather than by a stopwatch
 * (no timed tests on shared machines): unknown, expired and deleted keys take the same path
 * (the same store calls, one read each when uncached) and get byte-identical 401s on every
 * framework; a malformed key never reaches the store; a digest read from the store is compared
 * with the constant-time helper, and that helper is right and always runs timingSafeEqual.
 */

import * as crypto from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { createKeyward, type KeyStore, type KeywardOptions, memoryStore } from '@keyward/core'
import fc from 'fast-check'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import * as secrets from '../../packages/core/src/lib/secrets.js'
import { constantTimeEqual } from '../../packages/core/src/lib/secrets.js'
import { instrumentedStore } from '../../packages/core/test/support.js'
import { INVALID_KEY } from '../contract/support/answers.js'
import { createFixture, DAY, JWT_SECRET } from '../contract/support/fixture.js'
import { FRAMEWORKS, GUARDED, START_SERVER } from '../contract/support/servers.js'
import { type RawRequest, type RawResponse, rawRequest } from './support/raw-http.js'

// Spies over the real functions: the code under test runs unchanged, the test sees the calls.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>()
  return { ...actual, default: actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) }
})
vi.mock('../../packages/core/src/lib/secrets.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../packages/core/src/lib/secrets.js')>()
  return { ...actual, constantTimeEqual: vi.fn(actual.constantTimeEqual) }
})

const KEY_LOOKUPS = new Set(['findKeyByDigest', 'findKeyById', 'listKeys'])
const wellFormedKey = () => `ms-${randomBytes(16).toString('hex')}`

/** The response as sent, but for the one header that depends on the second it was sent in. */
const comparable = (response: RawResponse) =>
  response.raw.toString('latin1').replace(/\r\ndate: [^\r]*/i, '\r\ndate: -')

/** The ways a key is presented: as the guard reads it (both headers) and to the exchange route. */
const PRESENTATIONS: ReadonlyArray<[string, (key: string) => RawRequest]> = [
  [
    'X-Api-Key on the guard',
    (key) => ({ method: 'GET', target: GUARDED.agents, headers: [['x-api-key', key]] }),
  ],
  [
    'Bearer on the guard',
    (key) => ({ method: 'GET', target: GUARDED.agents, headers: [['authorization', `Bearer ${key}`]] }),
  ],
  [
    'the exchange route',
    (key) => ({
      method: 'POST',
      target: '/accounts/auth-with-api-key',
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify({ api_key: key })),
    }),
  ],
]

describe.each(FRAMEWORKS)('over %s', (framework) => {
  async function start(options: Partial<KeywardOptions> = {}) {
    const instrumented = instrumentedStore(memoryStore())
    const fixture = createFixture({ store: instrumented.store, ...options })
    const server = await START_SERVER[framework](fixture.keyward)
    /** Sends a request and returns it with the store calls it caused. */
    const send = async (request: RawRequest) => {
      instrumented.calls.length = 0
      const response = await rawRequest(server.url, request)
      return { response, calls: [...instrumented.calls] }
    }
    const stop = async () => {
      await server.close()
      await fixture.keyward.close()
      expect(server.hostErrors).toEqual([])
    }
    return { fixture, send, stop }
  }

  it('unknown, expired and deleted keys: the same store calls, one read each, byte-identical 401s', async () => {
    const { fixture, send, stop } = await start()
    const expiring = (await fixture.keyward.issueKey('alice', { name: 'expiring' })).key
    const deleted = await fixture.keyward.issueKey('alice', { name: 'deleted' })
    await fixture.keyward.deleteKey('alice', { id: deleted.id })
    fixture.clock.advance(93 * DAY)
    const keys = { unknown: wellFormedKey(), expired: expiring, deleted: deleted.key }

    for (const [label, present] of PRESENTATIONS) {
      // Twice each: neither answer is remembered in a way that would make the next one differ.
      for (let round = 0; round < 2; round++) {
        const results = []
        for (const key of Object.values(keys)) results.push(await send(present(key)))
        const [first, ...others] = results
        expect(first!.response.status, label).toBe(401)
        expect(JSON.parse(first!.response.body)).toEqual(INVALID_KEY)
        expect(
          first!.calls.filter((call) => call === 'findKeyByDigest'),
          label,
        ).toHaveLength(1)
        expect(first!.calls.filter((call) => KEY_LOOKUPS.has(call) && call !== 'findKeyByDigest')).toEqual([])
        for (const other of others) {
          expect(other.calls, label).toEqual(first!.calls)
          expect(comparable(other.response), label).toBe(comparable(first!.response))
        }
      }
    }
    await stop()
  })

  it('a structurally malformed key never reaches the store', async () => {
    // No rate limit: past its 60 failures a minute every answer is a 429, sent before the key is read.
    const { send, stop } = await start({ rateLimit: false })
    const malformed = [
      'ms-',
      `ms-${'a'.repeat(31)}`,
      `ms-${'a'.repeat(33)}`,
      `ms-${'A'.repeat(32)}`,
      `MS-${'a'.repeat(32)}`,
      `xx-${'a'.repeat(32)}`,
      `ms-${'g'.repeat(32)}`,
      `ms-${'a'.repeat(16)} ${'a'.repeat(15)}`,
      `ms-${'a'.repeat(28)}%20a`,
      `ms-${'a'.repeat(12_000)}`,
    ]
    // Any other text a client could send as a key: never hashed, never looked up.
    const arbitrary = fc
      .string({
        unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 80,
      })
      .filter((text) => !/^ms-[0-9a-f]{32}$/.test(text))
    const samples = [...malformed, ...fc.sample(arbitrary, 60)]
    for (const key of samples) {
      for (const [label, present] of PRESENTATIONS) {
        const { response, calls } = await send(present(key))
        expect([400, 401], `${label}: ${key}: ${response.status}`).toContain(response.status)
        expect(
          calls.filter((call) => KEY_LOOKUPS.has(call)),
          `${label}: ${key}`,
        ).toEqual([])
      }
    }
    await stop()
  })
})

describe('the digest comparison', () => {
  const compare = vi.mocked(secrets.constantTimeEqual)
  const safeEqual = vi.mocked(crypto.timingSafeEqual)
  beforeEach(() => {
    compare.mockClear()
    safeEqual.mockClear()
  })

  const keywardOver = (store: KeyStore) =>
    createKeyward({ jwtSecret: JWT_SECRET, users: { get: (id) => ({ id, permissions: [] }) }, store })

  it('is made with constantTimeEqual on a cache miss, and not needed on a hit', async () => {
    const keyward = keywardOver(memoryStore())
    const { key } = await keyward.issueKey('alice', { name: 'ct' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    expect(compare).toHaveBeenCalledTimes(1)
    const [stored, presented] = compare.mock.calls[0]!
    expect(stored).toBe(presented)
    expect(stored).toMatch(/^[0-9a-f]{64}$/)
    expect(compare.mock.results[0]).toEqual({ type: 'return', value: true })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    expect(compare).toHaveBeenCalledTimes(1)
    await keyward.close()
  })

  it('refuses a record whose digest differs from the one asked for (a store matching loosely)', async () => {
    const base = memoryStore()
    // A store whose lookup is case-insensitive, say, returns a record for another digest.
    const loose: KeyStore = {
      ...base,
      findKeyByDigest: async (digest) => {
        const record = await base.findKeyByDigest(digest.toLowerCase())
        return record && { ...record, digest: record.digest.toUpperCase() }
      },
    }
    const keyward = keywardOver(loose)
    const { key } = await keyward.issueKey('alice', { name: 'loose' })
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
    expect(compare).toHaveBeenCalledTimes(1)
    expect(compare.mock.results[0]).toEqual({ type: 'return', value: false })
    await keyward.close()
  })

  it.each([
    ['equal digests', 'a'.repeat(64), 'a'.repeat(64), true],
    ['equal empty strings', '', '', true],
    ['equal multi-byte text', 'clé-😀', 'clé-😀', true],
    ['one character different at the start', `b${'a'.repeat(63)}`, 'a'.repeat(64), false],
    ['one character different at the end', `${'a'.repeat(63)}b`, 'a'.repeat(64), false],
    ['a prefix of the other', 'a'.repeat(63), 'a'.repeat(64), false],
    ['a longer string', 'a'.repeat(65), 'a'.repeat(64), false],
    ['empty against non-empty', '', 'a', false],
    ['the same length in characters, not in bytes', 'é', 'e', false],
    ['the same length in bytes, different characters', 'é', 'è', false],
  ])('constantTimeEqual: %s', (_, a, b, equal) => {
    expect(constantTimeEqual(a, b)).toBe(equal)
    expect(constantTimeEqual(b, a)).toBe(equal)
    // Every answer, a length mismatch included, comes out of one timingSafeEqual per call.
    expect(safeEqual).toHaveBeenCalledTimes(2)
  })
})
