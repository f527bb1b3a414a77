/** The examples check their configuration before they open a store: a bad setting leaves nothing behind. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { FRAMEWORKS, startRefused, startServer } from './support/server-process.js'

const parent = mkdtempSync(join(tmpdir(), 'keyward-config-'))
afterAll(() => rmSync(parent, { recursive: true, force: true }))

// startRefused, not startServer: should a regression let the example start, it is stopped, not left running.
it('refuses a short KEYWARD_JWT_SECRET before it makes its data folder', async () => {
  const dataDir = join(parent, 'data')
  const refused = await startRefused('fastify', {
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_JWT_SECRET: 'short',
    DATABASE_URL: '',
    REDIS_URL: '',
  })
  expect(refused.code).toBe(1)
  expect(refused.output).toMatch(
    /^keyward example cannot start: KEYWARD_JWT_SECRET must be at least 32 bytes \(got 5\)/m,
  )
  // One line that says why, not a crash's stack trace.
  expect(refused.output).not.toMatch(/\n\s+at /)
  expect(existsSync(dataDir)).toBe(false)
}, 60_000)

it('refuses a key lifetime past 100 years, and a KEYWARD_TOTP_KEY not of 32 bytes, before it makes its data folder', async () => {
  const dataDir = join(parent, 'lifetime')
  const base = { KEYWARD_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' }
  const lifetime = await startRefused('koa', { ...base, KEYWARD_KEY_LIFETIME: '101y' })
  expect(lifetime.code).toBe(1)
  expect(lifetime.output).toMatch(
    /KEYWARD_KEY_LIFETIME must be a lifetime such as 3mo, 90d or 2s, at most 100y \(got 101y\)/,
  )
  for (const [key, bytes] of [
    ['short', 5],
    ['x'.repeat(44), 44],
  ] as const) {
    const refused = await startRefused('koa', { ...base, KEYWARD_TOTP_KEY: key })
    expect(refused.code).toBe(1)
    expect(refused.output).toMatch(
      new RegExp(`KEYWARD_TOTP_KEY must be exactly 32 bytes, .* \\(got ${bytes}\\)`),
    )
  }
  expect(existsSync(dataDir)).toBe(false)
}, 60_000)

it('takes an empty HOST as unset: it listens on 127.0.0.1, not on every interface', async () => {
  const server = await startServer('koa', {
    HOST: '',
    KEYWARD_DATA_DIR: join(parent, 'empty-host'),
    DATABASE_URL: '',
    REDIS_URL: '',
  })
  // Stopped as soon as it says it is ready: its signal handlers are in place by then.
  expect(await server.stop()).toBe(0)
  expect(new URL(server.url).hostname).toBe('127.0.0.1')
}, 60_000)

it('says why it cannot start when Redis is unreachable, and exits', async () => {
  const unused = await freePort()
  // startRefused fails if the process hangs instead (for START_TIMEOUT_MS), though it printed the reason.
  const refused = await startRefused('fastify', { REDIS_URL: `redis://127.0.0.1:${unused}` })
  expect(refused.code).toBe(1)
  expect(refused.output).toContain(
    `cannot reach Redis at REDIS_URL: connect ECONNREFUSED 127.0.0.1:${unused}`,
  )
  expect(refused.output).not.toMatch(/\n\s+at /)
}, 60_000)

it.each(FRAMEWORKS)(
  'answers malformed JSON on /login in JSON, with no stack trace, on %s',
  async (framework) => {
    const server = await startServer(framework, {
      KEYWARD_DATA_DIR: join(parent, `malformed-${framework}`),
      DATABASE_URL: '',
      REDIS_URL: '',
    })
    try {
      const malformed = await fetch(`${server.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"username":',
      })
      expect(malformed.status).toBe(400)
      const text = await malformed.text()
      expect(JSON.parse(text)).toMatchObject({ error: expect.any(String), message: expect.any(String) })
      expect(text).not.toMatch(/at .*\.js/)
    } finally {
      expect(await server.stop()).toBe(0)
    }
    expect(server.output()).not.toMatch(/at .*\.js/)
  },
  60_000,
)

it.each(FRAMEWORKS)(
  'says why %s cannot listen (a port in use), and exits non-zero',
  async (framework) => {
    const taken = await listeningServer()
    const { port } = taken.address() as AddressInfo
    try {
      const dataDir = join(parent, `port-in-use-${framework}`)
      const refused = await startRefused(framework, {
        PORT: String(port),
        KEYWARD_DATA_DIR: dataDir,
        DATABASE_URL: '',
        REDIS_URL: '',
      })
      expect(refused.code).toBe(1)
      expect(refused.output).toContain(
        `keyward example cannot listen on http://127.0.0.1:${port}: the port is in use (EADDRINUSE): stop what listens there, or set PORT to another port`,
      )
      expect(refused.output).not.toMatch(/\n\s+at /)
      // It closed its store on the way out.
      expect(existsSync(`${dataDir}.lock`)).toBe(false)
    } finally {
      await new Promise((done) => taken.close(done))
    }
  },
  60_000,
)

/** A server listening on a free port of 127.0.0.1, which holds it until closed. */
function listeningServer(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

/** A port nothing listens on: bound, read, released. */
async function freePort(): Promise<number> {
  const server = await listeningServer()
  const { port } = server.address() as AddressInfo
  await new Promise((done) => server.close(done))
  return port
}
