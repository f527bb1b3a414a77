/**
 * A browser app on another origin calls keyward's routes and the guarded ones through each
 * framework's own CORS plugin, mounted in the order the adapters' READMEs give: its preflights
 * are answered, and every answer it reads (keyward's and the guard's refusals too) carries
 * Access-Control-Allow-Origin, which a browser needs to let the page read it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CORS_FRAMEWORKS, type CorsHost, startCorsHost } from './support/cors-hosts.js'

const APP_ORIGIN = 'https://app.example'

describe.each(CORS_FRAMEWORKS)('CORS on %s', (framework) => {
  let host: CorsHost
  beforeAll(async () => {
    host = await startCorsHost(framework, APP_ORIGIN)
  })
  afterAll(() => host?.close())

  const fromApp = (method: string, path: string, headers: Record<string, string> = {}, json?: unknown) =>
    fetch(`${host.server.url}${path}`, {
      method,
      headers: {
        origin: APP_ORIGIN,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: json === undefined ? undefined : JSON.stringify(json),
    })
  const listed = (value: string | null) => value?.toLowerCase().split(/\s*,\s*/)

  it.each([
    ['DELETE', '/accounts/api-key', 'x-api-key'],
    ['POST', '/accounts/auth-with-api-key', 'content-type'],
    ['GET', '/v1/me', 'authorization'],
  ])('answers the preflight of %s %s with %s', async (method, path, header) => {
    const reply = await fromApp('OPTIONS', path, {
      'access-control-request-method': method,
      'access-control-request-headers': header,
    })
    expect(reply.status).toBeLessThan(300)
    expect(reply.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(listed(reply.headers.get('access-control-allow-methods'))).toContain(method.toLowerCase())
    expect(listed(reply.headers.get('access-control-allow-headers'))).toContain(header)
  })

  it.each([
    ['the guard refusing no credential', () => fromApp('GET', '/v1/me'), 401],
    ['the guard letting a key through', () => fromApp('GET', '/v1/me', { 'x-api-key': host.key }), 200],
    [
      "keyward's route refusing a wrong key",
      () => fromApp('POST', '/accounts/auth-with-api-key', {}, { api_key: `ms-${'0'.repeat(32)}` }),
      401,
    ],
    ["keyward's route refusing a method", () => fromApp('PUT', '/accounts/api-key'), 405],
  ])('lets the page read %s', async (_case, send, status) => {
    const reply = await send()
    expect(reply.status).toBe(status)
    expect(reply.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(listed(reply.headers.get('access-control-expose-headers'))).toContain('www-authenticate')
  })
})
