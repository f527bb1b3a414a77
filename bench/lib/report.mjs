import { medianIntervalRanks } from './stats.mjs'

const round1 = (value) => Math.round(value * 10) / 10
// autocannon runs whole seconds (bench/lib/http.mjs load): a kept section's 1.5 s slices ran 2 s.
const ranSeconds = (seconds) => Math.ceil(seconds)

/** The Markdown report: one table per section, figures and ratios side by side. */
const table = (headers, rows) =>
  [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n')

export function renderMarkdown(results) {
  const { machine, settings } = results
  // A section kept from an earlier run (--only) says when, and on which commit, it was measured.
  const stamp = machine.stamp ?? machine.date.slice(0, 10)
  const heading = (title, section) => {
    const when = results.measured?.[section]
    return when && when !== stamp ? `## ${title} (measured ${when})` : `## ${title}`
  }
  const parts = [
    '# keyward benchmarks',
    '',
    `Measured ${stamp} on ${machine.cores} × ${machine.cpu}, ${machine.memory_gib} GiB, Node ${machine.node}.`,
    `autocannon, ${settings.connections} connections, from a separate process; each server in its own process on 127.0.0.1${settings.pinned ? ` (servers pinned to core ${settings.pinned.serverCore}, the load generator to core ${settings.pinned.loadCore})` : ''}.`,
    `Per framework, ${settings.rounds} round(s), each with one fresh server process in which every variant is an app of its own (same framework code, JIT state and heap); each app warmed up ${ranSeconds(settings.warmup)} s, then ${settings.cycles} cycle(s) in which every variant is loaded for ${ranSeconds(settings.slice)} s, in alternating order. A ratio compares two slices of the same cycle; figures are medians over all slices, with the interquartile range of the ratios.${settings.smoke ? ' **Smoke run: too short to mean anything.**' : ''}`,
    '',
  ]
  if (results.paired?.length) {
    const slices = results.paired[0].slices
    const ranks = medianIntervalRanks(slices)
    parts.push(
      heading('Guard cost: server CPU per request, measured side by side', 'paired'),
      '',
      `Two server processes of one framework on one core, loaded at the same time (25 connections each): one serves the guarded app, the other the app it is paired with (the unguarded app unless named) receiving the very same request; they swap roles every slice. Whatever the machine does to that core during a slice, it does to both, so this is the steadiest of the ratios. The ratio is the paired app's CPU / the guarded app's CPU per request: against the unguarded app, the share of its throughput a CPU-bound server keeps behind the guard; against a peer or the floor (head to head, same request), above 1 when keyward costs less (@fastify/bearer-auth reads only Authorization: keyward meets it on a Bearer key, and guarding by X-Api-Key on a request that carries both headers, each guard reading its own). CPU from the scheduler's per-thread account (ns). The control is a second unguarded app (the noise floor). The floor is a hook (Fastify) or middleware (Express, Koa) that does only the work keyward's guard must do on a warm keep-alive connection, in one function (bench/lib/floor-guard.mjs): what keyward's structure costs is the distance between the two. The interval is the median's 95% interval (distribution-free, from the order statistics of the slices; with ${slices} slices, ranks ${ranks.join(' and ')}): where the median of a much longer run would be. ${settings.rounds} round(s) of fresh processes, ${settings.cycles} slice(s) of ${ranSeconds(settings.slice)} s per pair and round.`,
      '',
      table(
        [
          'framework',
          'guard',
          'sent',
          'paired with',
          'paired µs/request',
          'guarded µs/request',
          'ratio',
          'median 95% interval',
          'slices',
        ],
        results.paired.map((r) => [
          r.framework,
          r.variant,
          r.sent,
          r.against,
          r.against_cpu_us,
          r.guarded_cpu_us,
          r.ratio,
          r.ratio_ci95.join(' to '),
          r.slices,
        ]),
      ),
      '',
    )
  }
  if (results.throughput.length) {
    parts.push(
      heading('Guarded route throughput', 'http'),
      '',
      "Each guarded variant is compared with the unguarded app receiving the very same request (its baseline), so the ratio is the price of the guard and not of the header; the ratio to the unguarded app with no credential sent is shown beside it. The control is a second unguarded app: its ratio to the first is what this machine makes of two identical servers (the comparison's noise floor). The no-op guard admits everyone: it is what the framework itself charges for one more hook or middleware. keyward protect() (Express, Koa) is the guard and the route's handler in one middleware.",
      '',
      table(
        [
          'framework',
          'variant',
          'sent',
          'req/s (median)',
          'ratio to baseline',
          'ratio IQR',
          'ratio to unguarded, nothing sent',
          'server CPU µs/request',
          'slices',
        ],
        results.throughput.map((r) => [
          r.comparison,
          r.variant,
          r.sent ?? 'n/a',
          r.rps,
          r.baseline === r.variant ? '(baseline)' : r.ratio,
          r.baseline === r.variant ? '' : r.ratio_iqr.join(' to '),
          r.ratio_to_bare ?? r.ratio,
          r.cpu_us_per_request ?? 'n/a',
          r.slices,
        ]),
      ),
      '',
    )
  }
  if (results.instructions?.length) {
    parts.push(
      heading('Instructions per request (callgrind)', 'instructions'),
      '',
      "Counted by valgrind's callgrind in the server's main thread after warm-up, one connection (keep-alive), each guarded app beside the unguarded app receiving the same request, each in a server process of its own. It does not drift as req/s does, but one server process counts up to about 5% more than another for the same request, so a difference reads to about ±10,000 instructions; an instruction is not a nanosecond. On one connection the API-key guard hashes the key once and then recognises it (the connection memo), so valgrind's lack of SHA extensions no longer weighs on the figure.",
      '',
      table(
        ['framework', 'variant', 'unguarded', 'guarded', 'guard costs', 'share of the unguarded request'],
        results.instructions.map((r) => [
          r.framework,
          r.variant,
          r.baseline_instructions,
          r.instructions,
          r.guard_instructions,
          `${round1(r.guard_share * 100)}%`,
        ]),
      ),
      '',
    )
  }
  if (results.issuance.length) {
    parts.push(
      heading('Issuance and exchange (Fastify, memory store)', 'http'),
      '',
      "Every key is issued to one user, so `maxKeysPerUser` is off here; on (the default), each issue also lists that user's keys, one more store read.",
      '',
      table(
        ['operation', 'req/s', 'p99 ms'],
        results.issuance.map((r) => [r.operation, r.rps, r.p99_ms]),
      ),
      '',
    )
  }
  if (results.stores.length) {
    parts.push(
      heading('verifyKey latency per store (in process)', 'stores'),
      '',
      'Hit: warm cache. Miss: a cache of one entry and 200 keys in rotation, so every verification reads the store. Each instance warmed up for a second first (a fresh process compiles this path meanwhile). Store reads per miss: the KeyStore calls counted over all misses, divided by their number.',
      '',
      table(
        [
          'store',
          'keys in store',
          'hit p50 µs',
          'hit p99 µs',
          'miss p50 µs',
          'miss p99 µs',
          'store reads per miss',
          'lookup plan',
        ],
        results.stores.map((r) => [
          r.store,
          r.keys.toLocaleString('en'),
          r.hit.p50_us,
          r.hit.p99_us,
          r.miss.p50_us,
          r.miss.p99_us,
          r.miss.reads_per_miss ?? '',
          r.plan ?? '',
        ]),
      ),
      '',
    )
  }
  if (results.writes) {
    const w = results.writes
    parts.push(
      heading('Store writes on the hot path', 'writes'),
      '',
      `${w.requests.toLocaleString('en')} guarded requests on one key in ${w.seconds} s made **${w.writes}** store write(s): ${JSON.stringify(w.byMethod)}. Last use is batched: one write per lastUsedResolution (a minute by default) and one at close, whatever the request rate.`,
      '',
    )
  }
  if (results.memory) {
    const m = results.memory
    parts.push(
      heading('Cache memory bound', 'writes'),
      '',
      `Cache bounded at ${m.max.toLocaleString('en')} entries, keys issued first (so the store's own memory is in the baseline): the heap grew ${m.filling_mb} MB while the first ${m.max.toLocaleString('en')} distinct keys filled the cache, and ${m.beyond_bound_mb} MB while ${(m.distinct - m.max).toLocaleString('en')} more distinct keys went through the full cache.`,
      '',
    )
  }
  return `${parts.join('\n')}\n`
}
