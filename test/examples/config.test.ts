/** The examples check their configuration before they open a store: a bad setting leaves nothing behind. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
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
