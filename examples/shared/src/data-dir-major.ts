import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Why PGlite could not open a data folder, when the reason is the one an upgrade brings: the folder
 * holds another PostgreSQL major's files (each PGlite minor line may move to a new major; PGlite
 * says only "failed to initialize properly"). Undefined when the folder names no major, or the
 * same major as this PGlite's, so the caller keeps PGlite's own error. Called only after a failed
 * open: finding this PGlite's major opens an in-memory database (about a second).
 */
export async function dataDirMajorMismatch(dataDir: string): Promise<string | undefined> {
  const folderMajor = readPgVersion(dataDir)
  if (folderMajor === undefined) return undefined
  const runningMajor = await pgliteMajor()
  if (folderMajor === runningMajor) return undefined
  return (
    `KEYWARD_DATA_DIR ${dataDir} holds the data of PostgreSQL ${folderMajor}, which this PGlite ` +
    `(PostgreSQL ${runningMajor}) cannot open: a data folder opens only in a PGlite of the same ` +
    'PostgreSQL major. The keys in it are the example’s own: delete the folder (or set ' +
    'KEYWARD_DATA_DIR to a new path) to start afresh, or move them with a dump and a restore, as ' +
    'PGlite’s upgrade guide describes.'
  )
}

/** The major a PostgreSQL data folder was made by, from its PG_VERSION file. */
function readPgVersion(dataDir: string): string | undefined {
  try {
    const major = readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim()
    return /^\d+$/.test(major) ? major : undefined
  } catch {
    return undefined
  }
}

async function pgliteMajor(): Promise<string> {
  const { PGlite } = await import('@electric-sql/pglite')
  const db = await PGlite.create()
  try {
    const { rows } = await db.query<{ server_version_num: string }>('SHOW server_version_num')
    return String(Math.floor(Number(rows[0]?.server_version_num) / 10_000))
  } finally {
    await db.close()
  }
}
