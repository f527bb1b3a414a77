import { KeywardError } from '../errors.js'
import type { EventHook } from '../events.js'
import type { Clock } from '../lib/clock.js'
import { constantTimeEqual } from '../lib/secrets.js'
import type { Limited, RateLimiter } from '../limits/rate-limiter.js'
import { storeCall } from '../store/store-call.js'
import type { KeyStore, TotpAcceptance } from '../store/types.js'
import { type KeywardUser, validUserId } from '../users.js'
import { matchTotpStep, newTotpSecret, TOTP_DIGITS, totpUri } from './otp.js'
import { pendingExpired } from './pending.js'
import type { SecretBox, Unsealed } from './secret-box.js'

export interface TotpEnrollment {
  readonly otpauth_url: string
  /** Base32, for manual entry; shown once, stored only sealed. */
  readonly secret: string
}

const CODE_PATTERN = new RegExp(`^\\d{${TOTP_DIGITS}}$`)

const rateLimited = (limited: Limited) =>
  new KeywardError('RATE_LIMITED', 'Too many wrong codes. Please try again later', {
    retryAfter: limited.retryAfter,
  })

/** TOTP enrolment: a pending secret, confirmed by the first valid code within PENDING_TOTP_LIFETIME_MS. */
export class TotpService {
  constructor(
    private readonly store: KeyStore,
    private readonly box: SecretBox,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
    private readonly issuer: string,
    private readonly emit: EventHook | undefined,
  ) {}

  async enabled(userId: string): Promise<boolean> {
    validUserId(userId)
    const record = await storeCall(() => this.store.getTotp(userId))
    return record?.enabled === true
  }

  /**
   * A new pending secret. Refused while TOTP is enabled: replacing a second factor takes the host's
   * reset. Kept under `userId`, as every other TOTP call finds it, whatever id the directory's
   * `user` carries; `user` names it in the authenticator app.
   */
  async generate(userId: string, user: KeywardUser): Promise<TotpEnrollment> {
    validUserId(userId)
    const secret = newTotpSecret()
    const otpauthUrl = totpUri(this.issuer, user.email ?? user.displayName ?? userId, secret)
    const stored = await storeCall(() =>
      this.store.putPendingTotp({
        userId,
        sealedSecret: this.box.seal(secret, userId),
        enabled: false,
        lastStep: null,
        createdOn: new Date(this.clock()),
      }),
    )
    if (!stored) throw new KeywardError('TOTP_ALREADY_ENABLED', 'TOTP is already enabled for this user')
    return { otpauth_url: otpauthUrl, secret }
  }

  /** Checks a code; the first valid one enables TOTP. A code is accepted at most once. */
  async verify(userId: string, code: unknown, ip?: string): Promise<void> {
    validUserId(userId)
    if (typeof code !== 'string' || !CODE_PATTERN.test(code)) {
      throw new KeywardError('INVALID_INPUT', `code must be a string of ${TOTP_DIGITS} digits`, {
        field: 'code',
      })
    }
    const blocked = await this.limiter.totpBlocked(userId)
    if (blocked) throw rateLimited(blocked)
    const record = await storeCall(() => this.store.getTotp(userId))
    if (record === null)
      throw new KeywardError('TOTP_NOT_PENDING', 'No TOTP key to verify: generate one first')
    // By keyward's clock, whether or not the store has deleted it yet.
    if (pendingExpired(record, this.clock()))
      throw new KeywardError(
        'TOTP_NOT_PENDING',
        'The TOTP key expired, as no code confirmed it within 24 hours: generate a new one',
      )
    const opened = this.box.open(record.sealedSecret, userId)
    // A 500 that tells the client nothing; the operator reads this in the error event.
    if (opened === undefined)
      throw new Error(
        `keyward: the stored TOTP key of user ${userId} opens with no configured key: list the key that sealed it in totp.previousEncryptionKeys (a key derived from an earlier jwtSecret: that secret in previousJwtSecrets), or reset the user's TOTP`,
      )
    // Counted before the code is checked, so concurrent requests cannot all pass one check.
    const refused = await this.limiter.totpAttempt(userId)
    if (refused) throw rateLimited(refused)
    const now = this.clock()
    const secret = opened.plaintext
    const step = await matchTotpStep(secret, code, Math.floor(now / 1000), record.lastStep)
    const acceptance =
      step === undefined ? 'refused' : await this.#accept(userId, record.sealedSecret, secret, step, opened)
    if (acceptance === 'refused') {
      this.emit?.({
        type: 'auth.failed',
        at: new Date(now),
        code: 'INVALID_TOTP_CODE',
        ip,
        userId,
      })
      throw new KeywardError('INVALID_TOTP_CODE', 'The code is wrong, expired or already used')
    }
    // Told by the one request whose step enabled it (the store says which, as simultaneous codes
    // all read it pending), and before the count is reset: a reset that fails (a 503) would
    // otherwise leave the change untold for good (every later code finds it enabled).
    if (acceptance === 'enabled') this.emit?.({ type: 'totp.enabled', at: new Date(now), userId })
    await this.limiter.totpSucceeded(userId)
  }

  /**
   * Accepts the step for the secret the code matched, as it was sealed when read: a second
   * generate may have replaced it meanwhile. What a previous key sealed is sealed again with the
   * current one in the same write, so that the previous key is needed only until each enrolment's
   * next accepted code. That write changes the sealed form of the same secret, which refuses a
   * simultaneous code of another step: so a refusal of a secret a previous key sealed is tried
   * once more against the record as it is now, if that holds the same secret.
   */
  async #accept(
    userId: string,
    sealedSecret: string,
    secret: string,
    step: number,
    opened: Unsealed,
  ): Promise<TotpAcceptance> {
    const resealed = opened.byPreviousKey ? this.box.seal(secret, userId) : undefined
    const acceptance = await storeCall(() => this.store.acceptTotpStep(userId, sealedSecret, step, resealed))
    if (acceptance !== 'refused' || !opened.byPreviousKey) return acceptance
    const current = await storeCall(() => this.store.getTotp(userId))
    if (current === null || current.sealedSecret === sealedSecret) return 'refused'
    const reopened = this.box.open(current.sealedSecret, userId)
    if (reopened === undefined || !constantTimeEqual(reopened.plaintext, secret)) return 'refused'
    // The store still accepts only a step past the last one accepted: a replay stays refused.
    return storeCall(() => this.store.acceptTotpStep(userId, current.sealedSecret, step))
  }

  async reset(userId: string): Promise<void> {
    validUserId(userId)
    await storeCall(() => this.store.deleteTotp(userId))
    this.emit?.({ type: 'totp.reset', at: new Date(this.clock()), userId })
  }
}
