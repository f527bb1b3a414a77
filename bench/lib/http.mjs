/**
 * Throughput of real listening servers, each in its own process, loaded by autocannon from
 * this process. Each comparison runs interleaved (A, B, A, B, ...) so drift cancels out, and
 * reports the median over rounds of the per-round ratio.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { median, round } from './stats.mjs'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))

export async function startServer(framework, guard) {
  const child = spawn(process.execPath, [SERVER, framework, guard], { stdio: ['ignore', 'pipe', 'inherit'] })
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
 * Requests per second of each variant, interleaved, with per-round ratios against the first.
 * Every round starts fresh server processes (and warms them up), so that one process's luck
 * (JIT decisions, memory layout) does not decide a figure.
 */
export async function compare({ label, variants, rounds, duration, warmup }) {
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
  const base = samples[0]
  return variants.map((variant, i) => ({
    comparison: label,
    variant: variant.name,
    rps: round(median(samples[i]), 0),
    ratio: round(median(samples[i].map((rps, r) => rps / base[r])), 3),
    rounds: samples[i].map((rps) => round(rps, 0)),
    // Server CPU (user + system) per request: steadier than req/s on a shared machine.
    cpu_us_per_request: cpu[i].length ? round(median(cpu[i]), 2) : null,
  }))
}

const none = () => ({})
const byKey = (server) => ({ 'x-api-key': server.key })
const byToken = (server) => ({ authorization: `Bearer ${server.token}` })

export function guardComparisons() {
  const frameworks = ['fastify', 'express', 'koa']
  return frameworks.map((framework) => ({
    label: framework,
    variants: [
      { name: `${framework} unguarded`, framework, guard: 'none', headers: none },
      { name: `${framework} + keyward (X-Api-Key)`, framework, guard: 'key', headers: byKey },
      { name: `${framework} + keyward (Bearer auth_token)`, framework, guard: 'token', headers: byToken },
      ...(framework === 'fastify'
        ? [
            {
              name: 'fastify + @fastify/bearer-auth',
              framework,
              guard: 'peer',
              headers: (s) => ({ authorization: `Bearer ${s.key}` }),
            },
          ]
        : []),
      ...(framework === 'express'
        ? [{ name: 'express + passport-headerapikey', framework, guard: 'peer', headers: byKey }]
        : []),
    ],
  }))
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
