/**
 * Lifetimes such as "3mo", "90d", "15m" or "2s". Months and years are calendar units
 * (issued on 2026-11-22, "3mo" expires on 2027-02-22), so they are kept apart from
 * fixed milliseconds. Hand-written: `ms`-style libraries have no calendar months.
 */
export interface Duration {
  readonly months: number
  readonly milliseconds: number
}

export type DurationInput = string | Duration

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

const PATTERN = /^(\d{1,9})\s*(ms|s|m|h|d|w|mo|y)$/

/** Parses a lifetime, or returns undefined when it is not one. Zero is not a lifetime. */
export function parseDuration(input: DurationInput): Duration | undefined {
  if (typeof input === 'object' && input !== null) {
    const { months, milliseconds } = input
    if (!Number.isInteger(months) || !Number.isInteger(milliseconds) || months < 0 || milliseconds < 0) {
      return undefined
    }
    return months + milliseconds > 0 ? { months, milliseconds } : undefined
  }
  if (typeof input !== 'string') return undefined
  const match = PATTERN.exec(input.trim())
  if (!match) return undefined
  const amount = Number(match[1])
  const unit = match[2] as string
  if (amount === 0) return undefined
  if (unit === 'mo') return { months: amount, milliseconds: 0 }
  if (unit === 'y') return { months: amount * 12, milliseconds: 0 }
  return { months: 0, milliseconds: amount * (UNIT_MS[unit] as number) }
}

/** Adds a duration; a month later than Jan 31 is Feb 28 (or 29), never Mar 3. */
export function addDuration(from: number, duration: Duration): number {
  let at = from
  if (duration.months > 0) {
    const date = new Date(from)
    const day = date.getUTCDate()
    date.setUTCDate(1)
    date.setUTCMonth(date.getUTCMonth() + duration.months)
    const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate()
    date.setUTCDate(Math.min(day, lastDay))
    at = date.getTime()
  }
  return at + duration.milliseconds
}

/** An upper bound in milliseconds, for fixed windows (31 days to the month). */
export const durationUpperBoundMs = (duration: Duration): number =>
  duration.months * 31 * 86_400_000 + duration.milliseconds
