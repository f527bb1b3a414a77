import { describe, expect, it } from 'vitest'
import { rawRequest } from '../security/support/raw-http.js'
import { withKey } from './support/client.js'
import { useContract } from './support/contract.js'
import { FRAMEWORKS } from './support/servers.js'

const LIMIT = 16 * 1024
const JSON_TYPE = { 'content-type': 'application/json' }

/** A JSON body of exactly `bytes` bytes: an unknown key, padded with whitespace JSON allows. */
function paddedTo(bytes: number): string {
  const json = JSON.stringify({ api_key: 'x' })
  return `${json}${' '.repeat(bytes - json.length)}`
}

/** A body sent in chunks with no Content-Length, so the limit must be enforced while reading. */
function chunked(totalBytes: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= totalBytes) return controller.close()
      const size = Math.min(4096, totalBytes - sent)
      sent += size
      controller.enqueue(new TextEncoder().encode('x'.repeat(size)))
    },
  })
}

describe.each(FRAMEWORKS)('request bodies and methods over %s', (framework) => {
  const t = useContract(framework)
  const exchange = (raw: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string>) =>
    t.api('POST', '/accounts/auth-with-api-key', { raw, headers })

  describe('JSON bodies', () => {
    it('accepts application/json with a charset and +json types', async () => {
      const body = JSON.stringify({ api_key: await t.keyFor('alice') })
      expect((await exchange(body, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200)
      expect((await exchange(body, { 'content-type': 'application/vnd.api+json' })).status).toBe(200)
    })

    it('takes the media type in any case, as HTTP media types are case-insensitive', async () => {
      const body = JSON.stringify({ api_key: await t.keyFor('alice') })
      expect((await exchange(body, { 'content-type': 'Application/JSON' })).status).toBe(200)
    })

    it('answers 400 naming the missing field for a JSON null, never a 500', async () => {
      const reply = await exchange('null', JSON_TYPE)
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ error: 'Invalid request', field: 'api_key' })
    })

    it.each(['{"api_key": ', '{api_key: 1}', "{'a': 1}"])(
      'answers 400 Malformed JSON for %s',
      async (raw) => {
        const reply = await exchange(raw, JSON_TYPE)
        expect(reply.status).toBe(400)
        expect(reply.body).toEqual({ error: 'Malformed JSON', message: 'The request body is not valid JSON' })
      },
    )

    it.each([
      ['an array', '[]'],
      ['a string', '"ms-1"'],
    ])('answers 400 when the JSON is %s rather than an object', async (_case, raw) => {
      const reply = await exchange(raw, JSON_TYPE)
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ error: 'Invalid request', field: 'body' })
    })

    it('reads an empty JSON body as {} and names the missing field', async () => {
      const reply = await exchange('', JSON_TYPE)
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ field: 'api_key' })
    })

    it.each([
      ['text/plain', { 'content-type': 'text/plain' }],
      ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['a media type without a subtype', { 'content-type': 'json' }],
      ['a type that only starts like JSON', { 'content-type': 'application/json-seq' }],
      ['no Content-Type at all', {}],
    ])('answers 415 for %s', async (_case, headers) => {
      const reply = await exchange('{"api_key":"ms-1"}', headers)
      expect(reply.status).toBe(415)
      expect(reply.body).toEqual({
        error: 'Unsupported media type',
        message: 'Send the request body as application/json',
      })
    })

    it('authenticates before judging the body on routes that need a credential', async () => {
      const reply = await t.api('POST', '/accounts/api-key', {
        raw: 'key_name=x',
        headers: { 'content-type': 'json' },
      })
      expect(reply.status).toBe(401)
    })
  })

  describe('the body limit', () => {
    const TOO_LARGE = {
      error: 'Payload too large',
      message: `The request body is larger than ${LIMIT} bytes`,
    }

    it('accepts a body of exactly the limit', async () => {
      const reply = await exchange(paddedTo(LIMIT), JSON_TYPE)
      expect(reply.status).toBe(401)
    })

    it('serves a request target in absolute form (http://host/path) as its path', async () => {
      const body = new TextEncoder().encode(JSON.stringify({ api_key: await t.keyFor('alice') }))
      const reply = await rawRequest(t.server.url, {
        method: 'POST',
        target: `${t.server.url}/accounts/auth-with-api-key?from=proxy`,
        headers: [['content-type', 'application/json']],
        body,
      })
      expect(reply.status).toBe(200)
      expect(JSON.parse(reply.body).data.auth_token).toEqual(expect.any(String))
    })

    it('answers 413 to a declared Content-Length over the limit without waiting for the body', async () => {
      const reply = await rawRequest(t.server.url, {
        method: 'POST',
        target: '/accounts/auth-with-api-key',
        headers: [
          ['content-type', 'application/json'],
          ['content-length', String(LIMIT + 1)],
        ],
      })
      expect(reply.status).toBe(413)
      expect(JSON.parse(reply.body)).toEqual(TOO_LARGE)
    })

    it('answers 413 to a body one byte over, and closes the connection', async () => {
      // The body the case above accepts, one byte longer.
      const reply = await exchange(paddedTo(LIMIT + 1), JSON_TYPE)
      expect(reply.status).toBe(413)
      expect(reply.body).toEqual(TOO_LARGE)
      expect(reply.headers.get('connection')).toBe('close')
    })

    it('answers 413 to a chunked body that grows past the limit', async () => {
      const reply = await exchange(chunked(LIMIT * 4), JSON_TYPE)
      expect(reply.status).toBe(413)
      expect(reply.body).toEqual(TOO_LARGE)
    })

    it('answers 413 on routes that need a credential too, and on DELETE', async () => {
      const alice = await t.keyFor('alice')
      const big = 'x'.repeat(LIMIT + 1)
      for (const method of ['POST', 'DELETE']) {
        const reply = await t.api(method, '/accounts/api-key?id=1', {
          raw: big,
          headers: { ...withKey(alice), ...JSON_TYPE },
        })
        expect(reply.status).toBe(413)
      }
      expect(await t.keyward.listKeys('alice')).toHaveLength(1)
    })

    it('ignores the body of a GET, however large, as HTTP gives it no meaning', async () => {
      const alice = await t.keyFor('alice')
      const reply = await t.api('GET', '/accounts/api-key', {
        raw: 'x'.repeat(LIMIT * 2),
        headers: { ...withKey(alice), ...JSON_TYPE },
        nodeHttp: true,
      })
      expect(reply.status).toBe(200)
    })
  })

  describe('methods', () => {
    it.each([
      ['PUT', '/accounts/api-key', 'POST, GET, HEAD, DELETE'],
      ['PATCH', '/accounts/api-key', 'POST, GET, HEAD, DELETE'],
      ['GET', '/accounts/auth-with-api-key', 'POST'],
      ['DELETE', '/accounts/generate-totp-key', 'POST'],
      ['GET', '/accounts/verify-totp', 'POST'],
      ['PUT', '/accounts/refresh', 'POST'],
      ['OPTIONS', '/accounts/refresh', 'POST'],
    ])('answers 405 with Allow to %s %s', async (method, path, allow) => {
      const reply = await t.api(method, path, { headers: withKey(await t.keyFor('alice')) })
      expect(reply.status).toBe(405)
      expect(reply.headers.get('allow')).toBe(allow)
      expect(reply.body).toEqual({ error: 'Method not allowed', message: `Use ${allow} on ${path}` })
    })

    it('answers HEAD where GET is served with the status and headers of GET and no body', async () => {
      const headers = withKey(await t.keyFor('alice'))
      const get = await t.api('GET', '/accounts/api-key', { headers })
      const head = await t.api('HEAD', '/accounts/api-key', { headers })
      expect(get.status).toBe(200)
      expect(head.status).toBe(200)
      for (const name of ['content-type', 'cache-control', 'content-length'])
        expect(head.headers.get(name), name).toBe(get.headers.get(name))
      expect(head.body).toBe('')
    })

    it('authenticates HEAD as it does GET', async () => {
      const reply = await t.api('HEAD', '/accounts/api-key')
      expect(reply.status).toBe(401)
      expect(reply.headers.get('www-authenticate')).toBeTruthy()
      expect(reply.body).toBe('')
    })

    it('answers HEAD where GET is not served with 405, Allow and no body', async () => {
      const reply = await t.api('HEAD', '/accounts/refresh')
      expect(reply.status).toBe(405)
      expect(reply.headers.get('allow')).toBe('POST')
      expect(reply.body).toBe('')
    })
  })

  describe('paths that are not keyward’s', () => {
    it('reach the host untouched, body included', async () => {
      expect((await t.api('GET', '/public')).body).toEqual({ public: true })
      const echo = await t.api('POST', '/echo', {
        raw: 'hello, host',
        headers: { 'content-type': 'text/plain' },
      })
      expect(echo.body).toEqual({ echo: 'hello, host' })
    })

    it.each([
      '/accounts/unknown',
      '/accounts/api-key/',
      '/accounts',
      '/v2/accounts/api-key',
      '/ACCOUNTS/API-KEY',
      '/accounts/api%2Dkey',
    ])('leave %s to the host (its 404)', async (path) => {
      const reply = await t.api('POST', path, { json: {} })
      expect(reply.status).toBe(404)
    })
  })
})
