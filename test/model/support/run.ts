/**
 * What every command shares: the engine under test (Real), the checks of a call's answer, and
 * the audit of the events each command causes.
 */
import { type Keyward, KeywardError, type KeywardEvent, type KeywardUser } from '@keyward/core'
import type fc from 'fast-check'
import { expect } from 'vitest'
import {
  authTokenExpiry,
  expectEvent,
  type Model,
  type ModelAuthToken,
  type ModelFamily,
  type ModelKey,
  type ModelUser,
  refreshTokenOf,
} from './model.js'

export interface Real {
  /** Replaced by a restart: a new engine on the same store, as a restarted process or another instance. */
  engine: Keyward
  readonly startEngine: () => Keyward
  readonly clock: { now: number }
  /** The host's directory: a user the model says is gone is not in it. */
  readonly directory: Map<string, KeywardUser>
  /** Connections the guard may remember a key on. */
  readonly sockets: readonly object[]
  /** What onEvent received during the current command. */
  readonly events: KeywardEvent[]
}

export type Cmd = fc.AsyncCommand<Model, Real>

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string }

/** The call's value, or the code of the KeywardError it threw; anything else fails the run. */
export async function outcome<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() }
  } catch (error) {
    if (error instanceof KeywardError) return { ok: false, code: error.code }
    throw error
  }
}

export function expectRefused(actual: Outcome<unknown>, codes: readonly string[]): void {
  expect(actual.ok ? 'succeeded' : actual.code, `expected ${codes.join(' or ')}`).toBeOneOf([...codes])
}

export const userAt = (model: Model, index: number): ModelUser => model.users[index % model.users.length]!
export const ipAt = (model: Model, index: number | undefined) =>
  index === undefined ? undefined : model.ips[index % model.ips.length]

export const KEY_PATTERN = /^ms-[0-9a-f]{32}$/
const REFRESH_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/

export const validName = (name: string): boolean => {
  const trimmed = name.trim()
  const length = [...trimmed].length
  return length >= 1 && length <= 128 && !/[\p{Cc}\p{Cs}]/u.test(trimmed)
}

/** The claims of an auth token, read without verifying: the model knows what they must be. */
function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? ''
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** Records a token pair the engine minted, after checking it is the pair the model expects. */
export function tookPair(
  model: Model,
  pair: { auth_token: string; refresh_token: string },
  family: ModelFamily,
): ModelAuthToken {
  expect(pair.refresh_token).toMatch(REFRESH_PATTERN)
  const expiresAt = authTokenExpiry(model.now)
  expect(claimsOf(pair.auth_token)).toMatchObject({
    sub: family.userId,
    key_id: family.keyId,
    iat: Math.floor(model.now / 1000),
    exp: expiresAt / 1000,
    iss: 'keyward',
    aud: 'keyward',
  })
  const token = { raw: pair.auth_token, userId: family.userId, keyId: family.keyId, expiresAt }
  model.authTokens.push(token)
  refreshTokenOf(model, pair.refresh_token, family)
  return token
}

/** A use of a valid key: its last-use time, and a `key.used` event. */
export function usedKey(model: Model, key: ModelKey): void {
  key.lastUsedOn = model.now
  expectEvent(model, { type: 'key.used', userId: key.userId, keyId: key.id })
}

/** An event as compared: `at` in ms, no property left undefined. */
const plainEvent = (event: object) =>
  Object.fromEntries(
    Object.entries(event)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => [name, value instanceof Date ? value.getTime() : value]),
  )

/**
 * Runs a command, then checks that the audit events it caused are exactly those the model expects
 * (in any order; error events are checked once the run ends).
 */
export class Audited implements Cmd {
  constructor(readonly command: Cmd) {}
  check = (model: Readonly<Model>) => this.command.check(model)
  async run(model: Model, real: Real) {
    real.events.length = 0
    model.expectedEvents.length = 0
    await this.command.run(model, real)
    const sorted = (events: readonly object[]) =>
      events.map(plainEvent).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    const emitted = real.events.filter((event) => event.type !== 'error')
    expect(sorted(emitted), 'audit events').toEqual(sorted(model.expectedEvents))
  }
  toString = () => this.command.toString()
}

export function expectPrincipal(
  principal: { userId: string; keyId: string | null; credential: string; permissions: readonly string[] },
  user: ModelUser,
  keyId: string | null,
  credential: 'api_key' | 'auth_token',
): void {
  expect({ ...principal, user: undefined }).toEqual({
    userId: user.id,
    keyId,
    credential,
    permissions: [...user.permissions],
    user: undefined,
  })
}
