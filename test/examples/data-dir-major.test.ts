/**
 * A data folder stays with the PostgreSQL major that made it, and each PGlite minor line may move
 * to a new major (0.5 runs 18, 0.6 runs 19): a folder kept from before an upgrade of the examples'
 * PGlite does not open. The example says so and what to do, in one line; it leaves the folder as
 * it was, so the older PGlite still opens it for a dump, and frees its lock.
 */
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGlite as PGlite05 } from 'pglite-0.5.0'
import { expect, it } from 'vitest'
import { dataFolders, snapshot } from './support/data-folders.js'
import { START_TIMEOUT_MS, startRefused } from './support/server-process.js'

const folders = dataFolders('major')

interface Database {
  query<Row>(text: string): Promise<{ rows: Row[] }>
  close(): Promise<void>
}

/** The PostgreSQL major a database runs, closing it. */
async function majorOf(db: Database): Promise<string> {
  try {
    const { rows } = await db.query<{ server_version_num: string }>('SHOW server_version_num')
    return String(Math.floor(Number(rows[0]?.server_version_num) / 10_000))
  } finally {
    await db.close()
  }
}

it(
  'names both majors and what to do when the folder is of an earlier PGlite’s PostgreSQL',
  async () => {
    const env = folders.env('older')
    const dir = env.KEYWARD_DATA_DIR
    const older = new PGlite05(dir)
    await older.exec("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('made by PGlite 0.5')")
    const folderMajor = await majorOf(older)
    const runningMajor = await majorOf(new PGlite())
    expect(folderMajor).not.toBe(runningMajor)

    const before = snapshot(dir)
    const refused = await startRefused('koa', env)
    expect(refused.code).toBe(1)
    expect(refused.output).toContain(
      `keyward example cannot start: KEYWARD_DATA_DIR ${dir} holds the data of PostgreSQL ${folderMajor}, which this PGlite (PostgreSQL ${runningMajor}) cannot open`,
    )
    expect(refused.output).toContain('delete the folder')
    expect(refused.output).not.toMatch(/\n\s+at /)
    expect(existsSync(`${dir}.lock`)).toBe(false)
    expect(snapshot(dir)).toEqual(before)

    const reopened = new PGlite05(dir)
    try {
      expect((await reopened.query('SELECT note FROM kept')).rows).toEqual([{ note: 'made by PGlite 0.5' }])
    } finally {
      await reopened.close()
    }
  },
  START_TIMEOUT_MS + 30_000,
)

it(
  'keeps PGlite’s own error for a folder of its own major that it cannot open',
  async () => {
    const env = folders.env('damaged')
    const dir = env.KEYWARD_DATA_DIR
    const made = new PGlite(dir)
    await made.exec('SELECT 1')
    await made.close()
    rmSync(join(dir, 'global', 'pg_control'))

    const refused = await startRefused('express', env)
    const pgliteError = await PGlite.create(dir).then(
      (db) => db.close().then(() => 'opened'),
      (error: Error) => error.message,
    )
    expect(refused.code).toBe(1)
    expect(refused.output).toContain(`keyward example cannot start: ${pgliteError}`)
    expect(refused.output).not.toContain('holds the data of')
    expect(existsSync(`${dir}.lock`)).toBe(false)
  },
  START_TIMEOUT_MS + 30_000,
)
