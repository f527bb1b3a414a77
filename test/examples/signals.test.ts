/**
 * Ctrl-C stops an example as SIGTERM does (the other tests stop with SIGTERM): exit code 0, the
 * store closed and the data folder's lock released.
 */
import { existsSync } from 'node:fs'
import { expect, it } from 'vitest'
import { dataFolders } from './support/data-folders.js'
import { FRAMEWORKS, START_TIMEOUT_MS, startServer } from './support/server-process.js'

const folders = dataFolders('signals')

it.each(FRAMEWORKS)(
  'stops cleanly on SIGINT (Ctrl-C) on %s',
  async (framework) => {
    const env = folders.env(framework)
    const server = await startServer(framework, env)
    expect(await server.stop('SIGINT')).toBe(0)
    expect(server.output()).not.toMatch(/\n\s+at /)
    expect(existsSync(`${env.KEYWARD_DATA_DIR}.lock`)).toBe(false)
  },
  START_TIMEOUT_MS + 30_000,
)
