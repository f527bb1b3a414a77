/**
 * A/B of two builds of the guard in one process: `node bench/guard-ab.mjs <rootA> <rootB>`
 * (each root a checkout with @keyward/core built, e.g. a `git worktree` of the base commit and
 * this one). Every iteration first evicts the CPU's data caches (a sweep over `--sweep-kb` KB) and
 * makes some garbage, as a server's own request handling does between two guards, then guards a
 * warm key or token as the adapters do (`engine.admitFromMemory()`, then `engine.guard()` for what
 * it leaves; a build without the warm path goes straight to `guard`); 50 request objects stand
 * for 50 keep-alive connections.
 * Blocks of iterations alternate between a no-op guard, A and B, so drift cancels out; the report
 * gives each build's ns per guard over the no-op, and B − A paired block by block.
 * A referee for changes too small for the side-by-side section (whose spread is about ±0.3 µs) and
 * for callgrind (±10,000 instructions): it reads to about ±40 ns. It cannot see what a change does
 * to the framework around it; the side-by-side section is still the figure the targets are judged by.
 * Options: --credential key|bearer-key|token (key: X-Api-Key; bearer-key: the key in
 * `Authorization: Bearer`), --blocks N (100), --iterations N per block (10000), --sweep-kb KB (64).
 */
import { IncomingMessage } from 'node:http'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    credential: { type: 'string', default: 'key' },
    blocks: { type: 'string', default: '100' },
    iterations: { type: 'string', default: '10000' },
    'sweep-kb': { type: 'string', default: '64' },
  },
})
if (positionals.length !== 2) {
  console.error('usage: node bench/guard-ab.mjs <rootA> <rootB> [--credential key|bearer-key|token]')
  process.exit(2)
}
const blocks = Number(values.blocks)
const iterations = Number(values.iterations)
const CONNECTIONS = 50
const USER = { id: 'bench', permissions: ['agents:read'] }
const options = { permissions: ['agents:read'] }

const sweep = new Float64Array((Number(values['sweep-kb']) * 1024) / 8)
let sink = 0
/** Reads one double per 64-byte line (from a different offset each time) and leaves 20 objects of garbage. */
function pollute(i) {
  for (let j = i & 7; j < sweep.length; j += 8) sink += sweep[j]
  const garbage = []
  for (let j = 0; j < 20; j++) garbage.push({ index: j, text: `g${j}`, list: [j] })
  sink += garbage.length
}

/** The engine of one build, with a key (and a token) verified once on each connection. */
async function variant(root) {
  const url = pathToFileURL(`${root}/packages/core/dist/index.js`).href
  const { createKeyward } = await import(url)
  const engine = createKeyward({
    jwtSecret: 'bench-secret-bench-secret-bench-secret-00',
    users: { get: (id) => (id === USER.id ? USER : null) },
  })
  const { key } = await engine.issueKey(USER.id, { name: 'bench' })
  const { auth_token: token } = await engine.authenticateWithApiKey(key)
  const [name, value] = {
    key: ['X-Api-Key', key],
    'bearer-key': ['Authorization', `Bearer ${key}`],
    token: ['Authorization', `Bearer ${token}`],
  }[values.credential]
  // Fresh strings for each connection, as the HTTP parser makes them, and Node's own request
  // around them (its headers built by Node's rules), as the adapters hand it over.
  const requests = Array.from({ length: CONNECTIONS }, () => {
    const rawHeaders = ['Host', '127.0.0.1:3000', Buffer.from(name).toString(), Buffer.from(value).toString()]
    const message = new IncomingMessage(null)
    message._addHeaderLines(rawHeaders, rawHeaders.length)
    return { headers: message.headers, rawHeaders, socket: {}, ip: '127.0.0.1' }
  })
  for (const request of requests) {
    const outcome = await engine.guard(request, options)
    if (!outcome.ok) throw new Error(`${root}: refused (${JSON.stringify(outcome.response.body)})`)
  }
  return { name: root, engine, requests }
}

const noop = { name: 'no-op', engine: { guard: () => ({ ok: true, auth: USER }) }, requests: [{}] }

/** As the adapters call it: the warm path first where the build has one (admitFromMemory), then guard. */
function guarded(engine, request) {
  const admit = engine.admitFromMemory
  // Builds before the tenth pass took (rawHeaders, socket, options); later ones the request itself.
  const known =
    admit === undefined
      ? undefined
      : admit.length === 3
        ? admit(request.rawHeaders, request.socket, options)
        : admit(request, options)
  return known === undefined ? engine.guard(request, options) : { ok: true, auth: known }
}

async function nsPerGuard({ engine, requests }) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) {
    pollute(i)
    let outcome = guarded(engine, requests[i % requests.length])
    // A cached entry older than the cache's TTL is read from the store again: rare, and awaited.
    if (outcome instanceof Promise) outcome = await outcome
    if (outcome.ok !== true) throw new Error('refused')
  }
  return Number(process.hrtime.bigint() - start) / iterations
}

const variants = [noop, await variant(positionals[0]), await variant(positionals[1])]
for (let warm = 0; warm < 5; warm++) for (const each of variants) await nsPerGuard(each)
const overNoop = [[], []]
for (let block = 0; block < blocks; block++) {
  const times = new Map()
  for (const each of block % 2 === 0 ? variants : [...variants].reverse())
    times.set(each, await nsPerGuard(each))
  for (const side of [0, 1]) overNoop[side].push(times.get(variants[side + 1]) - times.get(noop))
}

const quartiles = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p) => sorted[Math.floor(p * (sorted.length - 1))].toFixed(0)
  return `${at(0.5)} ns (IQR ${at(0.25)} to ${at(0.75)})`
}
const [a, b] = overNoop
console.log(`${values.credential}, ${blocks} blocks of ${iterations}, guard over the no-op:`)
console.log(`  A ${positionals[0]}: ${quartiles(a)}`)
console.log(`  B ${positionals[1]}: ${quartiles(b)}`)
console.log(`  B − A: ${quartiles(b.map((time, i) => time - a[i]))}${sink > 0 ? '' : ' '}`)
