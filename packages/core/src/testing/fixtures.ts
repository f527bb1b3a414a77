/** Records and names the suite builds its cases from, each unique so tests can share one store. */
import { randomUUID } from 'node:crypto'
import { sha256Hex } from '../lib/secrets.js'
import type { ApiKeyRecord, RefreshTokenRecord } from '../store/types.js'

export const DAY = 86_400_000
let sequence = 0
export const uniqueUser = () => `user-${randomUUID()}`

/**
 * Sample keys are created a millisecond apart in the order they are made, so a listing by
 * creation time has one right answer; from a day before the suite loaded, so none is created
 * ahead of a store's clock.
 */
const CREATED_FROM = Date.now() - DAY

/**
 * A well-formed key record (random id and digest) for a store's own tests. It expires three
 * months after it is made, not on a fixed date, so a store that drops expired keys keeps it
 * whenever the suite runs.
 */
export function sampleKeyRecord(userId: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  sequence += 1
  const secret = `${randomUUID()}${sequence}`
  return {
    id: randomUUID(),
    userId,
    name: `key ${sequence}`,
    digest: sha256Hex(secret),
    preview: `ms-…${String(sequence).padStart(4, '0').slice(-4)}`,
    createdOn: new Date(CREATED_FROM + sequence),
    expiresOn: new Date(Date.now() + 90 * DAY),
    lastUsedOn: null,
    ...overrides,
  }
}

export function refreshRecord(
  userId: string,
  overrides: Partial<RefreshTokenRecord> = {},
): RefreshTokenRecord {
  return {
    digest: sha256Hex(randomUUID()),
    familyId: randomUUID(),
    userId,
    keyId: null,
    createdOn: new Date(),
    expiresOn: new Date(Date.now() + 30 * DAY),
    ...overrides,
  }
}

/** A pending TOTP enrolment, as keyward stores one before its first code. */
export const pendingTotp = (
  userId: string,
  sealedSecret = 'v1.sealed',
  createdOn = new Date('2026-11-22T00:00:00.000Z'),
) => ({
  userId,
  sealedSecret,
  enabled: false,
  lastStep: null,
  createdOn,
})

export const next = (at = Date.now()) => ({
  digest: sha256Hex(randomUUID()),
  createdOn: new Date(at),
  expiresOn: new Date(at + 30 * DAY),
})
