/**
 * Rate-limit counters: fixed windows computed from the given time, not the store's clock, resets
 * of one counter only, and exact counts under simultaneous increments.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ConformanceSuite } from './suite.js'

export function describeCounters(suite: ConformanceSuite): void {
  const { parallel } = suite

  describe('counters', () => {
    it('counts within a window and starts again after it', async () => {
      const bucket = `test:${randomUUID()}`
      const start = new Date()
      expect(await suite.store.peekCounter(bucket, start)).toBeNull()
      const first = await suite.store.incrementCounter(bucket, 60_000, start)
      expect(first.count).toBe(1)
      expect(first.resetAt.getTime()).toBeGreaterThanOrEqual(start.getTime() + 59_000)
      expect((await suite.store.incrementCounter(bucket, 60_000, start)).count).toBe(2)
      expect((await suite.store.peekCounter(bucket, start))?.count).toBe(2)
      const afterWindow = new Date(first.resetAt.getTime() + 1)
      expect(await suite.store.peekCounter(bucket, afterWindow)).toBeNull()
      expect((await suite.store.incrementCounter(bucket, 60_000, afterWindow)).count).toBe(1)
      await suite.store.resetCounter(bucket)
      expect(await suite.store.peekCounter(bucket, afterWindow)).toBeNull()
    })

    it("computes the window from the given time, not the store's clock", async () => {
      // Far from the real time both ways, as a test clock or a skewed host would be.
      for (const at of [Date.UTC(2031, 0, 1), Date.UTC(2020, 0, 1)]) {
        const bucket = `test:${randomUUID()}`
        const first = await suite.store.incrementCounter(bucket, 60_000, new Date(at))
        expect(first).toEqual({ count: 1, resetAt: new Date(at + 60_000) })
        expect(await suite.store.incrementCounter(bucket, 60_000, new Date(at + 59_999))).toEqual({
          count: 2,
          resetAt: new Date(at + 60_000),
        })
        expect((await suite.store.peekCounter(bucket, new Date(at + 59_999)))?.count).toBe(2)
        expect(await suite.store.peekCounter(bucket, new Date(at + 60_000))).toBeNull()
        expect(await suite.store.incrementCounter(bucket, 60_000, new Date(at + 60_000))).toEqual({
          count: 1,
          resetAt: new Date(at + 120_000),
        })
      }
    })

    it('keeps the end of a window its first increment set, whatever window a later one asks for', async () => {
      const bucket = `test:${randomUUID()}`
      const at = Date.UTC(2031, 0, 1)
      await suite.store.incrementCounter(bucket, 60_000, new Date(at))
      for (const windowMs of [120_000, 1_000])
        expect(await suite.store.incrementCounter(bucket, windowMs, new Date(at + 500))).toMatchObject({
          resetAt: new Date(at + 60_000),
        })
      expect((await suite.store.peekCounter(bucket, new Date(at + 59_999)))?.count).toBe(3)
    })

    it('resets one counter and no other', async () => {
      const [reset, kept] = [`test:${randomUUID()}`, `test:${randomUUID()}`]
      const now = new Date()
      await suite.store.incrementCounter(reset, 60_000, now)
      await suite.store.incrementCounter(kept, 60_000, now)
      await suite.store.resetCounter(reset)
      expect(await suite.store.peekCounter(reset, now)).toBeNull()
      expect((await suite.store.peekCounter(kept, now))?.count).toBe(1)
    })

    it(`counts ${parallel} simultaneous increments exactly`, async () => {
      const bucket = `test:${randomUUID()}`
      const now = new Date()
      const hits = await Promise.all(
        Array.from({ length: parallel }, () => suite.store.incrementCounter(bucket, 60_000, now)),
      )
      expect(hits.map((hit) => hit.count).sort((a, b) => a - b)).toEqual(
        Array.from({ length: parallel }, (_, i) => i + 1),
      )
    })
  })
}
