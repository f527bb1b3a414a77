import { memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { withDeadline } from '../src/store/deadline.js'

describe('withDeadline', () => {
  it.each([1000, false] as const)(
    'answers a store method that throws instead of rejecting with a rejection, as callers await (ms: %s)',
    async (ms) => {
      const failure = new Error('driver bug')
      const throwing = {
        ...memoryStore(),
        recordKeyUsage: () => {
          throw failure
        },
      }
      let answer: Promise<void> | undefined
      expect(() => {
        answer = withDeadline(throwing, ms).recordKeyUsage([])
      }).not.toThrow()
      await expect(answer).rejects.toBe(failure)
    },
  )
})
