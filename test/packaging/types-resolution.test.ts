/**
 * Each package as npm would publish it (`pnpm pack`), checked by @arethetypeswrong/core, the
 * tool of the field: every entry point resolves to the right JavaScript and types under each
 * moduleResolution a host may use (node10, node16 from CommonJS and from ESM, bundler), with no
 * ESM types behind a CommonJS entry or the reverse.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core'
import { afterAll, describe, expect, it } from 'vitest'
import { PACKAGES, type PackageFolder, pack } from './support/pack.js'

/**
 * The problems a package is built to have; every other package must have none. @keyward/core/testing
 * is ESM only: it is a vitest suite, and vitest refuses to be loaded through require() (its CommonJS
 * entry only throws), so a CommonJS build of it could never run. attw reports an ESM-only entry point
 * that a CommonJS `require` reaches under node16 as CJSResolvesToESM: that, for that entry point and
 * that resolution alone, is the choice; node10 reaches its types through typesVersions. (Node 20.19+
 * loads it through require(esm) all the same: see consumer-install.test.ts.)
 */
const EXPECTED_PROBLEMS: Partial<Record<PackageFolder, object[]>> = {
  core: [{ kind: 'CJSResolvesToESM', entrypoint: './testing', resolutionKind: 'node16-cjs' }],
}

const work = mkdtempSync(join(tmpdir(), 'keyward-attw-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe.concurrent.each(PACKAGES)('@keyward/%s as packed', (name) => {
  it('resolves every entry point to its types under every module resolution', {
    timeout: 60_000,
  }, async () => {
    const result = await checkPackage(createPackageFromTarballData(readFileSync(await pack(name, work))))
    expect(result.types).not.toBe(false)
    if (result.types === false) return
    expect(Object.keys(result.entrypoints).length).toBeGreaterThan(1)
    expect(result.problems).toEqual(EXPECTED_PROBLEMS[name] ?? [])
  })
})
