/**
 * A jwtSecret rotation as an operator makes it on an example server: restarted with a new
 * KEYWARD_JWT_SECRET and the old one in KEYWARD_PREVIOUS_JWT_SECRETS, the auth tokens handed out
 * before still work, and so do TOTP enrolments sealed under the old secret (no KEYWARD_TOTP_KEY).
 */
import { createHmac } from 'node:crypto'
import { expect, it } from 'vitest'
import { loadConfig } from '../../examples/shared/src/config.js'
import { totpCode } from '../contract/support/totp.js'
import { call } from './support/client.js'
import { dataFolders } from './support/data-folders.js'
import { START_TIMEOUT_MS, startServer } from './support/server-process.js'

const OLD = 'rotation-old-secret-rotation-old-secret-0'
const NEW = 'rotation-new-secret-rotation-new-secret-0'
const folders = dataFolders('rotation')

/** Logs in on a running example and enables TOTP with a code of now: the auth token and the TOTP secret. */
async function logInAndEnableTotp(
  url: string,
  account: { username: string; password: string },
): Promise<{ token: string; secret: string }> {
  const login = await call(`${url}/login`, { json: account })
  const token: string = login.body.data.auth_token
  const session = { authorization: `Bearer ${token}` }
  const enrolment = await call(`${url}/accounts/generate-totp-key`, { method: 'POST', headers: session })
  const secret: string = enrolment.body.data.secret
  const enabled = await call(`${url}/accounts/verify-totp`, {
    headers: session,
    json: { code: await totpCode(secret, Date.now()) },
  })
  expect(enabled.body).toEqual({ data: { totp_enabled: true } })
  return { token, secret }
}

it(
  'keeps auth tokens and TOTP enrolments made before a rotation working after it',
  async () => {
    const alice = { username: 'alice', password: 'alice' }
    const before = await startServer('fastify', folders.env('data', { KEYWARD_JWT_SECRET: OLD }))
    let token: string
    let secret: string
    try {
      ;({ token, secret } = await logInAndEnableTotp(before.url, alice))
    } finally {
      expect(await before.stop()).toBe(0)
    }

    const after = await startServer(
      'fastify',
      folders.env('data', { KEYWARD_JWT_SECRET: NEW, KEYWARD_PREVIOUS_JWT_SECRETS: OLD }),
    )
    try {
      const agents = await call(`${after.url}/v1/agents`, { headers: { authorization: `Bearer ${token}` } })
      expect(agents.status).toBe(200)
      // The next step's code: the one the enrolment used is spent.
      const login = await call(`${after.url}/login`, {
        json: { ...alice, totp_code: await totpCode(secret, Date.now() + 30_000) },
      })
      expect(login.status).toBe(200)
      // What it signs now, it signs with the new secret alone.
      const [header, payload, signature] = login.body.data.auth_token.split('.')
      expect(createHmac('sha256', NEW).update(`${header}.${payload}`).digest('base64url')).toBe(signature)
    } finally {
      expect(await after.stop()).toBe(0)
    }
  },
  2 * START_TIMEOUT_MS + 30_000,
)

it(
  'keeps TOTP enrolments sealed under a KEYWARD_TOTP_KEY working after it is rotated, listed as previous',
  async () => {
    const OLD_KEY = 'old-totp-key-old-totp-key-old-tk' // 32 bytes, as openssl rand -base64 24 gives
    const NEW_KEY = 'new-totp-key-new-totp-key-new-tk'
    const demo = { username: 'demo', password: 'demo' }
    const before = await startServer(
      'express',
      folders.env('totp', { KEYWARD_JWT_SECRET: OLD, KEYWARD_TOTP_KEY: OLD_KEY }),
    )
    let secret: string
    try {
      ;({ secret } = await logInAndEnableTotp(before.url, demo))
    } finally {
      expect(await before.stop()).toBe(0)
    }

    const after = await startServer(
      'express',
      folders.env('totp', {
        KEYWARD_JWT_SECRET: OLD,
        KEYWARD_TOTP_KEY: NEW_KEY,
        KEYWARD_PREVIOUS_TOTP_KEYS: OLD_KEY,
      }),
    )
    try {
      const login = await call(`${after.url}/login`, {
        json: { ...demo, totp_code: await totpCode(secret, Date.now() + 30_000) },
      })
      expect(login.status).toBe(200)
    } finally {
      expect(await after.stop()).toBe(0)
    }
  },
  2 * START_TIMEOUT_MS + 30_000,
)

it('refuses previous TOTP keys not of 32 bytes, or with no KEYWARD_TOTP_KEY to replace them', () => {
  const KEY = 'k'.repeat(32)
  const env = { KEYWARD_JWT_SECRET: NEW, KEYWARD_TOTP_KEY: KEY }
  expect(() => loadConfig({ ...env, KEYWARD_PREVIOUS_TOTP_KEYS: `${KEY},short` })).toThrow(
    'KEYWARD_PREVIOUS_TOTP_KEYS (key 2) must be exactly 32 bytes, such as the output of openssl rand -base64 24 (got 5)',
  )
  expect(() => loadConfig({ KEYWARD_JWT_SECRET: NEW, KEYWARD_PREVIOUS_TOTP_KEYS: KEY })).toThrow(
    'KEYWARD_PREVIOUS_TOTP_KEYS needs KEYWARD_TOTP_KEY',
  )
  expect(loadConfig({ ...env, KEYWARD_PREVIOUS_TOTP_KEYS: `${KEY},${KEY}` }).previousTotpKeys).toEqual([
    KEY,
    KEY,
  ])
})

it('refuses a previous secret shorter than 32 bytes, naming which', () => {
  const env = { KEYWARD_JWT_SECRET: NEW, KEYWARD_PREVIOUS_JWT_SECRETS: `${OLD},short` }
  expect(() => loadConfig(env)).toThrow(
    'KEYWARD_PREVIOUS_JWT_SECRETS (secret 2) must be at least 32 bytes (got 5)',
  )
  expect(loadConfig({ ...env, KEYWARD_PREVIOUS_JWT_SECRETS: `${OLD},${NEW}` }).previousJwtSecrets).toEqual([
    OLD,
    NEW,
  ])
})
