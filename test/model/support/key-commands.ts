/**
 * Commands on keys and on the world around them: the clock, the host's directory, a restart. Each
 * runs one call on the engine and on the model, and expects an answer the model allows; the model
 * changes only as the promised behaviour says (but for what keyward draws: a key, an id).
 */
import { expect } from 'vitest'
import {
  edges,
  expectEvent,
  keyVerdict,
  LIMITS,
  liveKeysOf,
  type Model,
  tally,
  userOf,
  type Verdict,
} from './model.js'
import { describeKeyRef, type KeyRef, resolveKey } from './refs.js'
import {
  type Cmd,
  expectPrincipal,
  expectRefused,
  KEY_PATTERN,
  outcome,
  type Real,
  usedKey,
  userAt,
  validName,
} from './run.js'

export class AdvanceClock implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    model.now += this.ms
    real.clock.now = model.now
  }
  toString = () => `advance(${this.ms})`
}

/** Moves to just before, at, or just after something's expiry (a key's, a token's, a block's...). */
export class AdvanceToEdge implements Cmd {
  constructor(
    readonly pick: number,
    readonly delta: -1 | 0 | 1,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const ahead = edges(model)
      .map((instant) => instant + this.delta)
      .filter((instant) => instant > model.now)
    const to = ahead[this.pick % Math.max(1, Math.min(ahead.length, 3))]
    if (to === undefined) return
    model.now = to
    real.clock.now = to
    tally(model, 'edge reached')
  }
  toString = () => `edge(#${this.pick}, ${this.delta})`
}

export class IssueKey implements Cmd {
  constructor(
    readonly user: number,
    readonly name: string,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    const result = await outcome(() => real.engine.issueKey(user.id, { name: this.name }))
    if (!validName(this.name)) return expectRefused(result, ['INVALID_INPUT'])
    if (liveKeysOf(model, user.id).length >= LIMITS.maxKeys) {
      tally(model, 'key limit reached')
      return expectRefused(result, ['KEY_LIMIT_REACHED'])
    }
    expect(result.ok, result.ok ? '' : result.code).toBe(true)
    if (!result.ok) return
    const issued = result.value
    expect(issued.key).toMatch(KEY_PATTERN)
    expect(issued).toMatchObject({
      userId: user.id,
      name: this.name.trim(),
      preview: `ms-…${issued.key.slice(-4)}`,
      createdOn: new Date(model.now),
      expiresOn: new Date(model.now + LIMITS.keyLifetimeMs),
      lastUsedOn: null,
    })
    model.keys.push({
      id: issued.id,
      raw: issued.key,
      userId: user.id,
      name: this.name.trim(),
      createdOn: model.now,
      expiresOn: model.now + LIMITS.keyLifetimeMs,
      deleted: false,
      lastUsedOn: null,
    })
    expectEvent(model, { type: 'key.issued', userId: user.id, keyId: issued.id })
    tally(model, 'issued a key')
  }
  toString = () => `issueKey(user${this.user}, ${JSON.stringify(this.name)})`
}

const listed = (key: {
  id: string
  name: string
  userId: string
  createdOn: Date | number
  expiresOn: Date | number
}) => ({
  id: key.id,
  name: key.name,
  userId: key.userId,
  createdOn: new Date(key.createdOn).getTime(),
  expiresOn: new Date(key.expiresOn).getTime(),
})

export class ListKeys implements Cmd {
  constructor(
    readonly user: number,
    /** Flush the last-use times first, and compare them too. */
    readonly flush: boolean,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    if (this.flush) await real.engine.flushUsage()
    const keys = await real.engine.listKeys(user.id)
    const expected = liveKeysOf(model, user.id)
    expect(keys.map(listed)).toEqual(expected.map(listed))
    if (this.flush) {
      expect(keys.map((key) => key.lastUsedOn?.getTime() ?? null)).toEqual(
        expected.map((key) => key.lastUsedOn),
      )
    }
    if (expected.length > 1) tally(model, 'listed several keys')
  }
  toString = () => `listKeys(user${this.user}${this.flush ? ', after flushUsage' : ''})`
}

export class DeleteKey implements Cmd {
  constructor(
    /** 'owner': the key's own user (most deletions are), else another user of the pool. */
    readonly user: number | 'owner',
    readonly ref: KeyRef,
    readonly by: 'id' | 'key',
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const { raw, key } = resolveKey(model, this.ref)
    const user =
      this.user !== 'owner'
        ? userAt(model, this.user)
        : (userOf(model, key?.userId ?? '') ?? userAt(model, 0))
    const selector =
      this.by === 'key'
        ? { key: raw }
        : { id: key?.id ?? (this.ref.kind === 'malformed' ? 'no\u0000such-id' : `no-such-id-${raw}`) }
    const deleted = await real.engine.deleteKey(user.id, selector)
    const owned = key !== undefined && key.userId === user.id && !key.deleted
    if (!owned) {
      expect(deleted).toBeNull()
      if (key !== undefined) tally(model, key.deleted ? 'deleted twice' : "deleted another user's key")
      return
    }
    // An expired key is still the user's until the store drops it (Redis does, by its TTL).
    const expired = key.expiresOn <= model.now
    if (deleted === null && expired && model.dropsExpired) {
      key.deleted = true
      return
    }
    expect(deleted === null ? null : listed(deleted)).toEqual(listed(key))
    key.deleted = true
    expectEvent(model, { type: 'key.deleted', userId: user.id, keyId: key.id })
    tally(model, 'deleted a key')
  }
  toString = () =>
    `deleteKey(${this.user === 'owner' ? 'its owner' : `user${this.user}`}, by ${this.by}: ${describeKeyRef(this.ref)})`
}

function expectVerdict(
  actual: { ok: true; principal: Parameters<typeof expectPrincipal>[0] } | { ok: false; code: string },
  verdict: Verdict<string, unknown>,
  keyId: string | null,
  credential: 'api_key' | 'auth_token',
): void {
  if (!verdict.ok) {
    expect(actual.ok ? 'ok' : actual.code, `expected ${verdict.codes.join(' or ')}`).toBeOneOf([
      ...verdict.codes,
    ])
    return
  }
  expect(actual.ok ? 'ok' : actual.code).toBe('ok')
  if (actual.ok) expectPrincipal(actual.principal, verdict.user, keyId, credential)
}

export class VerifyKey implements Cmd {
  constructor(readonly ref: KeyRef) {}
  check = () => true
  async run(model: Model, real: Real) {
    const { raw } = resolveKey(model, this.ref)
    const verdict = keyVerdict(model, raw)
    const result = await real.engine.verifyKey(raw)
    expectVerdict(result, verdict, verdict.ok ? verdict.subject.id : null, 'api_key')
    if (verdict.ok) usedKey(model, verdict.subject)
    tally(model, `verifyKey: ${verdict.ok ? 'ok' : verdict.codes[0]}`)
  }
  toString = () => `verifyKey(${describeKeyRef(this.ref)})`
}

/**
 * The process restarts: a new engine on the same store. What the store holds (keys, sessions,
 * TOTP, failure counts) stays; what was in memory goes, a block included: the new instance learns
 * of it from its own next failure (SECURITY.md, "Guessing keys").
 */
export class Restart implements Cmd {
  check = () => true
  async run(model: Model, real: Real) {
    await real.engine.close()
    real.engine = real.startEngine()
    model.blockedUntil.clear()
    model.lastGuarded = undefined
    tally(model, 'restarted')
  }
  toString = () => 'restart()'
}

/** The host deletes a user, or brings one back: keyward asks the directory at every use. */
export class ToggleUser implements Cmd {
  constructor(readonly user: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    user.exists = !user.exists
    if (user.exists) {
      real.directory.set(user.id, {
        id: user.id,
        permissions: [...user.permissions],
        passkeyEnabled: user.passkeyEnabled,
      })
    } else real.directory.delete(user.id)
  }
  toString = () => `toggleUser(user${this.user})`
}
