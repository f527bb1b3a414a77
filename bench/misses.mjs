/**
 * What a guard costs in memory traffic per request, simulated: `node bench/misses.mjs [framework]`
 * (needs valgrind). Each guarded app and the unguarded app receiving the same request, each in a
 * server process of its own under callgrind with its cache and branch simulators, warmed up, then
 * `--requests` requests on `--connections` keep-alive connections (8 by default, so that the
 * guard's per-connection state is more than one object). Prints, per request and over the
 * unguarded app: instructions, first-level misses (instructions, data reads), last-level misses
 * and mispredicted branches.
 *
 * Repeatable where time is not, and it sees what the instruction count alone does not: a guard
 * that reads many scattered objects misses more. What it does not see: the real CPU's caches
 * beyond the simulated two levels (set here to 32 KB L1 and 1 MB last level, about one core's L2,
 * the same on every machine), the hypervisor, and instructions that are slow without being many
 * (reading the clock, on a VM). Options: --requests N (3000), --connections N (8).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CREDENTIALS } from './lib/http.mjs'
import { eventsPerRequest, hasCallgrind } from './lib/instructions.mjs'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { requests: { type: 'string', default: '3000' }, connections: { type: 'string', default: '8' } },
})
const [framework = 'fastify'] = positionals
if (!hasCallgrind()) {
  console.error('valgrind (callgrind) is not installed')
  process.exit(1)
}

const VARIANTS = {
  fastify: [
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['floor', 'X-Api-Key'],
    ['peer', 'Bearer key'],
  ],
  express: [
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['peer', 'X-Api-Key'],
    ['floor', 'X-Api-Key'],
  ],
  koa: [
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['floor', 'X-Api-Key'],
  ],
}[framework]
if (VARIANTS === undefined) throw new Error(`unknown framework ${framework}`)

const SIMULATED = [
  '--cache-sim=yes',
  '--branch-sim=yes',
  '--I1=32768,8,64',
  '--D1=32768,8,64',
  '--LL=1048576,16,64',
]
const FIGURES = {
  instructions: (e) => e.Ir,
  'L1 instruction misses': (e) => e.I1mr,
  'L1 data read misses': (e) => e.D1mr,
  'last-level misses': (e) => e.ILmr + e.DLmr + e.DLmw,
  'mispredicted branches': (e) => e.Bcm + e.Bim,
}

const dir = mkdtempSync(join(tmpdir(), 'keyward-misses-'))
const count = (app, sent) =>
  eventsPerRequest({
    framework,
    app,
    headers: CREDENTIALS[sent],
    warmup: Number(values.requests),
    requests: Number(values.requests),
    connections: Number(values.connections),
    dir,
    valgrindOptions: SIMULATED,
  })
const rows = []
try {
  for (const [app, sent] of VARIANTS) {
    // Side by side, one per core; the unguarded app receives the same request.
    const [unguarded, guarded] = await Promise.all([count('none', sent), count(app, sent)])
    const row = { guard: app, sent }
    for (const [figure, of] of Object.entries(FIGURES)) row[figure] = Math.round(of(guarded) - of(unguarded))
    row['unguarded instructions'] = Math.round(unguarded.Ir)
    rows.push(row)
    console.error(`${framework} ${app} (${sent}) done`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(
  `${framework}, per request over the unguarded app (${values.connections} connections, ${values.requests} requests):`,
)
console.table(rows)
