import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'

/**
 * PGlite data folders for one test file, in one temporary parent removed after the file's tests
 * (with the lock files beside the folders).
 */
export function dataFolders(label: string) {
  const parent = mkdtempSync(join(tmpdir(), `keyward-${label}-`))
  afterAll(() => rmSync(parent, { recursive: true, force: true }))
  const path = (name: string) => join(parent, name)
  return {
    path,
    /** An example's env on PGlite in the folder `name`, no other store. */
    env: (name: string, extra: Record<string, string> = {}) => ({
      KEYWARD_DATA_DIR: path(name),
      DATABASE_URL: '',
      REDIS_URL: '',
      ...extra,
    }),
  }
}

/** Every file under a folder, with its size and modification time: what opening it would change. */
export function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const stat = statSync(join(dir, name))
    if (stat.isFile()) files[name] = `${stat.size} ${stat.mtimeMs}`
  }
  return files
}
