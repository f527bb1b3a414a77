/**
 * Head to head in one framework's process, for questions the suite's side-by-side section does not
 * ask: `node bench/ablate.mjs <framework> <app>[:<against>] ... [--steps] [--base <root>]`.
 * Each pair is measured as that section measures (bench/lib/paired.mjs: two processes, both apps
 * loaded at once, roles swapped every slice) and printed as the median ratio of CPU per request
 * (against / app: below 1 when `app` costs more), its 95% interval, and the median of the slices'
 * differences in µs (each slice's two apps measured at once, as the ratio pairs them).
 * `against` defaults to the unguarded app.
 *   --steps         serve the floor taken apart (state, header, clock, memo, user: see floorSteps
 *                   in bench/lib/floor-guard.mjs); pair each step with the one before to price it
 *   --base <root>   serve `base`, keyward's guard as another checkout built it (its core and this
 *                   framework's adapter built there), to meet the working tree's `keyward` head to
 *                   head inside the framework, where bench/guard-ab.mjs meets it outside
 * Options: --rounds N (6), --cycles N (6), --slice S (2), --warmup S (3). Every app receives
 * X-Api-Key. E.g. `node bench/ablate.mjs koa header:state clock:header memo:clock --steps`.
 */
import { parseArgs } from 'node:util'
import { pinCores } from './lib/http.mjs'
import { measurePairs } from './lib/paired.mjs'
import { median, medianInterval, round } from './lib/stats.mjs'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    steps: { type: 'boolean', default: false },
    base: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    cycles: { type: 'string', default: '6' },
    slice: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
  },
})
const [framework, ...pairNames] = positionals
if (framework === undefined || pairNames.length === 0) {
  console.error('usage: node bench/ablate.mjs <framework> <app>[:<against>] ... [--steps] [--base <root>]')
  process.exit(2)
}
const pairs = pairNames.map((name) => {
  const [app, against = 'none'] = name.split(':')
  return { app, against, sent: 'X-Api-Key' }
})
const serverArgs = [...(values.steps ? ['--steps'] : []), ...(values.base ? ['--base', values.base] : [])]
const settings = {
  rounds: Number(values.rounds),
  cycles: Number(values.cycles),
  slice: Number(values.slice),
  warmup: Number(values.warmup),
}

pinCores()
const measured = await measurePairs(framework, pairs, settings, serverArgs)
console.log(
  `${framework}, ${settings.rounds} rounds of ${settings.cycles} slices of ${settings.slice}s per pair:`,
)
for (const [i, { app, against }] of pairs.entries()) {
  const { ratios, guarded, against: paired } = measured[i]
  const [low, high] = medianInterval(ratios).map((bound) => round(bound, 3))
  // Paired slice by slice, as the ratio is: the difference of the two sides' medians mixes slices.
  const difference = round(median(guarded.map((cost, slice) => cost - paired[slice])), 2)
  console.log(
    `  ${app} against ${against}: ${round(median(ratios), 3)} [${low}, ${high}], ${difference} µs per request`,
  )
}
