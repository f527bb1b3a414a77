/**
 * An adapter of the host's own, on `handle()` and `guard()` (a plain `node:http` server, a fetch
 * runtime): what it may hand the core, and what it may do with what it gets back.
 */
import { createServer, get, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { runInNewContext } from 'node:vm'
import type { HttpRequest } from '@keyward/core'
import { afterEach, describe, expect, it } from 'vitest'
import { setup } from './support.js'

const exchangeWith = (body: unknown): HttpRequest => ({
  method: 'POST',
  path: '/accounts/auth-with-api-key',
  query: {},
  headers: { 'content-type': 'application/json' },
  body,
})

/** The bytes, in an ArrayBuffer of another realm's. */
function inAnotherRealm(bytes: Uint8Array): ArrayBuffer {
  const buffer = runInNewContext(`new ArrayBuffer(${bytes.byteLength})`) as ArrayBuffer
  new Uint8Array(buffer).set(bytes)
  return buffer
}

describe('the body an adapter hands to handle()', () => {
  it('is read in each form an adapter may hold it: text, a Buffer, an ArrayBuffer, a view', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const json = JSON.stringify({ api_key: key })
    const bytes = new TextEncoder().encode(`  ${json}  `)
    const forms = {
      text: json,
      buffer: Buffer.from(json),
      'fetch arrayBuffer()': await new Response(json).arrayBuffer(),
      'an offset view': new Uint8Array(bytes.buffer, 2, bytes.byteLength - 4),
      DataView: new DataView(bytes.buffer, 2, bytes.byteLength - 4),
      'already parsed': JSON.parse(json),
      // Made in another realm, as Node's own fetch makes them outside a test runner's context.
      "another realm's parsed object": runInNewContext(`(${json})`),
      "another realm's ArrayBuffer": inAnotherRealm(new TextEncoder().encode(json)),
    }
    for (const [form, body] of Object.entries(forms)) {
      const response = await keyward.handle(exchangeWith(body))
      expect({ form, status: response?.status }).toEqual({ form, status: 200 })
    }
  })

  it('holds bytes in any form to the size limit and the JSON media type', async () => {
    const { keyward } = setup({ bodyLimit: 64 })
    const large = await new Response(JSON.stringify({ api_key: 'x'.repeat(100) })).arrayBuffer()
    expect(await keyward.handle(exchangeWith(large))).toMatchObject({ status: 413 })
    const form = new TextEncoder().encode('api_key=x').buffer
    expect(
      await keyward.handle({ ...exchangeWith(form), headers: { 'content-type': 'text/plain' } }),
    ).toMatchObject({ status: 415 })
  })

  it("refuses a body no one read (a stream, a Blob) as the adapter's mistake, not as a field missing", async () => {
    const { keyward, events } = setup()
    const request = new Request('http://localhost/', { method: 'POST', body: '{"api_key":"x"}' })
    const unread = [
      request.body,
      new Blob(['{"api_key":"x"}']),
      Readable.from(['{"api_key":"x"}']),
      new Request('http://localhost/', { method: 'POST', body: '{"api_key":"x"}' }),
    ]
    for (const body of unread) {
      expect(await keyward.handle(exchangeWith(body))).toMatchObject({
        status: 500,
        body: { error: 'Internal error' },
      })
    }
    expect(events.filter((event) => event.type === 'error')).toMatchObject([
      { during: 'request', error: { message: expect.stringMatching(/not a ReadableStream: read it first/) } },
      { during: 'request', error: { message: expect.stringMatching(/not a Blob: read it first/) } },
      { during: 'request', error: { message: expect.stringMatching(/not a Readable: read it first/) } },
      { during: 'request', error: { message: expect.stringMatching(/not a Request: read it first/) } },
    ])
  })
})

describe('what an adapter of its own may hand to handle()', () => {
  it('holds text to the size limit, and reads empty text as no field given', async () => {
    const { keyward } = setup({ bodyLimit: 64 })
    expect(await keyward.handle(exchangeWith(JSON.stringify({ api_key: 'x'.repeat(100) })))).toMatchObject({
      status: 413,
    })
    expect(await keyward.handle(exchangeWith(''))).toMatchObject({ status: 400, body: { field: 'api_key' } })
  })

  it('answers a body that is none, or no object, with a 400 naming what is wrong, never a 500', async () => {
    const { keyward } = setup()
    for (const body of [undefined, null]) {
      expect(await keyward.handle(exchangeWith(body))).toMatchObject({
        status: 400,
        body: { message: 'api_key is required', field: 'api_key' },
      })
    }
    const noBodyAsText = { ...exchangeWith(undefined), headers: { 'content-type': 'text/plain' } }
    expect(await keyward.handle(noBodyAsText)).toMatchObject({ status: 400, body: { field: 'api_key' } })
    for (const body of [5, true]) {
      expect(await keyward.handle(exchangeWith(body))).toMatchObject({
        status: 400,
        body: { message: 'The request body must be a JSON object', field: 'body' },
      })
    }
  })

  it('refuses an api_key over 4096 characters as such, and looks up one of 4096', async () => {
    const { keyward } = setup()
    expect(await keyward.handle(exchangeWith({ api_key: 'x'.repeat(4097) }))).toEqual({
      status: 400,
      headers: expect.any(Object),
      body: {
        error: 'Invalid request',
        message: 'api_key must be at most 4096 characters',
        field: 'api_key',
      },
    })
    expect(await keyward.handle(exchangeWith({ api_key: 'x'.repeat(4096) }))).toMatchObject({ status: 401 })
  })

  it("answers undefined for a path that is not keyward's, which owns() tells apart", async () => {
    const { keyward } = setup()
    const request = { ...exchangeWith(undefined), method: 'GET', path: '/public' }
    await expect(keyward.handle(request)).resolves.toBeUndefined()
    expect(keyward.owns('/public')).toBe(false)
    expect(keyward.owns('/accounts/api-key')).toBe(true)
  })

  it('names the key to delete, in the message too, when the query names none, both, or one twice', async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const deleting = (query: Record<string, unknown>) =>
      keyward.handle({
        method: 'DELETE',
        path: '/accounts/api-key',
        query,
        headers: { 'x-api-key': key },
        body: undefined,
      })
    expect(await deleting({})).toMatchObject({
      status: 400,
      body: { message: 'Name the key to delete with ?key=<full key> or ?id=<key id>', field: 'key' },
    })
    expect(await deleting({ key, id })).toMatchObject({
      status: 400,
      body: { message: 'Give either ?key= or ?id=, not both', field: 'id' },
    })
    expect(await deleting({ id: [id, id] })).toMatchObject({
      status: 400,
      body: { message: 'id must be given once', field: 'id' },
    })
    expect(await keyward.listKeys('alice')).toHaveLength(1)
  })
})

describe('the response an adapter gets back', () => {
  it('has headers of its own: one the host adds (CORS for one caller) is on no other response', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const listing = () =>
      keyward.handle({
        method: 'GET',
        path: '/accounts/api-key',
        query: {},
        headers: { 'x-api-key': key },
        body: undefined,
      })
    const first = await listing()
    ;(first?.headers as Record<string, string>)['access-control-allow-origin'] = 'https://tenant-a.example'
    const next = [await listing(), await keyward.handle(exchangeWith(JSON.stringify({ api_key: key })))]
    for (const response of next) {
      expect(response?.status).toBe(200)
      expect(response?.headers).not.toHaveProperty('access-control-allow-origin')
    }
  })

  it("is GET's to HEAD, in either case, for the server to drop the body; elsewhere HEAD is a 405", async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const asking = (method: string, path = '/accounts/api-key') =>
      keyward.handle({ method, path, query: {}, headers: { 'x-api-key': key }, body: undefined })
    const get = await asking('GET')
    expect(get?.status).toBe(200)
    expect(await asking('HEAD')).toEqual(get)
    expect(await asking('head')).toEqual(get)
    expect(await asking('PUT')).toMatchObject({ status: 405, headers: { allow: 'POST, GET, HEAD, DELETE' } })
    expect(await asking('HEAD', '/accounts/refresh')).toMatchObject({
      status: 405,
      headers: { allow: 'POST' },
      body: { message: 'Use POST on /accounts/refresh' },
    })
  })
})

describe('a plain node:http server that guards with the request as Node gives it', () => {
  let close: (() => Promise<void>) | undefined
  afterEach(() => close?.())

  it("limits each client by its connection's address, since Node's request has no ip", async () => {
    const { keyward, events } = setup({ rateLimit: { perAddress: { max: 3, window: '1m' } } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const server = createServer(async (request: IncomingMessage, response) => {
      const outcome = await keyward.guard(request)
      response.statusCode = outcome.ok ? 200 : outcome.response.status
      response.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    close = () => new Promise((resolve) => server.close(() => resolve()))
    const { port } = server.address() as AddressInfo
    const status = (apiKey: string, from: string) =>
      new Promise<number | undefined>((resolve, reject) => {
        get(
          { port, host: '127.0.0.1', localAddress: from, agent: false, headers: { 'x-api-key': apiKey } },
          (res) => {
            res.resume()
            resolve(res.statusCode)
          },
        ).on('error', reject)
      })

    const wrongKey = `${key.slice(0, -4)}0000`
    const attempts = []
    for (let i = 0; i < 4; i++) attempts.push(await status(wrongKey, '127.0.0.2'))
    expect(attempts).toEqual([401, 401, 401, 429])
    // Another client is not blocked with the first, as it would be were all of them one group.
    expect(await status(key, '127.0.0.1')).toBe(200)
    expect(events.filter((event) => event.type === 'auth.failed').map((event) => event.ip)).toEqual(
      Array(3).fill('127.0.0.2'),
    )
  })
})
