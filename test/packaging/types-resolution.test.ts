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
import { PACKAGES, pack } from './support/pack.js'

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
    expect(result.problems).toEqual([])
  })
})
