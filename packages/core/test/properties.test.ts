/**
 * Hostile input against the framework-neutral handler and the guard (fast-check): arbitrary
 * methods, headers, query strings and bodies on every route. Never a 5xx, never a stack trace,
 * never a secret echoed, never a polluted prototype. The HTTP-level version runs the same
 * properties through each framework's real server (test/security).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ROUTES } from '../src/http/handler.js'
import type { HeaderBag } from '../src/http/types.js'
import { setup } from './support.js'

const RUNS = Number(process.env.KEYWARD_FUZZ_RUNS ?? 300)

const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom(
    '',
    ' ',
    'Bearer',
    'Bearer ',
    'bearer x',
    'BEARER ms-',
    'Basic Zm9vOmJhcg==',
    'Bearer a.b.c',
    '__proto__',
    'constructor',
  ),
  fc.string({ minLength: 5000, maxLength: 20000 }),
)
const headerValue = fc.oneof(nasty, fc.array(nasty, { minLength: 2, maxLength: 3 }))
const headers = fc.dictionary(
  fc.constantFrom(
    'x-api-key',
    'authorization',
    'content-type',
    'host',
    'x-forwarded-for',
    '__proto__',
    'constructor',
  ),
  headerValue,
)
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    fc.dictionary(
      fc.constantFrom(
        'api_key',
        'key_name',
        'code',
        'refresh_token',
        '__proto__',
        'constructor',
        'prototype',
      ),
      tie('value'),
    ),
    fc.array(tie('value'), { maxLength: 3 }),
  ),
})).value
const body = fc.oneof(
  fc.constant(undefined),
  jsonish,
  jsonish.map((value) => Buffer.from(JSON.stringify(value) ?? '')),
  fc.string().map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.from(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`)),
  fc.constant(Buffer.from('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}')),
)
const query = fc.dictionary(
  fc.constantFrom('key', 'id', '__proto__', 'constructor'),
  fc.oneof(fc.string(), fc.array(fc.string()), fc.object()),
)

describe('hostile input (core handler)', () => {
  it(`never answers 5xx, a stack trace or a secret (${RUNS} cases per property)`, async () => {
    const { keyward } = setup({ rateLimit: false })
    const { key } = await keyward.issueKey('alice', { name: 'fuzz' })
    const { auth_token, refresh_token } = await keyward.authenticateWithApiKey(key)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'get', 'OPTIONS'),
        headers,
        query,
        body,
        fc.boolean(),
        async (route, method, extraHeaders, queryParams, requestBody, authenticated) => {
          const requestHeaders = authenticated ? { ...extraHeaders, 'x-api-key': key } : extraHeaders
          const response = await keyward.handle({
            method,
            path: route.path,
            query: queryParams,
            headers: requestHeaders,
            body: requestBody,
            ip: '192.0.2.1',
          })
          expect(response).toBeDefined()
          expect(response!.status).toBeGreaterThanOrEqual(200)
          expect(response!.status).toBeLessThan(500)
          const text = JSON.stringify(response)
          expect(text).not.toMatch(/\bat .*\(.*:\d+:\d+\)|Error:|node:internal/)
          for (const secret of [key, auth_token, refresh_token]) {
            if (route.path !== '/accounts/api-key' || method.toUpperCase() !== 'POST')
              expect(text).not.toContain(secret)
          }
          if (response!.status >= 400) {
            expect(response!.body).toMatchObject({ error: expect.any(String), message: expect.any(String) })
          }
          expect(({} as Record<string, unknown>).polluted).toBeUndefined()
        },
      ),
      { numRuns: RUNS },
    )
    console.log(`[fuzz] core handler: ${RUNS} hostile requests over ${ROUTES.length} routes, 0 failures`)
  })

  it(`the guard never accepts a forged credential (${RUNS} cases)`, async () => {
    const { keyward } = setup({ rateLimit: false })
    await keyward.issueKey('alice', { name: 'real' })
    await fc.assert(
      fc.asyncProperty(headers, async (randomHeaders) => {
        const outcome = await keyward.guard({ headers: randomHeaders, ip: '192.0.2.2' })
        expect(outcome.ok).toBe(false)
        if (!outcome.ok) expect([400, 401]).toContain(outcome.response.status)
      }),
      { numRuns: RUNS },
    )
    console.log(`[fuzz] core guard: ${RUNS} forged header sets, 0 accepted`)
  })

  it(`a connection that remembers a real key accepts no other key (${RUNS} cases)`, async () => {
    const { keyward } = setup({ rateLimit: false })
    const { key } = await keyward.issueKey('alice', { name: 'real' })
    const socket = {}
    const onConnection = (headers: HeaderBag) => keyward.guard({ headers, socket })
    expect((await onConnection({ 'x-api-key': key })).ok).toBe(true)
    // The real key with one character changed, then any header set, each followed by the real key
    // (so the connection remembers it again before the next forgery).
    const nearMiss = fc
      .tuple(fc.nat({ max: key.length - 1 }), fc.constantFrom(...'0123456789abcdefABCDEF-_ms'))
      .map(([at, char]) => `${key.slice(0, at)}${char}${key.slice(at + 1)}`)
      .filter((forged) => forged !== key)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          nearMiss.map((forged) => ({ 'x-api-key': forged })),
          headers,
        ),
        async (forged) => {
          expect((await onConnection(forged)).ok).toBe(false)
          expect((await onConnection({ 'x-api-key': key })).ok).toBe(true)
        },
      ),
      { numRuns: RUNS },
    )
    console.log(`[fuzz] core guard on a remembered connection: ${RUNS} forgeries, 0 accepted`)
  })
})
