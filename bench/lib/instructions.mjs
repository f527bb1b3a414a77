/**
 * What the guard costs in instructions per request, counted by callgrind in the server's main
 * thread. req/s on a shared two-core machine swings by ±10% from round to round; an instruction
 * count does not, so this is the figure to optimise against (and what a later session can compare).
 * Caveats: valgrind has no SHA extensions, so OpenSSL's SHA-256 runs its AVX2 code here (more
 * instructions than on the real CPU), and an instruction is not a nanosecond.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { CREDENTIALS } from './http.mjs'
import { round } from './stats.mjs'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))

export const hasCallgrind = () =>
  process.platform === 'linux' &&
  spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('callgrind_control', ['--version'], { stdio: 'ignore' }).status === 0

const control = (option, pid) => {
  const done = spawnSync('callgrind_control', [option, String(pid)], { stdio: 'ignore' })
  if (done.status !== 0) throw new Error(`callgrind_control ${option} ${pid} failed`)
}

let runs = 0

/**
 * One server process under callgrind, one of its apps measured: warm it up, zero the counters,
 * count `requests` requests on `connections` keep-alive connections. Answers callgrind's events per
 * request (Ir, the instructions; with `--cache-sim=yes` among `valgrindOptions`, also the simulated
 * cache's misses).
 */
export async function eventsPerRequest({
  framework,
  app,
  headers,
  warmup,
  requests,
  dir,
  connections = 1,
  valgrindOptions = [],
}) {
  const out = join(dir, `${framework}-${app}-${++runs}`)
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      '--separate-threads=yes',
      '--dump-instr=no',
      ...valgrindOptions,
      process.execPath,
      SERVER,
      framework,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  try {
    const line = await new Promise((resolve, reject) => {
      let output = ''
      child.stdout.on('data', (chunk) => {
        output += chunk
        if (output.includes('\n')) resolve(output.slice(0, output.indexOf('\n')))
      })
      child.once('exit', (code) =>
        reject(new Error(`${framework}/${app} under callgrind exited with ${code}`)),
      )
    })
    const server = JSON.parse(line)
    const options = {
      url: `http://127.0.0.1:${server.ports[app]}/v1/agents`,
      headers: headers(server),
      connections,
    }
    await autocannon({ ...options, amount: warmup })
    control('-z', child.pid)
    const result = await autocannon({ ...options, amount: requests })
    control('-d', child.pid)
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`${framework}/${app}: failed requests under callgrind`)
    // The dump of the main thread (thread 1) of the first dump.
    const dump = `${out}.1-01`
    if (!existsSync(dump)) throw new Error(`no callgrind dump at ${dump}`)
    const text = readFileSync(dump, 'utf8')
    const names = /^events: (.+)$/m.exec(text)?.[1].split(' ') ?? []
    const totals = /^summary: (.+)$/m.exec(text)?.[1].split(' ').map(Number) ?? []
    return Object.fromEntries(names.map((name, i) => [name, totals[i] / result.requests.total]))
  } finally {
    child.kill('SIGKILL')
  }
}

const { 'X-Api-Key': byKey, 'Bearer token': byToken } = CREDENTIALS

/**
 * Per framework: keyward by key and by token, the no-op guard and the floor (keyward's necessary
 * work in one hook or middleware), each against the unguarded route receiving the same request.
 * Pairs run side by side, one per core.
 */
export async function guardInstructions({
  frameworks = ['fastify', 'express', 'koa'],
  guards = ['key', 'token', 'noop', 'floor'],
  warmup,
  requests,
}) {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-callgrind-'))
  const rows = []
  try {
    for (const framework of frameworks) {
      // One connection: every request gets an event-loop turn of its own, so the count does not
      // depend on how many requests happened to arrive together.
      const count = async (app, headers) =>
        (await eventsPerRequest({ framework, app, headers, warmup, requests, dir })).Ir
      const measured = [
        ['keyward (X-Api-Key)', 'key', 'keyward', byKey],
        ['keyward (Bearer auth_token)', 'token', 'keyward', byToken],
        ['no-op guard', 'noop', 'noop', byKey],
        ["floor: keyward's necessary work in one hook or middleware", 'floor', 'floor', byKey],
      ].filter(([, guard]) => guards.includes(guard))
      for (const [variant, , app, headers] of measured) {
        const [baseline, guarded] = await Promise.all([count('none', headers), count(app, headers)])
        rows.push({
          framework,
          variant,
          baseline_instructions: Math.round(baseline),
          instructions: Math.round(guarded),
          guard_instructions: Math.round(guarded - baseline),
          guard_share: round((guarded - baseline) / baseline, 3),
        })
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
