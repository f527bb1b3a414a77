/**
 * Sessions and second factors: the key-for-tokens exchange, the host's login, refresh and its
 * reuse, TOTP enrolment.
 */
import { expect } from 'vitest'
import { totpCode } from '../../contract/support/totp.js'
import {
  addressBlocked,
  addressFailed,
  expectEvent,
  failedEvent,
  keyVerdict,
  LIMITS,
  type Model,
  refreshInModel,
  tally,
  totpAccepts,
  totpStep,
} from './model.js'
import {
  describeKeyRef,
  describeRefreshRef,
  type KeyRef,
  type RefreshRef,
  resolveKey,
  resolveRefresh,
} from './refs.js'
import { type Cmd, expectRefused, ipAt, outcome, type Real, tookPair, usedKey, userAt } from './run.js'

export class ExchangeKey implements Cmd {
  constructor(
    readonly ref: KeyRef,
    readonly ip: number | undefined,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const { raw } = resolveKey(model, this.ref)
    const ip = ipAt(model, this.ip)
    const result = await outcome(() => real.engine.authenticateWithApiKey(raw, { ip }))
    if (addressBlocked(model, ip)) return expectRefused(result, ['RATE_LIMITED'])
    const verdict = keyVerdict(model, raw)
    if (!verdict.ok) {
      addressFailed(model, ip)
      expectRefused(result, verdict.codes)
      const code = result.ok ? 'ok' : result.code
      return failedEvent(model, code, ip, code === 'NOT_FOUND' ? undefined : verdict.owner)
    }
    expect(result.ok ? 'ok' : result.code).toBe('ok')
    if (!result.ok) return
    const { user, subject: key } = verdict
    usedKey(model, key)
    expectEvent(model, { type: 'token.issued', userId: user.id, keyId: key.id })
    expect(result.value.passkey_enabled).toBe(user.passkeyEnabled)
    expect(result.value.totp_enabled).toBe(model.totp.get(user.id)?.enabled === true)
    tookPair(model, result.value, { userId: user.id, keyId: key.id, start: model.now, revoked: false })
    tally(model, 'exchanged a key')
  }
  toString = () => `authenticateWithApiKey(${describeKeyRef(this.ref)}, ip ${this.ip ?? '-'})`
}

export class IssueTokens implements Cmd {
  constructor(readonly user: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    const result = await outcome(() => real.engine.issueTokens(user.id))
    if (!user.exists) return expectRefused(result, ['USER_GONE'])
    expect(result.ok ? 'ok' : result.code).toBe('ok')
    if (!result.ok) return
    tookPair(model, result.value, { userId: user.id, keyId: null, start: model.now, revoked: false })
    expectEvent(model, { type: 'token.issued', userId: user.id, keyId: null })
  }
  toString = () => `issueTokens(user${this.user})`
}

export class RefreshTokens implements Cmd {
  constructor(
    readonly ref: RefreshRef,
    readonly ip: number | undefined,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const raw = resolveRefresh(model, this.ref)
    const ip = ipAt(model, this.ip)
    const result = await outcome(() => real.engine.refreshTokens(raw, { ip }))
    const expected = refreshInModel(model, raw, ip)
    tally(model, `refresh: ${expected.ok ? 'rotated' : expected.code}`)
    if (!expected.ok) return expectRefused(result, [expected.code])
    expect(result.ok ? 'ok' : result.code).toBe('ok')
    if (result.ok) tookPair(model, result.value, expected.token.family)
  }
  toString = () => `refreshTokens(${describeRefreshRef(this.ref)}, ip ${this.ip ?? '-'})`
}

export class GenerateTotp implements Cmd {
  constructor(readonly user: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    const result = await outcome(() => real.engine.generateTotpKey(user.id))
    if (!user.exists) return expectRefused(result, ['USER_GONE'])
    if (model.totp.get(user.id)?.enabled) return expectRefused(result, ['TOTP_ALREADY_ENABLED'])
    expect(result.ok ? 'ok' : result.code).toBe('ok')
    if (result.ok) model.totp.set(user.id, { secret: result.value.secret, enabled: false, lastStep: null })
  }
  toString = () => `generateTotpKey(user${this.user})`
}

export class VerifyTotp implements Cmd {
  constructor(
    readonly user: number,
    /** The code's step from now's, or null for a code of the wrong shape. */
    readonly offset: number | null,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    const record = model.totp.get(user.id)
    const step = totpStep(model.now) + (this.offset ?? 0)
    const secret = record?.secret ?? 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
    const codeOf = (at: number) => totpCode(secret, at * LIMITS.totpPeriodMs)
    const code = this.offset === null ? '12345' : await codeOf(step)
    // Six digits collide: a code of another step that equals one of the window's would be taken
    // as that one (about one draw in 300,000). Such a draw is skipped, never a flaky run.
    if (this.offset !== null && this.offset !== 0) {
      const now = totpStep(model.now)
      const window = await Promise.all([now - 1, now, now + 1].filter((at) => at !== step).map(codeOf))
      if (window.includes(code)) {
        tally(model, 'totp: colliding code skipped')
        return
      }
    }
    const result = await outcome(() => real.engine.verifyTotp(user.id, code))
    if (this.offset === null) return expectRefused(result, ['INVALID_INPUT'])
    if (record === undefined) return expectRefused(result, ['TOTP_NOT_PENDING'])
    if (!totpAccepts(model, record, step)) {
      tally(model, 'totp: code refused')
      failedEvent(model, 'INVALID_TOTP_CODE', undefined, { userId: user.id, keyId: null })
      return expectRefused(result, ['INVALID_TOTP_CODE'])
    }
    expect(result.ok ? 'ok' : result.code).toBe('ok')
    if (!record.enabled) expectEvent(model, { type: 'totp.enabled', userId: user.id })
    record.enabled = true
    record.lastStep = step
    tally(model, 'totp: code accepted')
  }
  toString = () =>
    `verifyTotp(user${this.user}, ${this.offset === null ? 'malformed' : `step ${this.offset}`})`
}

export class TotpEnabled implements Cmd {
  constructor(readonly user: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    expect(await real.engine.totpEnabled(user.id)).toBe(model.totp.get(user.id)?.enabled === true)
  }
  toString = () => `totpEnabled(user${this.user})`
}

export class ResetTotp implements Cmd {
  constructor(readonly user: number) {}
  check = () => true
  async run(model: Model, real: Real) {
    const user = userAt(model, this.user)
    await real.engine.resetTotp(user.id)
    model.totp.delete(user.id)
    expectEvent(model, { type: 'totp.reset', userId: user.id })
  }
  toString = () => `resetTotp(user${this.user})`
}
