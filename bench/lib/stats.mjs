export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

export const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

export const round = (value, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits

/** P(X ≤ k) for X ~ Binomial(n, 1/2). */
const binomialHalfCdf = (k, n) => {
  let term = 0.5 ** n
  let sum = 0
  for (let i = 0; i <= k; i++) {
    sum += term
    term *= (n - i) / (i + 1)
  }
  return sum
}

/**
 * The ranks (from 1) of a distribution-free confidence interval for the median of n values: j and
 * n + 1 − j, with j the largest rank such that P(Bin(n, 1/2) < j) ≤ (1 − confidence) / 2. Too few
 * values for the confidence give the whole range.
 */
export const medianIntervalRanks = (n, confidence = 0.95) => {
  let j = 1
  while (j + 1 <= n / 2 && binomialHalfCdf(j, n) <= (1 - confidence) / 2) j++
  return [j, n + 1 - j]
}

/**
 * The median's interval over these values (the order statistics at medianIntervalRanks). It says
 * how far the median of these slices could be from the median a longer run would find, where the
 * IQR says how much single slices spread.
 */
export const medianInterval = (values, confidence = 0.95) => {
  const sorted = [...values].sort((a, b) => a - b)
  const [low, high] = medianIntervalRanks(sorted.length, confidence)
  return [sorted[low - 1], sorted[high - 1]]
}
