/**
 * Throughput of real listening servers, each in its own process, loaded by autocannon from
 * this process. Each comparison loads every variant in turn, cycle after cycle, in alternating
 * order (A, B, C, then C, B, A) so drift cancels out, and reports the median of the per-slice ratios.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { median, percentile, round } from './stats.mjs'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))

let serverCore

/**
 * Where the servers and the load generator run. On Linux with taskset and two or more cores,
 * this process (autocannon) keeps the first core and the servers started after this get the
 * last one, so the scheduler does not move them about mid-round.
 */
export function pinCores() {
  const last = cpus().length - 1
  if (process.platform !== 'linux' || last < 1) return undefined
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  if (pinned.status !== 0) return undefined
  serverCore = last
  return { loadCore: 0, serverCore }
}

/**
 * Starts `bench/server.mjs <framework>`: one process, one app per guard, each on its own port.
 * `nodeOptions` go to node before the script (`--perf-basic-prof` for the profiler), `serverArgs`
 * to the script after the framework (`--steps`, `--base <root>`).
 */
export async function startServer(framework, nodeOptions = [], serverArgs = []) {
  const argv = [...nodeOptions, SERVER, framework, ...serverArgs]
  const child =
    serverCore === undefined
      ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn('taskset', ['-c', String(serverCore), process.execPath, ...argv], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
  const line = await new Promise((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
      const newline = output.indexOf('\n')
      if (newline >= 0) resolve(output.slice(0, newline))
    })
    child.once('exit', (code) => reject(new Error(`${framework} server exited with ${code}`)))
  })
  let ready
  try {
    ready = JSON.parse(line)
  } catch (error) {
    child.kill('SIGTERM')
    throw new Error(`${framework} server did not announce its ports: ${line}`, { cause: error })
  }
  const { ports, key, token } = ready
  return {
    pid: child.pid,
    url: (app) => `http://127.0.0.1:${ports[app]}`,
    key,
    token,
    stop: () =>
      new Promise((resolve) => {
        // A server that crashed mid-load has exited already: its 'exit' event will not come again.
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', resolve)
        child.kill('SIGTERM')
      }),
  }
}

/**
 * CPU time (ms) a process's threads have run so far, from the scheduler's nanosecond account in
 * /proc (Linux); undefined elsewhere. /proc/<pid>/stat counts in 10 ms ticks: too coarse for a
 * one-second slice of a server that is half busy.
 */
function cpuMs(pid) {
  const tasks = `/proc/${pid}/task`
  if (pid === undefined || !existsSync(tasks)) return undefined
  let nanoseconds = 0
  for (const task of readdirSync(tasks)) {
    try {
      nanoseconds += Number(readFileSync(`${tasks}/${task}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // A thread that ended between the listing and the read has nothing more to count.
    }
  }
  return nanoseconds / 1e6
}

export async function load({ pid, ...options }) {
  // autocannon ends a timed run only on its one-second sample tick: a 1.5 s run lasts 2 s.
  if (options.duration !== undefined && !Number.isInteger(options.duration)) {
    throw new Error(
      `autocannon runs whole seconds: ${options.duration} s would run ${Math.ceil(options.duration)} s`,
    )
  }
  const before = cpuMs(pid)
  const result = await autocannon({ connections: 50, pipelining: 1, ...options })
  const after = cpuMs(pid)
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${options.url}: ${result.non2xx} non-2xx and ${result.errors} errors: the benchmark would measure failures`,
    )
  }
  const cpuUsPerRequest = before === undefined ? undefined : ((after - before) * 1000) / result.requests.total
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    total: result.requests.total,
    cpuUsPerRequest,
  }
}

/**
 * Requests per second of each variant, with the ratio of each guarded variant to its baseline
 * (the unguarded app receiving the very same request) and to the unguarded app with nothing sent.
 * Each round starts one fresh server process (every variant is an app in it, so all share the
 * framework's code, JIT state and heap) and warms every app up; then `cycles` times, each variant
 * is loaded for `slice` seconds, in alternating order, so slow drift on a shared machine cancels
 * out. A ratio is taken between slices of the same cycle; the figure is the median over every
 * cycle of every round, with its interquartile range beside it.
 */
export async function compare({ label, variants, rounds, cycles, slice, warmup }) {
  const samples = variants.map(() => [])
  const cpu = variants.map(() => [])
  for (let r = 0; r < rounds; r++) {
    const server = await startServer(label)
    try {
      const target = (variant) => ({
        pid: server.pid,
        url: `${server.url(variant.app)}/v1/agents`,
        headers: variant.headers(server),
      })
      for (const variant of variants) await load({ ...target(variant), duration: warmup })
      for (let c = 0; c < cycles; c++) {
        // Alternate the order so that no variant always runs first or last in a cycle.
        const order = (r * cycles + c) % 2 === 0 ? variants : [...variants].reverse()
        for (const variant of order) {
          const measured = await load({ ...target(variant), duration: slice })
          const i = variants.indexOf(variant)
          samples[i].push(measured.rps)
          if (measured.cpuUsPerRequest !== undefined) cpu[i].push(measured.cpuUsPerRequest)
        }
      }
    } finally {
      await server.stop()
    }
  }
  const ratios = (i, base) => samples[i].map((rps, slot) => rps / samples[base][slot])
  return variants.map((variant, i) => {
    const base = variant.baseline === undefined ? 0 : variants.findIndex((v) => v.name === variant.baseline)
    const toBaseline = ratios(i, base)
    return {
      comparison: label,
      variant: variant.name,
      sent: variant.sent,
      rps: round(median(samples[i]), 0),
      baseline: variants[base].name,
      ratio: round(median(toBaseline), 3),
      ratio_iqr: [round(percentile(toBaseline, 25), 3), round(percentile(toBaseline, 75), 3)],
      ratio_to_bare: round(median(ratios(i, 0)), 3),
      slices: samples[i].length,
      // Server CPU (user + system) per request: steadier than req/s on a shared machine.
      cpu_us_per_request: cpu[i].length ? round(median(cpu[i]), 2) : null,
    }
  })
}

/** The headers of each credential the suite sends, from a bench server's key and token. */
export const CREDENTIALS = {
  'X-Api-Key': (server) => ({ 'x-api-key': server.key }),
  'Bearer token': (server) => ({ authorization: `Bearer ${server.token}` }),
  'Bearer key': (server) => ({ authorization: `Bearer ${server.key}` }),
  // Each guard's own header on one request: keyward reads X-Api-Key, a Bearer-only peer the other.
  'X-Api-Key and Bearer key': (server) => ({
    'x-api-key': server.key,
    authorization: `Bearer ${server.key}`,
  }),
}

const none = () => ({})
const { 'X-Api-Key': byKey, 'Bearer token': byToken, 'Bearer key': byBearerKey } = CREDENTIALS

/**
 * Per framework: the unguarded app with no credential and with each credential sent (the same
 * bytes as the guarded requests, so a ratio measures the guard and not the header), a second
 * unguarded app (the control: the comparison's noise floor), keyward by key and by token, a no-op
 * guard (the framework's own price of one more hook or middleware), and the peer library where
 * there is one.
 */
export function guardComparisons() {
  return ['fastify', 'express', 'koa'].map((framework) => {
    const unguarded = `${framework} unguarded`
    const keySent = `${unguarded}, X-Api-Key sent`
    const variant = (name, app, sent, headers, baseline) => ({ name, app, sent, headers, baseline })
    const peer = {
      fastify: [
        variant(`${unguarded}, Bearer key sent`, 'none', 'Bearer key', byBearerKey),
        variant(
          'fastify + @fastify/bearer-auth',
          'peer',
          'Bearer key',
          byBearerKey,
          `${unguarded}, Bearer key sent`,
        ),
      ],
      express: [variant('express + passport-headerapikey', 'peer', 'X-Api-Key', byKey, keySent)],
      koa: [],
    }[framework]
    // The guard and the handler in one middleware, where the framework has a step between the two.
    const together =
      framework === 'fastify'
        ? []
        : [variant(`${framework} + keyward protect() (X-Api-Key)`, 'protect', 'X-Api-Key', byKey, keySent)]
    return {
      label: framework,
      variants: [
        variant(unguarded, 'none', 'nothing', none),
        variant(keySent, 'none', 'X-Api-Key', byKey),
        variant(`${unguarded} (control app), X-Api-Key sent`, 'control', 'X-Api-Key', byKey, keySent),
        variant(`${framework} + keyward (X-Api-Key)`, 'keyward', 'X-Api-Key', byKey, keySent),
        variant(`${unguarded}, Bearer token sent`, 'none', 'Bearer token', byToken),
        variant(
          `${framework} + keyward (Bearer auth_token)`,
          'keyward',
          'Bearer token',
          byToken,
          `${unguarded}, Bearer token sent`,
        ),
        variant(`${framework} + no-op guard`, 'noop', 'X-Api-Key', byKey, keySent),
        ...together,
        ...peer,
      ],
    }
  })
}

/** Issuance and key-to-token exchange over HTTP (not on the hot path, but users script them). */
export async function issuanceThroughput({ duration }) {
  const server = await startServer('fastify')
  const url = server.url('keyward')
  try {
    const issue = await load({
      url: `${url}/accounts/api-key`,
      method: 'POST',
      headers: { 'x-api-key': server.key, 'content-type': 'application/json' },
      body: JSON.stringify({ key_name: 'bench' }),
      duration,
    })
    const exchange = await load({
      url: `${url}/accounts/auth-with-api-key`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: server.key }),
      duration,
    })
    return [
      { operation: 'POST /accounts/api-key (issue)', rps: round(issue.rps, 0), p99_ms: issue.p99 },
      {
        operation: 'POST /accounts/auth-with-api-key (exchange)',
        rps: round(exchange.rps, 0),
        p99_ms: exchange.p99,
      },
    ]
  } finally {
    await server.stop()
  }
}
