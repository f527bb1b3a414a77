/**
 * One process at a time on a PGlite data folder (PGlite takes no lock, and two processes on one
 * folder corrupt it): a second example refuses to start before it opens the folder; the folder is
 * free again once the first stops, or once its process is gone without stopping (killed).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { call } from './support/client.js'
import { dataFolders, snapshot } from './support/data-folders.js'
import { START_TIMEOUT_MS, startRefused, startServer } from './support/server-process.js'

const folders = dataFolders('lock')
const SECRET = { KEYWARD_JWT_SECRET: 'lock-secret-lock-secret-lock-secret-lock-0' }

it(
  'refuses a second example on a data folder in use, before it opens it; a key survives on the folder',
  async () => {
    const env = folders.env('shared', SECRET)
    const lockFile = `${env.KEYWARD_DATA_DIR}.lock`
    const first = await startServer('express', env)
    let key: string
    try {
      const login = await call(`${first.url}/login`, { json: { username: 'demo', password: 'demo' } })
      const created = await call(`${first.url}/accounts/api-key`, {
        headers: { authorization: `Bearer ${login.body.data.auth_token}` },
        json: { key_name: 'one process at a time' },
      })
      key = created.body.data.key
      expect(readFileSync(lockFile, 'utf8')).toBe(String(first.process.pid))

      const before = snapshot(env.KEYWARD_DATA_DIR)
      const second = await startRefused('fastify', env)
      expect(second.code).toBe(1)
      expect(second.output).toContain(
        `KEYWARD_DATA_DIR ${env.KEYWARD_DATA_DIR} is in use by process ${first.process.pid}`,
      )
      expect(snapshot(env.KEYWARD_DATA_DIR)).toEqual(before)
      expect(readFileSync(lockFile, 'utf8')).toBe(String(first.process.pid))
      expect((await call(`${first.url}/v1/agents`, { headers: { 'x-api-key': key } })).status).toBe(200)
    } finally {
      expect(await first.stop()).toBe(0)
    }
    expect(existsSync(lockFile)).toBe(false)

    const third = await startServer('fastify', env)
    try {
      expect((await call(`${third.url}/v1/agents`, { headers: { 'x-api-key': key } })).status).toBe(200)
    } finally {
      expect(await third.stop()).toBe(0)
    }
  },
  3 * START_TIMEOUT_MS,
)

it('makes no data folder while a live process holds its lock', async () => {
  const env = folders.env('held')
  // This test's own process: alive, and no example.
  writeFileSync(`${env.KEYWARD_DATA_DIR}.lock`, String(process.pid))
  const refused = await startRefused('koa', env)
  expect(refused.code).toBe(1)
  expect(refused.output).toContain(
    `KEYWARD_DATA_DIR ${env.KEYWARD_DATA_DIR} is in use by process ${process.pid}`,
  )
  expect(refused.output).not.toMatch(/\n\s+at /)
  expect(existsSync(env.KEYWARD_DATA_DIR)).toBe(false)
  expect(readFileSync(`${env.KEYWARD_DATA_DIR}.lock`, 'utf8')).toBe(String(process.pid))
}, 60_000)

it(
  'takes over the lock of a process that is gone (killed, so it could not release it)',
  async () => {
    const env = folders.env('stale')
    const lockFile = `${env.KEYWARD_DATA_DIR}.lock`
    const killed = await startServer('koa', env)
    await killed.kill()
    expect(readFileSync(lockFile, 'utf8')).toBe(String(killed.process.pid))

    const next = await startServer('koa', env)
    try {
      expect(readFileSync(lockFile, 'utf8')).toBe(String(next.process.pid))
    } finally {
      expect(await next.stop()).toBe(0)
    }
    expect(existsSync(lockFile)).toBe(false)
  },
  2 * START_TIMEOUT_MS + 30_000,
)

it('says in one line why PGlite cannot open a data folder that is a file, and frees its lock', async () => {
  const env = folders.env('file')
  writeFileSync(env.KEYWARD_DATA_DIR, 'not a folder')
  const refused = await startRefused('express', env)
  expect(refused.code).toBe(1)
  expect(refused.output).toContain(`PGlite cannot open KEYWARD_DATA_DIR ${env.KEYWARD_DATA_DIR} (ErrnoError`)
  expect(refused.output).not.toContain('[object Object]')
  expect(refused.output).not.toMatch(/\n\s+at /)
  expect(existsSync(`${env.KEYWARD_DATA_DIR}.lock`)).toBe(false)
}, 60_000)
