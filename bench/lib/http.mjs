/**
 * Throughput of real listening servers, each in its own process, loaded by autocannon from
 * this process. Each comparison runs interleaved (A, B, A, B, ...) so drift cancels out, and
 * reports the median over rounds of the per-round ratio.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { median, round } from './stats.mjs'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))

/**
 * Where the servers and the load generator run. On Linux with taskset and two or more cores,
 * this process (autocannon) keeps the first core and the servers get the last one, so the
 * scheduler does not move them about mid-round.
 */
export function pinCores() {
  const last = cpus().length - 1
  if (process.platform !== 'linux' || last < 1) return undefined
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
  return pinned.status === 0 ? { loadCore: 0, serverCore: last } : undefined
}

let serverCore

export async function startServer(framework, guard) {
  const argv = [SERVER, framework, guard]
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
    child.once('exit', (code) => reject(new Error(`${framework}/${guard} server exited with ${code}`)))
  })
  const { port, key, token } = JSON.parse(line)
  return {
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    key,
    token,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve)
        child.kill('SIGTERM')
      }),
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid) {
  const file = `/proc/${pid}/stat`
  if (pid === undefined || !existsSync(file)) return undefined
  const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export async function load({ pid, ...options }) {
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
 * Requests per second of each variant, interleaved, with per-round ratios against its baseline
 * (the unguarded route receiving the very same request) and against the first variant (the
 * unguarded route with no credential sent). Every round starts fresh server processes (and warms
 * them up), so that one process's luck (JIT decisions, memory layout) does not decide a figure.
 */
export async function compare({ label, variants, rounds, duration, warmup, pin }) {
  serverCore = pin?.serverCore
  const samples = variants.map(() => [])
  const cpu = variants.map(() => [])
  for (let r = 0; r < rounds; r++) {
    const servers = []
    try {
      for (const variant of variants) servers.push(await startServer(variant.framework, variant.guard))
      const target = (i) => ({
        pid: servers[i].pid,
        url: `${servers[i].url}/v1/agents`,
        headers: variants[i].headers(servers[i]),
      })
      for (let i = 0; i < servers.length; i++) await load({ ...target(i), duration: warmup })
      // Alternate the order each round so neither variant always runs first.
      const order = r % 2 === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i)
      for (const i of order) {
        const measured = await load({ ...target(i), duration })
        samples[i].push(measured.rps)
        if (measured.cpuUsPerRequest !== undefined) cpu[i].push(measured.cpuUsPerRequest)
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()))
    }
  }
  const ratioTo = (i, base) => round(median(samples[i].map((rps, r) => rps / samples[base][r])), 3)
  return variants.map((variant, i) => {
    const baseline =
      variant.baseline === undefined ? 0 : variants.findIndex((v) => v.name === variant.baseline)
    return {
      comparison: label,
      variant: variant.name,
      sent: variant.sent,
      rps: round(median(samples[i]), 0),
      baseline: variants[baseline].name,
      ratio: ratioTo(i, baseline),
      ratio_to_bare: ratioTo(i, 0),
      rounds: samples[i].map((rps) => round(rps, 0)),
      // Server CPU (user + system) per request: steadier than req/s on a shared machine.
      cpu_us_per_request: cpu[i].length ? round(median(cpu[i]), 2) : null,
    }
  })
}

const none = () => ({})
const byKey = (server) => ({ 'x-api-key': server.key })
const byToken = (server) => ({ authorization: `Bearer ${server.token}` })
const byBearerKey = (server) => ({ authorization: `Bearer ${server.key}` })

/**
 * Per framework: the unguarded route with no credential and with each credential sent (the same
 * bytes as the guarded requests, so a ratio measures the guard and not the header), keyward by
 * key and by token, a no-op guard (the framework's own price of one more hook or middleware), and
 * the peer library where there is one.
 */
export function guardComparisons() {
  return ['fastify', 'express', 'koa'].map((framework) => {
    const unguarded = `${framework} unguarded`
    const variant = (name, guard, sent, headers, baseline) => ({
      name,
      framework,
      guard,
      sent,
      headers,
      baseline,
    })
    const peers = {
      fastify: [
        variant(
          'fastify + @fastify/bearer-auth',
          'peer',
          'Bearer key',
          byBearerKey,
          `${unguarded}, Bearer key sent`,
        ),
      ],
      express: [
        variant(
          'express + passport-headerapikey',
          'peer',
          'X-Api-Key',
          byKey,
          `${unguarded}, X-Api-Key sent`,
        ),
      ],
      koa: [],
    }[framework]
    return {
      label: framework,
      variants: [
        variant(unguarded, 'none', 'nothing', none),
        variant(`${unguarded}, X-Api-Key sent`, 'none', 'X-Api-Key', byKey),
        variant(
          `${framework} + keyward (X-Api-Key)`,
          'key',
          'X-Api-Key',
          byKey,
          `${unguarded}, X-Api-Key sent`,
        ),
        variant(`${unguarded}, Bearer token sent`, 'none', 'Bearer token', byToken),
        variant(
          `${framework} + keyward (Bearer auth_token)`,
          'token',
          'Bearer token',
          byToken,
          `${unguarded}, Bearer token sent`,
        ),
        variant(`${framework} + no-op guard`, 'noop', 'X-Api-Key', byKey, `${unguarded}, X-Api-Key sent`),
        ...(framework === 'fastify'
          ? [variant(`${unguarded}, Bearer key sent`, 'none', 'Bearer key', byBearerKey)]
          : []),
        ...peers,
      ],
    }
  })
}

/** Issuance and key-to-token exchange over HTTP (not on the hot path, but users script them). */
export async function issuanceThroughput({ duration }) {
  const server = await startServer('fastify', 'key')
  try {
    const issue = await load({
      url: `${server.url}/accounts/api-key`,
      method: 'POST',
      headers: { 'x-api-key': server.key, 'content-type': 'application/json' },
      body: JSON.stringify({ key_name: 'bench' }),
      duration,
    })
    const exchange = await load({
      url: `${server.url}/accounts/auth-with-api-key`,
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
