import { describe, expect, it } from 'vitest'
import { addDuration, parseDuration } from '../src/lib/duration.js'

describe('lifetimes', () => {
  it.each([
    ['3mo', { months: 3, milliseconds: 0 }],
    ['1y', { months: 12, milliseconds: 0 }],
    ['90d', { months: 0, milliseconds: 90 * 86_400_000 }],
    ['2w', { months: 0, milliseconds: 14 * 86_400_000 }],
    ['15m', { months: 0, milliseconds: 900_000 }],
    ['12h', { months: 0, milliseconds: 43_200_000 }],
    ['2s', { months: 0, milliseconds: 2_000 }],
    ['500ms', { months: 0, milliseconds: 500 }],
    [' 90 d ', { months: 0, milliseconds: 90 * 86_400_000 }],
  ])('parses %s', (input, expected) => {
    expect(parseDuration(input)).toEqual(expected)
  })

  it.each(['', '0d', '3', 'mo', '-1d', '1.5d', '3 months', '10x', '1e3s'])('rejects %j', (input) => {
    expect(parseDuration(input)).toBeUndefined()
  })

  it.each([
    { months: 3, milliseconds: 0 },
    { months: 0, milliseconds: 86_400_000 },
    { months: 1, milliseconds: 1 },
  ])('takes the lifetime object %j as it is', (input) => {
    expect(parseDuration(input)).toEqual(input)
  })

  it.each([
    { months: 0, milliseconds: 0 },
    { months: -1, milliseconds: 86_400_000 },
    { months: 1, milliseconds: -1 },
    { months: 1.5, milliseconds: 0 },
    { months: 0, milliseconds: 0.5 },
    { months: Number.NaN, milliseconds: 1 },
  ])('rejects the lifetime object %j', (input) => {
    expect(parseDuration(input)).toBeUndefined()
  })

  it.each([null, undefined, 90, true])(
    'rejects %j, neither text nor a lifetime object (a JavaScript caller)',
    (input) => {
      expect(parseDuration(input as never)).toBeUndefined()
    },
  )

  it('adds calendar months: issued 2026-11-22 expires 2027-02-22', () => {
    const at = addDuration(Date.parse('2026-11-22T10:00:00.000Z'), { months: 3, milliseconds: 0 })
    expect(new Date(at).toISOString()).toBe('2027-02-22T10:00:00.000Z')
  })

  it('clamps to the end of a shorter month instead of overflowing', () => {
    const at = addDuration(Date.parse('2026-11-30T00:00:00.000Z'), { months: 3, milliseconds: 0 })
    expect(new Date(at).toISOString()).toBe('2027-02-28T00:00:00.000Z')
    const leap = addDuration(Date.parse('2027-11-30T00:00:00.000Z'), { months: 3, milliseconds: 0 })
    expect(new Date(leap).toISOString()).toBe('2028-02-29T00:00:00.000Z')
  })
})
