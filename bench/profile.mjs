/**
 * Where a guard's cost goes, per request: `node bench/profile.mjs <framework> <app> <credential>`
 * (app: keyward, noop, peer, control, floor, protect; credential: 'X-Api-Key', 'Bearer token',
 * 'Bearer key').
 * Linux with `perf` only. Two server processes of the framework share the server core, as in the
 * side-by-side section of `pnpm bench`: one serves the guarded app and the other the unguarded app
 * receiving the same request, both loaded at once, roles swapped halfway. `perf record` samples
 * both (JIT frames named through `--perf-basic-prof`); the report gives each symbol's samples per
 * request in µs, guarded minus unguarded, and the sum over keyward's own frames.
 * Options: --seconds S per half (10), --frequency Hz (2999), --top N (40).
 */
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pinCores, startServer } from './lib/http.mjs'
import { loadHalf } from './lib/paired.mjs'

// JIT frames named in /tmp/perf-<pid>.map; V8's own log (which --perf-basic-prof turns on) goes
// to a temporary file instead of the working directory.
const PROFILED = ['--perf-basic-prof', '--no-logfile-per-isolate', '--logfile=+']
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '10' },
    frequency: { type: 'string', default: '2999' },
    top: { type: 'string', default: '40' },
  },
})
const [framework = 'fastify', app = 'keyward', credential = 'X-Api-Key'] = positionals
const seconds = Number(values.seconds)
const frequency = Number(values.frequency)
if (spawnSync('perf', ['--version']).status !== 0) {
  console.error('perf is not installed (Debian: apt-get install linux-perf)')
  process.exit(1)
}

pinCores()
const servers = []
const threadsOf = (pid) => new Set(readdirSync(`/proc/${pid}/task`).map(Number))
const request = (server, target, duration) => loadHalf(server, target, credential, duration)

const perRequest = { guarded: new Map(), unguarded: new Map() }
const totals = { guarded: 0, unguarded: 0 }
const microsecondsPerSample = 1e6 / frequency
try {
  // Each server joins the list as it starts, so a failed second start still stops the first.
  for (let s = 0; s < 2; s++) servers.push(await startServer(framework, PROFILED))
  for (const target of [app, 'none']) await Promise.all(servers.map((server) => request(server, target, 3)))
  for (const [guarding, bare] of [servers, [...servers].reverse()]) {
    const file = join(tmpdir(), `keyward-profile-${process.pid}-${guarding.pid}.data`)
    const perf = spawn(
      'perf',
      [
        'record',
        '-F',
        String(frequency),
        '-o',
        file,
        '-p',
        `${guarding.pid},${bare.pid}`,
        '--',
        'sleep',
        String(seconds),
      ],
      { stdio: 'ignore' },
    )
    const [guarded, unguarded] = await Promise.all([
      request(guarding, app, seconds),
      request(bare, 'none', seconds),
    ])
    await new Promise((resolve) => perf.once('exit', resolve))
    const sides = [
      { side: 'guarded', threads: threadsOf(guarding.pid), requests: guarded.total },
      { side: 'unguarded', threads: threadsOf(bare.pid), requests: unguarded.total },
    ]
    for (const { thread, symbol, samples } of perfSamples(file)) {
      const owner = sides.find(({ threads }) => threads.has(thread))
      if (owner === undefined) continue
      // Each half weighs one half: the two processes' luck (JIT, heap layout) lands on both sides.
      const cost = (samples * microsecondsPerSample) / owner.requests / 2
      perRequest[owner.side].set(symbol, (perRequest[owner.side].get(symbol) ?? 0) + cost)
      totals[owner.side] += cost
    }
  }
} finally {
  await Promise.all(servers.map((server) => server.stop()))
}
report()

/** Samples per thread and symbol, from `perf report`; JIT positions dropped from keyward's bundle names. */
function perfSamples(file) {
  const { stdout } = spawnSync(
    'perf',
    ['report', '-i', file, '--no-children', '--sort', 'pid,sym', '-F', 'sample,pid,sym', '--stdio'],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  )
  const rows = []
  for (const line of stdout.split('\n')) {
    const match = /^\s*(\d+)\s+(\d+):\S*\s+\[.\]\s+(.*)$/.exec(line)
    if (match === null) continue
    const symbol = match[3].trim().replace(/chunk-\w+\.js:\d+:\d+/, 'chunk')
    rows.push({ samples: Number(match[1]), thread: Number(match[2]), symbol })
  }
  return rows
}

function report() {
  const cost = (side, symbol) => perRequest[side].get(symbol) ?? 0
  const difference = (symbol) => cost('guarded', symbol) - cost('unguarded', symbol)
  const symbols = [...new Set([...perRequest.guarded.keys(), ...perRequest.unguarded.keys()])].sort(
    (a, b) => difference(b) - difference(a),
  )
  const row = (symbol) =>
    `${difference(symbol).toFixed(3).padStart(7)}  ${cost('guarded', symbol).toFixed(3).padStart(6)}  ${cost('unguarded', symbol).toFixed(3).padStart(6)}  ${symbol.slice(0, 110)}`
  console.log(`${framework} ${app} (${credential}), µs per request under perf (perf itself adds to both):`)
  console.log(
    `guarded ${totals.guarded.toFixed(2)}, unguarded ${totals.unguarded.toFixed(2)}, difference ${(totals.guarded - totals.unguarded).toFixed(2)}`,
  )
  console.log(`\n   diff  guarded  unguarded  symbol`)
  for (const symbol of symbols.slice(0, Number(values.top))) console.log(row(symbol))
  const own = symbols.filter((symbol) => symbol.includes('/packages/') || symbol.includes('lru-cache'))
  const ownCost = own.reduce((sum, symbol) => sum + difference(symbol), 0)
  console.log(`\nkeyward's own frames: ${ownCost.toFixed(3)} µs per request`)
  for (const symbol of own) console.log(row(symbol))
}
