/**
 * `pnpm bench`: the whole benchmark suite on this machine. Writes docs/bench/results.md and
 * results.json. `--smoke` runs a tiny version (CI proves the suite works; no figure is judged).
 * Options: --rounds N (fresh server processes per framework), --cycles N (alternations per
 * round), --slice S (seconds per variant per cycle), --warmup S, --duration S (issuance and
 * exchange; these three in whole seconds, as autocannon runs them), --large N (keys for the
 * scale figure), --only http,paired,instructions,writes,stores (the other sections are kept from
 * the last report, with the date they were measured).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { compare, guardComparisons, issuanceThroughput, pinCores } from './lib/http.mjs'
import { cacheMemory, hotPathWrites, verificationLatency } from './lib/in-process.mjs'
import { guardInstructions, hasCallgrind } from './lib/instructions.mjs'
import { pairedCost } from './lib/paired.mjs'
import { renderMarkdown } from './lib/report.mjs'
import { openStores } from './lib/stores.mjs'

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    cycles: { type: 'string' },
    slice: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    large: { type: 'string' },
    out: { type: 'string', default: 'docs/bench' },
    only: { type: 'string' },
  },
})
const smoke = values.smoke
const settings = {
  rounds: Number(values.rounds ?? (smoke ? 1 : 3)),
  cycles: Number(values.cycles ?? (smoke ? 1 : 6)),
  slice: Number(values.slice ?? (smoke ? 1 : 2)),
  warmup: Number(values.warmup ?? (smoke ? 1 : 3)),
  duration: Number(values.duration ?? (smoke ? 1 : 5)),
  small: 1_000,
  large: Number(values.large ?? (smoke ? 5_000 : 1_000_000)),
  writesRequests: smoke ? 5_000 : 100_000,
}
const only = values.only?.split(',')
const want = (section) => !only || only.includes(section)
const log = (...args) => console.error('[bench]', ...args)

const results = {
  machine: {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  },
  settings: { ...settings, smoke, connections: 50 },
  throughput: [],
  paired: [],
  issuance: [],
  stores: [],
  instructions: [],
  writes: undefined,
  memory: undefined,
  // When and on which commit each section was measured (sections kept with --only keep theirs).
  measured: {},
}
// The commit measured, marked when the working tree had changes; none outside a git checkout.
const git = (...args) => spawnSync('git', args, { encoding: 'utf8' })
const head = git('rev-parse', '--short', 'HEAD')
const commit =
  head.status === 0
    ? `${head.stdout.trim()}${git('status', '--porcelain', '--untracked-files=no', '--', 'packages', 'bench').stdout.trim() ? '+changes' : ''}`
    : undefined
const today = `${results.machine.date.slice(0, 10)}${commit ? ` at ${commit}` : ''}`
results.machine.stamp = today
const SECTIONS = ['http', 'paired', 'instructions', 'writes', 'stores']
for (const section of SECTIONS) if (want(section)) results.measured[section] = today

if (want('http') || want('paired')) results.settings.pinned = pinCores() ?? null

if (want('http')) {
  for (const comparison of guardComparisons()) {
    log(
      `throughput: ${comparison.label} (${settings.rounds} rounds of ${settings.cycles} cycles of ${settings.slice}s slices)`,
    )
    results.throughput.push(...(await compare({ ...comparison, ...settings })))
  }
  log('issuance and exchange')
  results.issuance = await issuanceThroughput({ duration: settings.duration })
}

if (want('paired')) {
  log(
    `server CPU per request, guarded and unguarded at once (${settings.rounds} rounds of ${settings.cycles} slices of ${settings.slice}s per pair)`,
  )
  results.paired = await pairedCost(smoke ? { ...settings, frameworks: ['fastify'] } : settings)
}

if (want('instructions')) {
  if (hasCallgrind()) {
    log('instructions per request under callgrind')
    results.instructions = await guardInstructions(
      smoke
        ? { frameworks: ['fastify'], guards: ['key'], warmup: 300, requests: 200 }
        : { warmup: 10_000, requests: 3_000 },
    )
  } else {
    log('instructions: skipped, valgrind (callgrind) is not installed')
  }
}

if (want('writes')) {
  log(`store writes under ${settings.writesRequests} guarded requests`)
  results.writes = await hotPathWrites(settings.writesRequests)
  results.memory = await cacheMemory(
    smoke ? { max: 1_000, distinct: 5_000 } : { max: 10_000, distinct: 50_000 },
  )
}

if (want('stores')) {
  const stores = await openStores()
  const latency = { keys: 200, samples: smoke ? 500 : 5000, warmup: smoke ? 0.1 : 1 }
  try {
    for (const [index, entry] of stores.entries()) {
      // Each measurement issues latency.keys keys of its own: the filler makes up the rest.
      await entry.fill(settings.small - latency.keys)
      log(`store ${entry.name}: ${settings.small} keys`)
      const small = await verificationLatency(entry.store, latency)
      const heldSmall = await entry.count()
      await entry.fill(settings.large - settings.small - latency.keys)
      log(`store ${entry.name}: ${settings.large} keys`)
      const large = await verificationLatency(entry.store, latency)
      const heldLarge = await entry.count()
      const plan = await entry.plan?.()
      // `keys` is what the store held when the row was measured, counted in the store itself.
      results.stores.push(
        { store: entry.name, keys: heldSmall, ...small },
        { store: entry.name, keys: heldLarge, ...large, plan },
      )
      // Let a million keys of one store go before the next is measured: their GC pauses would show in its p99.
      await entry.close()
      stores[index] = undefined
    }
  } finally {
    for (const entry of stores) await entry?.close()
  }
}

mkdirSync(values.out, { recursive: true })
const name = smoke ? 'smoke' : 'results'
// With --only, the other sections are kept from the last full report.
const previous = `${values.out}/${name}.json`
if (only && existsSync(previous)) {
  const kept = JSON.parse(readFileSync(previous, 'utf8'))
  for (const section of SECTIONS) {
    if (want(section)) continue
    // A section measured on another machine says which.
    const when = kept.measured?.[section] ?? kept.machine.date.slice(0, 10)
    const elsewhere = kept.machine.cpu !== results.machine.cpu && !when.includes(' on ')
    results.measured[section] = elsewhere ? `${when} on ${kept.machine.cpu}` : when
  }
  if (!want('http') && !want('paired')) {
    // The kept HTTP sections are described by the settings they ran with (slices, rounds, pinning).
    const { rounds, cycles, slice, warmup, duration, connections, pinned } = kept.settings
    Object.assign(results.settings, { rounds, cycles, slice, warmup, duration, connections, pinned })
  }
  if (!want('http')) Object.assign(results, { throughput: kept.throughput, issuance: kept.issuance })
  if (!want('paired')) results.paired = kept.paired ?? []
  if (!want('stores')) results.stores = kept.stores
  if (!want('writes')) Object.assign(results, { writes: kept.writes, memory: kept.memory })
  if (!want('instructions')) results.instructions = kept.instructions ?? []
}
writeFileSync(`${values.out}/${name}.json`, `${JSON.stringify(results, null, 2)}\n`)
writeFileSync(`${values.out}/${name}.md`, renderMarkdown(results))
log(`wrote ${values.out}/${name}.md and ${name}.json`)
console.log(renderMarkdown(results))
process.exit(0)
