import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { ApiKeyRecord } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, expect, it } from 'vitest'

let dir: string | undefined
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

it('keeps keys in a PGlite data directory across a close and a reopen', async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyward-pglite-'))
  const record: ApiKeyRecord = {
    id: 'key-1',
    userId: 'alice',
    name: 'laptop',
    digest: 'a'.repeat(64),
    preview: 'ms-…beef',
    createdOn: new Date('2026-11-22T10:00:00.123Z'),
    expiresOn: new Date('2027-02-22T10:00:00.456Z'),
    lastUsedOn: null,
  }

  const first = new PGlite(dir)
  await migrate(first)
  await postgresStore({ client: first }).insertKey(record)
  await first.close()

  const reopened = new PGlite(dir)
  try {
    expect(await migrate(reopened)).toEqual({ applied: [], version: 3 })
    expect(await postgresStore({ client: reopened }).findKeyByDigest(record.digest)).toEqual(record)
  } finally {
    await reopened.close()
  }
})
