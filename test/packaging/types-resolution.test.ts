/**
 * Each package as npm would publish it (`pnpm pack`), checked by @arethetypeswrong/core, the
 * tool of the field: every entry point resolves to the right JavaScript and types under each
 * moduleResolution a host may use (node10, node16 from CommonJS and from ESM, bundler), with no
 * ESM types behind a CommonJS entry or the reverse.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['core', 'express', 'fastify', 'koa', 'store-postgres', 'store-redis'] as const
const work = mkdtempSync(join(tmpdir(), 'keyward-attw-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** The package's tarball, packed from its built dist as `pnpm publish` would. */
async function pack(name: string): Promise<Uint8Array> {
  const destination = mkdtempSync(join(work, `${name}-`))
  await promisify(execFile)('pnpm', ['pack', '--pack-destination', destination], {
    cwd: join(root, 'packages', name),
  })
  const [tarball] = readdirSync(destination)
  if (tarball === undefined) throw new Error(`pnpm pack wrote nothing for ${name}`)
  return readFileSync(join(destination, tarball))
}

describe.concurrent.each(PACKAGES)('@keyward/%s as packed', (name) => {
  it('resolves every entry point to its types under every module resolution', {
    timeout: 60_000,
  }, async () => {
    const result = await checkPackage(createPackageFromTarballData(await pack(name)))
    expect(result.types).not.toBe(false)
    if (result.types === false) return
    expect(Object.keys(result.entrypoints).length).toBeGreaterThan(1)
    expect(result.problems).toEqual([])
  })
})
