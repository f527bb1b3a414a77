/**
 * A guard's options as a route declares them: anything a JavaScript caller could pass that would
 * not mean "these permissions" refuses to start, instead of guarding with none.
 */
import { checkGuardOptions, KeywardConfigError } from '@keyward/core'
import { describe, expect, it } from 'vitest'

describe('checkGuardOptions', () => {
  it.each([undefined, {}, { permissions: [] }, { permissions: ['agents:read', 'agents:write'] }])(
    'takes %j as it is',
    (options) => {
      expect(checkGuardOptions(options, 'requireAuth(options)')).toBe(options)
    },
  )

  it.each([
    ['agents:read', 'requireAuth(options)', 'must be { permissions: [...] } or left out (got "agents:read")'],
    [
      ['agents:read'],
      'requireAuth(options)',
      'must be { permissions: [...] } or left out (got ["agents:read"])',
    ],
    [null, 'requireAuth(options)', 'must be { permissions: [...] } or left out (got null)'],
    [() => true, 'requireAuth(options)', 'must be { permissions: [...] } or left out (got a function)'],
    [
      { permission: ['agents:read'] },
      'requireAuth(options)',
      'has no option "permission": its one option is permissions',
    ],
    [
      { permissions: 'agents:read' },
      'requireAuth(options).permissions',
      'must be an array of strings (got "agents:read")',
    ],
    [
      { permissions: ['agents:read', 7] },
      'requireAuth(options).permissions',
      'must be an array of strings (got ["agents:read",7])',
    ],
  ])('refuses %j, naming the option and what it got', (options, option, message) => {
    let thrown: unknown
    try {
      checkGuardOptions(options, 'requireAuth(options)')
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(KeywardConfigError)
    expect(thrown).toMatchObject({ option, message: `keyward: option "${option}" ${message}` })
  })
})
