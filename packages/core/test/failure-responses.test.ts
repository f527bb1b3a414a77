import { KeywardError, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { thrownResponse } from '../src/http/handler.js'
import { codeAt, setup, wrongCodes } from './support.js'

describe('the challenge of a refusal (RFC 6750)', () => {
  it('answers a malformed header with invalid_request and its reason', async () => {
    const { keyward } = setup()
    const outcome = await keyward.guard({ headers: { authorization: 'Bearer' } })
    if (outcome.ok) throw new Error('admitted a malformed header')
    expect(outcome.response.status).toBe(400)
    expect(outcome.response.headers['www-authenticate']).toMatch(
      /^Bearer realm="keyward", error="invalid_request", error_description="[^"]+"$/,
    )
    await keyward.close()
  })

  it('answers a missing permission with insufficient_scope', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('bob', { name: 'ci' })
    const outcome = await keyward.guard({ headers: { 'x-api-key': key } }, { permissions: ['agents:read'] })
    expect(outcome).toMatchObject({
      ok: false,
      response: {
        status: 403,
        headers: { 'www-authenticate': 'Bearer realm="keyward", error="insufficient_scope"' },
      },
    })
    await keyward.close()
  })

  it('answers a wrong TOTP code with the bare realm, not invalid_token', async () => {
    const { keyward, clock } = setup()
    const { secret } = await keyward.generateTotpKey('alice')
    await keyward.verifyTotp('alice', await codeAt(secret, clock()))
    const [wrong] = await wrongCodes(secret, clock(), 1)
    const error: unknown = await keyward.verifyTotp('alice', wrong).catch((thrown: unknown) => thrown)
    expect(thrownResponse(error)).toMatchObject({
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="keyward"' },
    })
    await keyward.close()
  })

  it('sends no challenge with a 503 or a 429', async () => {
    const { keyward } = setup({
      store: { ...memoryStore(), findKeyByDigest: () => Promise.reject(new Error('ECONNREFUSED')) },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const down = await keyward.guard({ headers: { 'x-api-key': key } })
    if (down.ok) throw new Error('admitted during an outage')
    expect(down.response.status).toBe(503)
    expect(down.response.headers).not.toHaveProperty('www-authenticate')
    expect(down.response.headers['retry-after']).toBe('5')
    const limited = thrownResponse(new KeywardError('RATE_LIMITED', 'Too many requests', { retryAfter: 30 }))
    expect(limited.status).toBe(429)
    expect(limited.headers).not.toHaveProperty('www-authenticate')
    expect(limited.headers).toMatchObject({ 'retry-after': '30' })
    expect(limited.headers).not.toHaveProperty('ratelimit-policy')
    await keyward.close()
  })
})

describe('the body and headers of a refusal', () => {
  it('is JSON that no cache keeps', async () => {
    const { keyward } = setup()
    const outcome = await keyward.guard({ headers: {} })
    if (outcome.ok) throw new Error('admitted without a credential')
    expect(outcome.response.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    })
    await keyward.close()
  })

  it('names the field an INVALID_INPUT refusal is about', async () => {
    const { keyward } = setup()
    const error: unknown = await keyward.issueKey('alice', { name: '' }).catch((thrown: unknown) => thrown)
    expect(thrownResponse(error)).toMatchObject({ status: 400, body: { field: 'key_name' } })
    await keyward.close()
  })

  it('never tells the client the message of an internal error', async () => {
    const { keyward } = setup()
    const response = thrownResponse(
      new KeywardError('INTERNAL', 'password authentication failed for user "app"'),
    )
    expect(response).toMatchObject({ status: 500, body: { message: 'Something went wrong on our side' } })
    await keyward.close()
  })

  it('tells the client to wait only when it is rate limited, and keeps its connection open', async () => {
    const { keyward } = setup()
    const outcome = await keyward.guard({ headers: {} })
    if (outcome.ok) throw new Error('admitted without a credential')
    expect(outcome.response.headers).not.toHaveProperty('retry-after')
    expect(outcome.response.body).not.toHaveProperty('retry_after')
    expect(outcome.response.headers).not.toHaveProperty('connection')
    await keyward.close()
  })

  it('closes the connection after a body too large', async () => {
    const { keyward } = setup()
    const response = thrownResponse(new KeywardError('PAYLOAD_TOO_LARGE', 'The request body is too large'))
    expect(response).toMatchObject({ status: 413, headers: { connection: 'close' } })
    await keyward.close()
  })
})

describe("a successful answer of keyward's routes", () => {
  it('is JSON that no cache keeps: it holds tokens', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const response = await keyward.handle({
      method: 'POST',
      path: '/accounts/auth-with-api-key',
      query: {},
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: key }),
    })
    expect(response).toMatchObject({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    })
    await keyward.close()
  })
})
