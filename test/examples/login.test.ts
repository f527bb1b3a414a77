/**
 * The examples' own POST /login, on each framework as a separate process: the same answer to the
 * same request whatever the framework, never cached, and a second factor once TOTP is enabled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { totpCode } from '../contract/support/totp.js'
import { call } from './support/client.js'
import { dataFolders } from './support/data-folders.js'
import {
  FRAMEWORKS,
  type Framework,
  type RunningServer,
  START_TIMEOUT_MS,
  startServer,
} from './support/server-process.js'

const folders = dataFolders('login')
const servers = new Map<Framework, RunningServer>()
const urlOf = (framework: Framework) => {
  const server = servers.get(framework)
  if (server === undefined) throw new Error(`the ${framework} example did not start`)
  return server.url
}

// One after another, each kept as soon as it is up, so that afterAll stops whichever started.
beforeAll(async () => {
  for (const framework of FRAMEWORKS)
    servers.set(framework, await startServer(framework, folders.env(framework)))
}, FRAMEWORKS.length * START_TIMEOUT_MS)

afterAll(async () => {
  const codes = await Promise.all([...servers.values()].map((server) => server.stop()))
  expect(codes).toEqual(FRAMEWORKS.map(() => 0))
})

const JSON_TYPE = { 'content-type': 'application/json' }

describe('/login refuses alike on express, fastify and koa', () => {
  it.each([
    {
      request: 'malformed JSON',
      init: { method: 'POST', headers: JSON_TYPE, body: '{"username":' },
      status: 400,
      body: { error: 'Malformed JSON', message: 'The request body is not valid JSON' },
    },
    {
      request: 'an empty JSON body',
      init: { method: 'POST', headers: JSON_TYPE, body: '' },
      status: 400,
      body: { error: 'Invalid request', message: 'Send JSON { "username": "...", "password": "..." }' },
    },
    {
      request: 'a form-encoded body',
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'username=demo&password=demo',
      },
      status: 415,
      body: { error: 'Unsupported media type', message: 'Send the request body as application/json' },
    },
    ...['GET', 'PUT', 'DELETE'].map((method) => ({
      request: `${method} instead of POST`,
      init: { method, ...(method === 'GET' ? {} : { headers: JSON_TYPE, body: '{}' }) },
      status: 405,
      body: { error: 'Method not allowed', message: 'Use POST on /login' },
    })),
  ])('$request: $status', async ({ init, status, body }) => {
    const answers = await Promise.all(
      FRAMEWORKS.map(async (framework) => {
        const response = await fetch(`${urlOf(framework)}/login`, init)
        return { framework, status: response.status, body: await response.json() }
      }),
    )
    expect(answers).toEqual(FRAMEWORKS.map((framework) => ({ framework, status, body })))
  })
})

describe.each(FRAMEWORKS)('/login on %s', (framework) => {
  const login = (json: Record<string, unknown>) => call(`${urlOf(framework)}/login`, { json })

  it('marks every answer Cache-Control: no-store, tokens and refusals alike', async () => {
    const answers = await Promise.all([
      login({ username: 'demo', password: 'demo' }),
      login({ username: 'demo', password: 'wrong' }),
      login({ username: 'demo' }),
    ])
    expect(answers.map((answer) => answer.status)).toEqual([200, 401, 400])
    for (const answer of answers) expect(answer.headers.get('cache-control')).toBe('no-store')
  })

  it("signs the user out everywhere on POST /logout: every session's refresh token stops, another user's goes on", async () => {
    const base = urlOf(framework)
    const demo = { username: 'demo', password: 'demo' }
    const [laptop, phone, other] = await Promise.all([
      login(demo),
      login(demo),
      login({ username: 'alice', password: 'alice' }),
    ])
    const refresh = (refreshToken: string) =>
      call(`${base}/accounts/refresh`, { json: { refresh_token: refreshToken } })
    const rotated = await refresh(laptop.body.data.refresh_token)
    expect(rotated.status).toBe(200)

    expect((await call(`${base}/logout`, { method: 'POST' })).status).toBe(401)
    const out = await call(`${base}/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${phone.body.data.auth_token}` },
    })
    expect({ status: out.status, body: out.body }).toEqual({
      status: 200,
      body: { data: { sessions_ended: true } },
    })
    expect(out.headers.get('cache-control')).toBe('no-store')
    for (const token of [rotated.body.data.refresh_token, phone.body.data.refresh_token]) {
      const refused = await refresh(token)
      expect({ status: refused.status, error: refused.body.error }).toEqual({
        status: 401,
        error: 'Invalid refresh token',
      })
    }
    expect((await refresh(other.body.data.refresh_token)).status).toBe(200)
    // A new login is a new session.
    expect((await refresh((await login(demo)).body.data.refresh_token)).status).toBe(200)
  })

  it('asks for a TOTP code once the user has enabled TOTP, and takes each code once', async () => {
    const password = { username: 'alice', password: 'alice' }
    const first = await login(password)
    expect(first.status).toBe(200)
    const session = { authorization: `Bearer ${first.body.data.auth_token}` }
    const base = urlOf(framework)

    // Enrolment through the examples' own routes, with a code an authenticator app would show now.
    const enrolment = await call(`${base}/accounts/generate-totp-key`, { method: 'POST', headers: session })
    expect(enrolment.status).toBe(200)
    const { secret } = enrolment.body.data
    const enabled = await call(`${base}/accounts/verify-totp`, {
      headers: session,
      json: { code: await totpCode(secret, Date.now()) },
    })
    expect(enabled.body).toEqual({ data: { totp_enabled: true } })

    const passwordOnly = await login(password)
    expect(passwordOnly.status).toBe(401)
    expect(passwordOnly.body).toEqual({ error: 'TOTP required', message: expect.stringMatching(/totp_code/) })
    expect(passwordOnly.headers.get('cache-control')).toBe('no-store')

    // The next step's code: the one enrolment used is spent, and the server accepts one step ahead.
    const code = await totpCode(secret, Date.now() + 30_000)
    const withCode = await login({ ...password, totp_code: code })
    expect(withCode.status).toBe(200)
    expect(withCode.body.data).toMatchObject({
      auth_token: expect.any(String),
      refresh_token: expect.any(String),
    })
    expect(withCode.headers.get('cache-control')).toBe('no-store')

    const replayed = await login({ ...password, totp_code: code })
    expect(replayed.status).toBe(401)
    expect(replayed.body).toEqual({
      error: 'Invalid TOTP code',
      message: 'The code is wrong, expired or already used',
    })

    const malformed = await login({ ...password, totp_code: 123456 })
    expect(malformed.status).toBe(400)
    expect(malformed.body).toMatchObject({ error: 'Invalid request', field: 'totp_code' })

    // keyward's limit on wrong codes holds on this login too: 429 with Retry-After.
    let limited = await login({ ...password, totp_code: '000000' })
    for (let tries = 1; limited.status === 401 && tries < 10; tries++)
      limited = await login({ ...password, totp_code: '000000' })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.body).toMatchObject({ error: 'Rate limit exceeded', retry_after: expect.any(Number) })
  })
})
