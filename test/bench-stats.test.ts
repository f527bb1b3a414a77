/** The report's statistics: the median's confidence interval the side-by-side ratios are judged by. */
import { expect, it } from 'vitest'
import { median, medianInterval, medianIntervalRanks } from '../bench/lib/stats.mjs'

/** The interval's ranks, both as computed and as medianInterval picks them from the values 1..n. */
function ranks(n: number) {
  const picked = medianInterval(Array.from({ length: n }, (_, i) => i + 1))
  expect(medianIntervalRanks(n)).toEqual(picked)
  return picked
}

it('takes the order statistics of the binomial tables for the median', () => {
  // Ranks of the 95% interval from the published tables (e.g. Conover, Practical Nonparametric Statistics).
  expect(ranks(9)).toEqual([2, 8])
  expect(ranks(18)).toEqual([5, 14])
  expect(ranks(36)).toEqual([12, 25])
  expect(ranks(100)).toEqual([40, 61])
  // Too few values to say anything at 95%: the whole range.
  expect(ranks(5)).toEqual([1, 5])
  expect(medianInterval([3])).toEqual([3, 3])
})

it('covers the true median in at least 95% of samples, and not far above', () => {
  // A seeded generator (mulberry32), so the test gives the same answer on every run.
  let seed = 42
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  // An exponential distribution (skewed, as per-slice ratios can be): its median is ln 2.
  const trueMedian = Math.LN2
  const samples = 4000
  let covered = 0
  for (let s = 0; s < samples; s++) {
    const values = Array.from({ length: 18 }, () => -Math.log(1 - random()))
    const [low, high] = medianInterval(values)
    expect(low).toBeLessThanOrEqual(median(values))
    expect(high).toBeGreaterThanOrEqual(median(values))
    if (low <= trueMedian && trueMedian <= high) covered++
  }
  // With 18 values the exact coverage of ranks 5 and 14 is 1 − 2 × P(Bin(18, ½) ≤ 4) = 96.9%.
  expect(covered / samples).toBeGreaterThan(0.955)
  expect(covered / samples).toBeLessThan(0.98)
})
