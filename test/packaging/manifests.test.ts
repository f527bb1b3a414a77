/**
 * The built packages as a user gets them: `require` and `import` both work, from the dist
 * that `pnpm build` wrote, with an exports map, types and `sideEffects: false`.
 * Runs in child processes so that vitest's source aliases are out of the way.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
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

  it('publishes as public (npm publishes a scoped package as restricted unless told, which a free org cannot)', () => {
    expect(manifest.publishConfig?.access).toBe('public')
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

it('@keyward/store-postgres exports its factory and migrate(), and nothing internal', () => {
  const names: string[] = JSON.parse(
    node(['-e', "console.log(JSON.stringify(Object.keys(require('@keyward/store-postgres')).sort()))"]),
  )
  expect(names).toEqual(['migrate', 'postgresStore'])
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
        'PENDING_TOTP_LIFETIME_MS',
        'ROUTES',
        'bodyErrorResponse',
        'checkGuardOptions',
        'readBody',
        'StoreUnavailableError',
        'createKeyward',
        'decodeStoreEvent',
        'encodeStoreEvent',
        'failureResponse',
        'memoryStore',
        'parseDuration',
        'readRawBody',
        'settledWithin',
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

  // vitest refuses to be loaded through require(), so a CommonJS build of the suite could only throw.
  it("ships the conformance suite at @keyward/core/testing as ESM only, on the ESM entry's copy of the engine", () => {
    const manifest = JSON.parse(readFileSync(`${root}/packages/core/package.json`, 'utf8'))
    expect(manifest.exports['./testing']).toEqual({
      types: './dist/testing.d.ts',
      default: './dist/testing.js',
    })
    expect(manifest.typesVersions['*'].testing).toEqual(['./dist/testing.d.ts'])
    const dist = `${root}/packages/core/dist`
    expect(existsSync(`${dist}/testing.cjs`)).toBe(false)
    const testing = readFileSync(`${dist}/testing.js`, 'utf8')
    expect(testing).toContain('runStoreConformance')
    const chunks = (source: string) => [...source.matchAll(/from "\.\/(chunk-\w+\.js)"/g)].map((m) => m[1])
    expect(chunks(testing).length).toBeGreaterThan(0)
    expect(chunks(readFileSync(`${dist}/index.js`, 'utf8'))).toEqual(expect.arrayContaining(chunks(testing)))
  })
})
