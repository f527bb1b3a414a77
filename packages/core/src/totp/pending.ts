import type { TotpRecord } from '../store/types.js'

/**
 * How long a pending enrolment (a secret generated, no code yet confirmed it) is kept: a day to
 * scan it and send a code. Past it, verifyTotp refuses it as though there were none, and the store
 * deletes it (pruneExpired, or Redis's TTL): a user who starts enrolment and never finishes would
 * otherwise hold a record for good. Not an option: no host needs another day, and a store needs
 * the same number as keyward.
 */
export const PENDING_TOTP_LIFETIME_MS = 24 * 60 * 60 * 1000

/** A pending enrolment at least its lifetime old at `now` (epoch ms). An enabled one never expires. */
export const pendingExpired = (record: TotpRecord, now: number): boolean =>
  !record.enabled && now - record.createdOn.getTime() >= PENDING_TOTP_LIFETIME_MS
