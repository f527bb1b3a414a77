import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const root = fileURLToPath(new URL('../../..', import.meta.url))
export const PACKAGES = ['core', 'express', 'fastify', 'koa', 'store-postgres', 'store-redis'] as const
export type PackageFolder = (typeof PACKAGES)[number]

/**
 * Packs packages/<name> from its built dist as `pnpm publish` would (workspace ranges rewritten,
 * only its `files`), into a folder of its own under `into`; answers the tarball's path.
 */
export async function pack(name: PackageFolder, into: string): Promise<string> {
  const destination = join(into, name)
  mkdirSync(destination, { recursive: true })
  await promisify(execFile)('pnpm', ['pack', '--pack-destination', destination], {
    cwd: join(root, 'packages', name),
  })
  const [tarball] = readdirSync(destination)
  if (tarball === undefined) throw new Error(`pnpm pack wrote nothing for ${name}`)
  return join(destination, tarball)
}
