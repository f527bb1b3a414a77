/**
 * The benchmark suite works: a tiny run of `bench/run.mjs --smoke` against real servers.
 * No figure is judged here (timings on shared machines mean nothing in a test); the test only
 * proves that every section of the report is produced.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'
import { serviceUrl } from './support/services.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = mkdtempSync(join(tmpdir(), 'keyward-bench-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

it('runs the benchmark suite end to end (smoke)', async () => {
  // The callgrind section runs only where valgrind is installed (it is on CI's machines). Under
  // KEYWARD_REQUIRE_SERVICES (CI) its absence fails the test, before the run, not only a warning.
  const valgrind = spawnSync('valgrind', ['--version']).status === 0
  if (!valgrind && process.env.KEYWARD_REQUIRE_SERVICES === '1')
    throw new Error(
      'valgrind is not installed but KEYWARD_REQUIRE_SERVICES=1: callgrind must not go unchecked',
    )
  await promisify(execFile)(
    process.execPath,
    ['--expose-gc', 'bench/run.mjs', '--smoke', '--large', '2000', '--out', out],
    {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    },
  )
  const results = JSON.parse(readFileSync(join(out, 'smoke.json'), 'utf8'))
  type Row = { variant: string; baseline: string; sent: string }
  const rows: Row[] = results.throughput
  const variants = rows.map((row) => row.variant)
  const row = (variant: string) => rows.find((candidate) => candidate.variant === variant)
  for (const framework of ['fastify', 'express', 'koa']) {
    expect(variants).toContain(`${framework} unguarded`)
    expect(variants).toContain(`${framework} + no-op guard`)
    // Each guarded route is measured against the unguarded route receiving the same request.
    expect(row(`${framework} + keyward (X-Api-Key)`)).toMatchObject({
      baseline: `${framework} unguarded, X-Api-Key sent`,
      sent: 'X-Api-Key',
    })
    expect(row(`${framework} + keyward (Bearer auth_token)`)).toMatchObject({
      baseline: `${framework} unguarded, Bearer token sent`,
      sent: 'Bearer token',
    })
    for (const { baseline } of rows) expect(variants).toContain(baseline)
  }
  // protect(), the guard and the handler in one, where the framework has a step between the two.
  for (const framework of ['express', 'koa'])
    expect(row(`${framework} + keyward protect() (X-Api-Key)`)).toMatchObject({
      baseline: `${framework} unguarded, X-Api-Key sent`,
      sent: 'X-Api-Key',
    })
  expect(variants).not.toContain('fastify + keyward protect() (X-Api-Key)')
  expect(variants).toContain('fastify + @fastify/bearer-auth')
  expect(variants).toContain('express + passport-headerapikey')
  // The side-by-side CPU comparison: every Fastify pair, each with a measured ratio and the
  // median's interval around it; keyward meets the peer and the floor head to head too.
  type Pair = {
    variant: string
    sent: string
    against: string
    ratio: number
    ratio_ci95: number[]
    ratio_rounds: number[]
    slices: number
  }
  const paired: Pair[] = results.paired
  expect(paired.map((pair) => `${pair.variant} (${pair.sent}) against ${pair.against}`)).toEqual([
    'unguarded (control app) (X-Api-Key) against unguarded',
    'no-op guard (X-Api-Key) against unguarded',
    'keyward (X-Api-Key) against unguarded',
    'keyward (Bearer token) against unguarded',
    '@fastify/bearer-auth (Bearer key) against unguarded',
    "floor: keyward's necessary work in one hook or middleware (X-Api-Key) against unguarded",
    'keyward (Bearer key) against @fastify/bearer-auth',
    'keyward (X-Api-Key and Bearer key) against @fastify/bearer-auth',
    "keyward (X-Api-Key) against floor: keyward's necessary work in one hook or middleware",
  ])
  for (const pair of paired) {
    expect(pair.ratio).toBeGreaterThan(0)
    const [low, high] = pair.ratio_ci95
    expect(low).toBeLessThanOrEqual(pair.ratio)
    expect(high).toBeGreaterThanOrEqual(pair.ratio)
    // One median per round; the smoke run has one round, whose median is the pair's.
    expect(pair.ratio_rounds).toEqual([pair.ratio])
  }
  expect(results.issuance).toHaveLength(2)
  const stores = new Set(results.stores.map((row: { store: string }) => row.store))
  expect(stores).toContain('memory')
  expect(stores).toContain('PGlite')
  // Under KEYWARD_REQUIRE_SERVICES (CI) a missing service fails here rather than going unchecked.
  if (serviceUrl('DATABASE_URL')) expect(stores).toContain('PostgreSQL')
  if (serviceUrl('REDIS_URL')) expect(stores).toContain('Redis')
  // A miss costs one store read, and PostgreSQL (and PGlite) find the key through an index.
  type StoreRow = { store: string; keys: number; miss: { reads_per_miss: number }; plan?: string }
  for (const row of results.stores as StoreRow[]) {
    expect(row.miss.reads_per_miss, `${row.store} at ${row.keys} keys`).toBe(1)
    if (row.keys === 2000 && /Postgre|PGlite/.test(row.store)) expect(row.plan).toMatch(/^Index Scan using /)
  }
  // Each store's rows are measured at 1,000 keys and at --large, as counted in the store itself.
  for (const store of stores) {
    const held = (results.stores as StoreRow[]).filter((row) => row.store === store).map((row) => row.keys)
    expect(held, String(store)).toEqual([1000, 2000])
  }
  // Last use is batched: the smoke's 5,000 guarded requests take well under a minute (the default
  // lastUsedResolution), so the one write is the flush at close.
  expect(results.writes).toMatchObject({ requests: 5_000, writes: 1, byMethod: { recordKeyUsage: 1 } })
  // The cache's heap growth with the smoke's bound (bench/run.mjs) in cacheMemory's fields
  // (bench/lib/in-process.mjs); growth after a gc can be negative, so only finiteness is asserted.
  expect(results.memory).toEqual({
    max: 1_000,
    distinct: 5_000,
    filling_mb: expect.any(Number),
    beyond_bound_mb: expect.any(Number),
  })
  expect(Number.isFinite(results.memory.filling_mb)).toBe(true)
  expect(Number.isFinite(results.memory.beyond_bound_mb)).toBe(true)
  if (!valgrind) console.warn('[keyward] bench smoke: no valgrind, callgrind unchecked')
  else {
    expect(results.instructions).toEqual([
      expect.objectContaining({ framework: 'fastify', variant: 'keyward (X-Api-Key)' }),
    ])
    expect(results.instructions[0].baseline_instructions).toBeGreaterThan(0)
  }
  const report = readFileSync(join(out, 'smoke.md'), 'utf8')
  expect(report).toContain('## Guarded route throughput')
  expect(report).toContain('## Guard cost: server CPU per request')
  expect(report).toContain('## Cache memory bound')
  // The interval's ranks are those of the slices this run has (the bench-stats test checks the ranks).
  expect(report).toContain(`with ${paired[0]?.slices} slices, ranks`)
}, 600_000)
