import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { ApiKeyRecord } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { PGLITES } from './support.js'

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
    expect(await migrate(reopened)).toEqual({ applied: [], version: 5 })
    expect(await postgresStore({ client: reopened }).findKeyByDigest(record.digest)).toEqual(record)
  } finally {
    await reopened.close()
  }
})

describe('the PostgreSQL inside each PGlite line, whose data directory it keeps', () => {
  // The README's table of majors: a directory moves only to a PGlite of the same one.
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' ')
  const documented =
    /A PGlite data directory is that of the PostgreSQL inside it: (16) in PGlite 0\.2, (17) in 0\.3 and 0\.4, (18) in 0\.5, (19) in 0\.6\./.exec(
      readme,
    )

  it.each(PGLITES)('is the README’s on %s', async (release, open) => {
    expect(documented).not.toBeNull()
    const line = /^PGlite 0\.(\d)\.\d+$/.exec(release)?.[1]
    const major = {
      '2': documented?.[1],
      '3': documented?.[2],
      '4': documented?.[2],
      '5': documented?.[3],
      '6': documented?.[4],
    }[line ?? '']
    expect(major, `the README names no major for ${release}`).toBeDefined()
    const db = open()
    try {
      const { rows } = await db.query<{ server_version_num: string }>('SHOW server_version_num')
      expect(String(Math.floor(Number(rows[0]?.server_version_num) / 10_000))).toBe(major)
    } finally {
      await db.close()
    }
  })
})
