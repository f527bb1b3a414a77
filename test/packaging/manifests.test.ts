/**
 * The built packages as a user gets them: `require` and `import` both work, from the dist
 * that `pnpm build` wrote, with an exports map, types and `sideEffects: false`.
 * Runs in child processes so that vitest's source aliases are out of the way.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['core', 'express', 'fastify', 'koa', 'store-postgres', 'store-redis'] as const

/** Runs a script from the repo root, where every workspace package resolves to its dist. */
function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' })
}

describe.each(PACKAGES)('@keyward/%s as published', (name) => {
  const manifest = JSON.parse(readFileSync(`${root}/packages/${name}/package.json`, 'utf8'))

  it('declares ESM and CommonJS entry points with types, and no side effects', () => {
    expect(manifest.sideEffects).toBe(false)
    expect(manifest.exports['.'].import).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' })
    expect(manifest.exports['.'].require).toEqual({
      types: './dist/index.d.cts',
      default: './dist/index.cjs',
    })
    expect(manifest.files).toContain('dist')
  })

  it('ships the MIT license it declares (npm packs the LICENSE of a package folder whatever its files list)', () => {
    expect(manifest.license).toBe('MIT')
    expect(readFileSync(`${root}/packages/${name}/LICENSE`, 'utf8')).toBe(
      readFileSync(`${root}/LICENSE`, 'utf8'),
    )
  })

  it('loads with require and with import, exporting the same names', () => {
    const script = (loader: string) =>
      `Promise.resolve(${loader}).then((m) => console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default' && k !== 'module.exports').sort())))`
    const required = JSON.parse(node(['-e', script(`require('@keyward/${name}')`)]))
    const imported = JSON.parse(node(['--input-type=module', '-e', script(`import('@keyward/${name}')`)]))
    expect(required.length).toBeGreaterThan(0)
    expect(imported).toEqual(required)
  })
})

it("@keyward/store-postgres's published types need neither optional driver (a host installs one)", () => {
  for (const file of ['index.d.ts', 'index.d.cts']) {
    const types = readFileSync(`${root}/packages/store-postgres/dist/${file}`, 'utf8')
    expect(types).not.toMatch(/from '(pg|@electric-sql\/pglite)'/)
  }
})

describe('@keyward/core public surface', () => {
  it('exports the public API and nothing internal', () => {
    const names: string[] = JSON.parse(
      node(['-e', "console.log(JSON.stringify(Object.keys(require('@keyward/core')).sort()))"]),
    )
    expect(names).toEqual(
      [
        'KeywardConfigError',
        'KeywardError',
        'ROUTES',
        'bodyErrorResponse',
        'readBody',
        'StoreUnavailableError',
        'createKeyward',
        'decodeStoreEvent',
        'encodeStoreEvent',
        'failureResponse',
        'memoryStore',
        'parseDuration',
        'readRawBody',
      ].sort(),
    )
  })

  it('works end to end from the CommonJS build', () => {
    const out = node([
      '-e',
      `const { createKeyward } = require('@keyward/core')
       const kw = createKeyward({ jwtSecret: 'a'.repeat(32), users: { get: (id) => ({ id, permissions: [] }) } })
       kw.issueKey('u', { name: 'cjs' }).then((k) => kw.verifyKey(k.key)).then((r) => { console.log(r.ok); return kw.close() })`,
    ])
    expect(out.trim()).toBe('true')
  })

  it('ships the conformance suite at @keyward/core/testing', () => {
    const manifest = JSON.parse(readFileSync(`${root}/packages/core/package.json`, 'utf8'))
    expect(manifest.exports['./testing'].import.default).toBe('./dist/testing.js')
    expect(readFileSync(`${root}/packages/core/dist/testing.js`, 'utf8')).toContain('runStoreConformance')
  })
})
