/** The examples check their configuration before they open a store: a bad setting leaves nothing behind. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { startServer } from './support/server-process.js'

const parent = mkdtempSync(join(tmpdir(), 'keyward-config-'))
afterAll(() => rmSync(parent, { recursive: true, force: true }))

it('refuses a short KEYWARD_JWT_SECRET before it makes its data folder', async () => {
  const dataDir = join(parent, 'data')
  const started = startServer('fastify', {
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_JWT_SECRET: 'short',
    DATABASE_URL: '',
    REDIS_URL: '',
  })
  await expect(started).rejects.toThrow(/KEYWARD_JWT_SECRET must be at least 32 bytes \(got 5\)/)
  expect(existsSync(dataDir)).toBe(false)
}, 60_000)

it('refuses a key lifetime past 100 years, and a KEYWARD_TOTP_KEY not of 32 bytes, before it makes its data folder', async () => {
  const dataDir = join(parent, 'lifetime')
  const base = { KEYWARD_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' }
  await expect(startServer('koa', { ...base, KEYWARD_KEY_LIFETIME: '101y' })).rejects.toThrow(
    /KEYWARD_KEY_LIFETIME must be a lifetime such as 3mo, 90d or 2s, at most 100y \(got 101y\)/,
  )
  for (const [key, bytes] of [
    ['short', 5],
    ['x'.repeat(44), 44],
  ] as const) {
    await expect(startServer('koa', { ...base, KEYWARD_TOTP_KEY: key })).rejects.toThrow(
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

it('says why it cannot start when Redis is unreachable', async () => {
  const unused = await freePort()
  await expect(startServer('fastify', { REDIS_URL: `redis://127.0.0.1:${unused}` })).rejects.toThrow(
    new RegExp(`cannot reach Redis at REDIS_URL: connect ECONNREFUSED 127.0.0.1:${unused}`),
  )
}, 60_000)

it.each(['express', 'fastify', 'koa'] as const)(
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

it('says why Express cannot listen (a port in use)', async () => {
  const first = await startServer('express', {
    KEYWARD_DATA_DIR: join(parent, 'express-first'),
    DATABASE_URL: '',
    REDIS_URL: '',
  })
  try {
    await expect(
      startServer('express', {
        PORT: new URL(first.url).port,
        KEYWARD_DATA_DIR: join(parent, 'express-second'),
        DATABASE_URL: '',
        REDIS_URL: '',
      }),
    ).rejects.toThrow(/EADDRINUSE/)
  } finally {
    expect(await first.stop()).toBe(0)
  }
}, 60_000)

/** A port nothing listens on: bound, read, released. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}
