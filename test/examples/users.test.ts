/**
 * The demo password check takes the same path whatever it is given: one constant-time comparison
 * of two 32-byte digests, for an unknown username and a password of another length too.
 * timingSafeEqual is wrapped, not replaced: the check's answers below are the real ones.
 */
import { beforeEach, expect, it, vi } from 'vitest'

const { compared } = vi.hoisted(() => ({ compared: [] as Array<[number, number]> }))
vi.mock('node:crypto', async (importOriginal) => {
  const crypto = await importOriginal<typeof import('node:crypto')>()
  return {
    ...crypto,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.push([a.byteLength, b.byteLength])
      return crypto.timingSafeEqual(a, b)
    },
  }
})

const { checkPassword } = await import('../../examples/shared/src/users.js')

beforeEach(() => {
  compared.length = 0
})

it.each([
  ['the right password', 'demo', 'demo', 'demo'],
  ['a wrong password of the same length', 'demo', 'demX', undefined],
  ['a wrong password of another length', 'demo', 'a much longer password', undefined],
  ['an unknown username', 'mallory', 'demo', undefined],
  ["another user's password", 'alice', 'demo', undefined],
])('answers %s after one comparison of two 32-byte digests', (_case, username, password, userId) => {
  expect(checkPassword(username, password)).toBe(userId)
  expect(compared).toEqual([[32, 32]])
})
