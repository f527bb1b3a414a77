/**
 * keyward's documented CORS setups (the adapters' READMEs, "Browsers and CORS") in a real browser:
 * a page served from another loopback port calls keyward's routes and the guarded route with
 * fetch, as a web app would, and Chromium, not a hand-built header, decides what it may send
 * (the preflights of JSON bodies, custom headers and DELETE) and what it may read (refusals and
 * their headers included). A page of an origin not allowed is refused by the browser itself.
 */
import { createServer } from 'node:http'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { INVALID_KEY } from '../contract/support/answers.js'
import {
  CORS_FRAMEWORKS,
  type CorsHost,
  GUARDED_ROUTE,
  startCorsHost,
} from '../contract/support/cors-hosts.js'
import { MINUTE, manualClock } from '../contract/support/fixture.js'
import type { RunningServer } from '../contract/support/host.js'
import { listenOnLoopback } from '../contract/support/listen.js'
import { describeWithBrowser, launchChromium } from '../support/browser.js'

/** Failed attempts an address may make per minute: low, so that a case reaches the limit. */
const MAX_FAILURES = 3
const REALM = 'Bearer realm="keyward"'
const UNKNOWN_KEY = `ms-${'0'.repeat(32)}`

/** What the page could read of an answer, or the error its fetch threw. */
type Outcome =
  | { readonly status: number; readonly headers: Record<string, string>; readonly body: unknown }
  | { readonly error: string }
type Answer = Extract<Outcome, { status: number }>

/** A blank HTML page on a loopback port of its own: its origin is the server's URL. */
async function servePage(): Promise<RunningServer> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end('<!doctype html><title>app</title>')
  })
  return listenOnLoopback(server.listen(0, '127.0.0.1'), [])
}

/** `fetch` run in the page: what it could read, the headers as the browser let it see them. */
function fetchFrom(
  page: Page,
  url: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown } = {},
): Promise<Outcome> {
  const headers = {
    ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    ...init.headers,
  }
  const body = init.json === undefined ? undefined : JSON.stringify(init.json)
  return page.evaluate(
    async ({ url, ...request }) => {
      try {
        const response = await fetch(url, request)
        const text = await response.text()
        const body: unknown = text === '' ? null : JSON.parse(text)
        return { status: response.status, headers: Object.fromEntries(response.headers), body }
      } catch (error) {
        return { error: String(error) }
      }
    },
    { url, method: init.method ?? 'GET', headers, body },
  )
}

/** The answer the page read; a blocked fetch fails the test with the browser's error. */
function read(outcome: Outcome): Answer {
  if ('error' in outcome) throw new Error(`the page could not read the answer: ${outcome.error}`)
  return outcome
}

describeWithBrowser('a page on another origin, in Chromium', (executablePath) => {
  let browser: Browser
  let app: RunningServer
  let stranger: RunningServer
  beforeAll(async () => {
    ;[browser, app, stranger] = await Promise.all([launchChromium(executablePath), servePage(), servePage()])
  })
  afterAll(async () => {
    await Promise.all([browser?.close(), app?.close(), stranger?.close()])
  })

  /** A fresh context's blank page of `origin`, closed when the case ends. */
  async function pageOf(origin: string): Promise<Page> {
    const context = await browser.newContext()
    onTestFinished(() => context.close())
    const page = await context.newPage()
    await page.goto(`${origin}/`)
    return page
  }

  describe.each(CORS_FRAMEWORKS)('calling keyward on %s', (framework) => {
    const clock = manualClock()
    let host: CorsHost
    beforeAll(async () => {
      host = await startCorsHost(framework, app.url, {
        clock,
        rateLimit: { perAddress: { max: MAX_FAILURES, window: '1m' } },
      })
    })
    // Every case fails from the same address: each starts a failed-attempt window of its own.
    beforeEach(() => clock.advance(MINUTE))
    afterAll(() => host?.close())

    const call = (page: Page, path: string, init?: Parameters<typeof fetchFrom>[2]) =>
      fetchFrom(page, `${host.server.url}${path}`, init)
    const exchange = (page: Page, apiKey: string) =>
      call(page, '/accounts/auth-with-api-key', { method: 'POST', json: { api_key: apiKey } })

    it('exchanges a key for tokens with a JSON body, and reads them', async () => {
      const answer = read(await exchange(await pageOf(app.url), host.key))
      expect(answer.status).toBe(200)
      expect(answer.headers['content-type']).toMatch(/^application\/json/)
      expect(answer.body).toMatchObject({
        data: {
          auth_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
          refresh_token: expect.any(String),
        },
      })
    })

    it('calls the guarded route with the auth token as Bearer, and reads its JSON', async () => {
      const page = await pageOf(app.url)
      const { data } = read(await exchange(page, host.key)).body as { data: { auth_token: string } }
      const answer = read(
        await call(page, GUARDED_ROUTE, { headers: { authorization: `Bearer ${data.auth_token}` } }),
      )
      expect(answer).toMatchObject({ status: 200, body: { user: 'alice' } })
    })

    it('calls the guarded route with X-Api-Key, and reads its JSON', async () => {
      const answer = read(
        await call(await pageOf(app.url), GUARDED_ROUTE, { headers: { 'x-api-key': host.key } }),
      )
      expect(answer).toMatchObject({ status: 200, body: { user: 'alice' } })
    })

    it('issues a key and deletes it with DELETE, after which the key is refused', async () => {
      const page = await pageOf(app.url)
      const issued = read(
        await call(page, '/accounts/api-key', {
          method: 'POST',
          headers: { 'x-api-key': host.key },
          json: { key_name: 'from the page' },
        }),
      )
      expect(issued.status).toBe(200)
      const { id, key: newKey } = (issued.body as { data: { id: string; key: string } }).data
      expect(read(await call(page, GUARDED_ROUTE, { headers: { 'x-api-key': newKey } })).status).toBe(200)

      const deleted = read(
        await call(page, `/accounts/api-key?id=${encodeURIComponent(id)}`, {
          method: 'DELETE',
          headers: { 'x-api-key': host.key },
        }),
      )
      expect(deleted).toMatchObject({ status: 200, body: { data: { id } } })
      expect(read(await call(page, GUARDED_ROUTE, { headers: { 'x-api-key': newKey } })).status).toBe(401)
    })

    it.each([
      ["keyward's route", (page: Page) => exchange(page, UNKNOWN_KEY)],
      ['the guard', (page: Page) => call(page, GUARDED_ROUTE, { headers: { 'x-api-key': UNKNOWN_KEY } })],
    ])('reads the 401 of %s to a wrong key: its JSON and WWW-Authenticate', async (_case, send) => {
      const answer = read(await send(await pageOf(app.url)))
      expect(answer.status).toBe(401)
      expect(answer.body).toEqual(INVALID_KEY)
      expect(answer.headers['www-authenticate']).toBe(`${REALM}, error="invalid_token"`)
    })

    it('reads the 429 of an address that failed too often, with Retry-After and the RateLimit headers', async () => {
      const page = await pageOf(app.url)
      for (let attempt = 0; attempt < MAX_FAILURES; attempt++)
        expect(read(await exchange(page, UNKNOWN_KEY)).status).toBe(401)
      clock.advance(20_000)
      const limited = read(await call(page, GUARDED_ROUTE, { headers: { 'x-api-key': host.key } }))
      expect(limited.status).toBe(429)
      expect(limited.body).toMatchObject({ error: 'Rate limit exceeded', retry_after: 40 })
      expect(limited.headers).toMatchObject({
        'retry-after': '40',
        ratelimit: '"failures";r=0;t=40',
        'ratelimit-policy': `"failures";q=${MAX_FAILURES};w=60`,
      })
    })

    it('is refused by the browser on an origin not allowed: the request it preflights never runs', async () => {
      const before = (await host.engine.listKeys('alice')).length
      const outcome = await call(await pageOf(stranger.url), '/accounts/api-key', {
        method: 'POST',
        headers: { 'x-api-key': host.key },
        json: { key_name: 'from a stranger' },
      })
      expect(outcome).toEqual({ error: 'TypeError: Failed to fetch' })
      // The preflight was refused, so the POST was never sent: no key was issued.
      expect(await host.engine.listKeys('alice')).toHaveLength(before)
    })
  })
})
