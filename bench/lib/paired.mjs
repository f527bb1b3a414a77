/**
 * What the guard costs in server CPU per request, measured with the unguarded route at the same
 * moment. Two server processes of one framework share one core; in each slice one of them serves
 * the guarded app and the other the unguarded app receiving the very same request, both loaded
 * at once. Whatever the shared machine does to that core during the slice (a neighbour's load,
 * frequency), it does to both, so the ratio of their CPU per request keeps what slice-after-slice
 * req/s loses in drift. The two processes swap roles every slice, so neither process's luck
 * (JIT, heap layout) lands on one side. The ratio unguarded/guarded is the share of its
 * throughput a CPU-bound server keeps behind the guard.
 */
import { CREDENTIALS, load, startServer } from './http.mjs'
import { median, medianInterval, percentile, round } from './stats.mjs'

/**
 * The pairs per framework: [guarded app, credential, app it is paired with (the unguarded app
 * unless named)]. Paired with a peer or the floor, keyward meets it head to head on the very same
 * request: one ratio, without the two baselines' noise that comparing two ratios carries.
 * `@fastify/bearer-auth` reads only `Authorization: Bearer`, so keyward meets it twice: on that
 * header, and guarding by X-Api-Key (the target's own guard) on a request that carries both, each
 * guard reading its own. On Express and Koa, `protect` (the guard and the handler in one function)
 * meets the unguarded app and `requireAuth` (the guard as a middleware of its own).
 */
const PAIRS = {
  fastify: [
    ['control', 'X-Api-Key'],
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['peer', 'Bearer key'],
    ['floor', 'X-Api-Key'],
    ['keyward', 'Bearer key', 'peer'],
    ['keyward', 'X-Api-Key and Bearer key', 'peer'],
    ['keyward', 'X-Api-Key', 'floor'],
  ],
  express: [
    ['control', 'X-Api-Key'],
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['peer', 'X-Api-Key'],
    ['floor', 'X-Api-Key'],
    ['keyward', 'X-Api-Key', 'floor'],
    ['protect', 'X-Api-Key'],
    ['protect', 'X-Api-Key', 'keyward'],
  ],
  koa: [
    ['control', 'X-Api-Key'],
    ['noop', 'X-Api-Key'],
    ['keyward', 'X-Api-Key'],
    ['keyward', 'Bearer token'],
    ['floor', 'X-Api-Key'],
    ['keyward', 'X-Api-Key', 'floor'],
    ['protect', 'X-Api-Key'],
    ['protect', 'X-Api-Key', 'keyward'],
  ],
}

const PEERS = { fastify: '@fastify/bearer-auth', express: 'passport-headerapikey' }

/** Loads one app of a server with half of the connections, the other half going to its pair. */
export const loadHalf = (server, app, sent, duration) =>
  load({
    pid: server.pid,
    url: `${server.url(app)}/v1/agents`,
    headers: CREDENTIALS[sent](server),
    connections: 25,
    duration,
  })

const appName = (framework, app) =>
  ({
    none: 'unguarded',
    control: 'unguarded (control app)',
    noop: 'no-op guard',
    keyward: 'keyward',
    peer: PEERS[framework],
    floor: "floor: keyward's necessary work in one hook or middleware",
    protect: 'keyward protect(): the guard and the handler in one',
  })[app]

/**
 * The pairs of one framework measured side by side: `rounds` pairs of fresh processes (started
 * with `serverArgs`), in each every app warmed up for `warmup` seconds, then `cycles` slices of
 * `slice` seconds per pair (half the connections each). Answers, per pair, each slice's ratio
 * (the paired app's CPU per request over the guarded one's) and both CPU figures.
 */
export async function measurePairs(framework, pairs, { rounds, cycles, slice, warmup }, serverArgs = []) {
  // Every app with every credential it will receive, once each.
  const warmed = new Map([['none X-Api-Key', ['none', 'X-Api-Key']]])
  for (const { app, sent, against } of pairs)
    for (const warm of [app, against]) warmed.set(`${warm} ${sent}`, [warm, sent])
  const measured = pairs.map(() => ({ ratios: [], guarded: [], against: [] }))
  for (let r = 0; r < rounds; r++) {
    const servers = []
    try {
      // Each server joins the list as it starts, so a failed second start still stops the first.
      for (let s = 0; s < 2; s++) servers.push(await startServer(framework, [], serverArgs))
      for (const [app, sent] of warmed.values())
        await Promise.all(servers.map((server) => loadHalf(server, app, sent, warmup)))
      for (let c = 0; c < cycles; c++) {
        for (const [i, { app, sent, against }] of pairs.entries()) {
          // The process that serves the guarded app changes every slice.
          const [guarding, other] = (r + c) % 2 === 0 ? servers : [servers[1], servers[0]]
          const [guarded, paired] = await Promise.all([
            loadHalf(guarding, app, sent, slice),
            loadHalf(other, against, sent, slice),
          ])
          measured[i].ratios.push(paired.cpuUsPerRequest / guarded.cpuUsPerRequest)
          measured[i].guarded.push(guarded.cpuUsPerRequest)
          measured[i].against.push(paired.cpuUsPerRequest)
        }
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()))
    }
  }
  return measured
}

/** The suite's side-by-side section: every framework's PAIRS, one row per pair. */
export async function pairedCost({ frameworks = Object.keys(PAIRS), ...settings }) {
  const rows = []
  for (const framework of frameworks) {
    const pairs = PAIRS[framework].map(([app, sent, against = 'none']) => ({ app, sent, against }))
    const measured = await measurePairs(framework, pairs, settings)
    for (const [i, { app, sent, against }] of pairs.entries()) {
      const { ratios, guarded, against: paired } = measured[i]
      rows.push({
        framework,
        variant: appName(framework, app),
        sent,
        against: appName(framework, against),
        against_cpu_us: round(median(paired), 2),
        guarded_cpu_us: round(median(guarded), 2),
        ratio: round(median(ratios), 3),
        ratio_ci95: medianInterval(ratios).map((bound) => round(bound, 3)),
        ratio_iqr: [round(percentile(ratios, 25), 3), round(percentile(ratios, 75), 3)],
        slices: ratios.length,
        // Each round's median (its slices are `cycles` in a row): whether one pair of processes
        // drew a different ratio than the others, which the slices' interval takes as independent.
        ratio_rounds: Array.from({ length: settings.rounds }, (_, r) =>
          round(median(ratios.slice(r * settings.cycles, (r + 1) * settings.cycles)), 3),
        ),
      })
    }
  }
  return rows
}
