/**
 * The reference model of the engine: a plain description, in memory, of what keyward promises
 * (packages/core/README.md, the root README's defaults, the doc comments of `Keyward` and
 * `KeyStore`), for the configuration below. Every lifetime is short, so that the commands reach
 * each expiry by moving the injected clock.
 */
import type { KeywardOptions } from '@keyward/core'

export const LIMITS = {
  keyLifetimeMs: 120_000,
  authTokenLifetimeMs: 10_000,
  refreshLifetimeMs: 60_000,
  // Shorter than a key's life, so that a session started from a key can reach its end.
  sessionLifetimeMs: 90_000,
  cacheTtlMs: 5_000,
  maxKeys: 3,
  addressMax: 3,
  addressWindowMs: 60_000,
  totpPeriodMs: 30_000,
} as const

/** The engine's options for LIMITS (everything but the store, users and clock). */
export const LIMITED_OPTIONS = {
  keyLifetime: '2m',
  authTokenLifetime: '10s',
  refreshTokenLifetime: '1m',
  sessionLifetime: '90s',
  // A tiny cache, so that eviction (and the tombstones' own eviction) is reached too.
  cache: { max: 3, ttl: '5s' },
  maxKeysPerUser: LIMITS.maxKeys,
  rateLimit: {
    perAddress: { max: LIMITS.addressMax, window: '1m' },
    perAccount: false,
    // High enough that no run reaches the TOTP delays: they are not modelled.
    totp: { max: 1_000 },
  },
} as const satisfies Partial<KeywardOptions>

export const PERMISSIONS = [['read', 'admin'], ['read'], ['read']] as const

export interface ModelUser {
  readonly id: string
  readonly permissions: readonly string[]
  readonly passkeyEnabled: boolean
  /** Whether the host's directory answers this user (a user deleted by the host is not). */
  exists: boolean
}

export interface ModelKey {
  readonly id: string
  readonly raw: string
  readonly userId: string
  readonly name: string
  readonly createdOn: number
  readonly expiresOn: number
  deleted: boolean
  /** The last use keyward saw: a successful verification, a 403 included. */
  lastUsedOn: number | null
}

export interface ModelFamily {
  readonly userId: string
  readonly keyId: string | null
  readonly start: number
  revoked: boolean
}

export interface ModelRefreshToken {
  readonly raw: string
  readonly family: ModelFamily
  readonly expiresOn: number
  spent: boolean
}

export interface ModelAuthToken {
  readonly raw: string
  readonly userId: string
  readonly keyId: string | null
  /** `exp` in ms: whole seconds, never past issue + lifetime. */
  readonly expiresAt: number
}

export interface ModelTotp {
  readonly secret: string
  enabled: boolean
  lastStep: number | null
}

export interface GuardedRequest {
  readonly raw: string
  /** Whether the guard reads the value as an API key (else as an auth token). */
  readonly asKey: boolean
  readonly name: 'x-api-key' | 'authorization'
  readonly value: string
  readonly socket: number | undefined
}

export interface Model {
  now: number
  /** Redis drops an expired key by its own TTL: it may then answer NOT_FOUND for EXPIRED (documented). */
  readonly dropsExpired: boolean
  readonly users: ModelUser[]
  readonly ips: readonly string[]
  readonly keys: ModelKey[]
  readonly refreshTokens: ModelRefreshToken[]
  readonly authTokens: ModelAuthToken[]
  readonly totp: Map<string, ModelTotp>
  /** Failed attempts per address: a fixed window from the first failure. */
  readonly counters: Map<string, { count: number; resetAt: number }>
  readonly blockedUntil: Map<string, number>
  /** The guard's last request, which the warm path may be asked again as a keep-alive client would. */
  lastGuarded?: GuardedRequest
  /** The audit events the current command must emit (`at` is the model's now unless given). */
  readonly expectedEvents: Array<Record<string, unknown>>
  /** What the run exercised, for the suite's log. */
  readonly seen: Map<string, number>
}

export function expectEvent(model: Model, event: Record<string, unknown>): void {
  model.expectedEvents.push({ at: model.now, ...event })
}

/** `auth.failed`, naming the owner where keyward knows it. */
export const failedEvent = (model: Model, code: string, ip: string | undefined, owner?: Owner): void =>
  expectEvent(model, {
    type: 'auth.failed',
    code,
    ip,
    ...(owner && { userId: owner.userId }),
    ...(owner?.keyId != null && { keyId: owner.keyId }),
  })

export const tally = (model: Model, what: string) => model.seen.set(what, (model.seen.get(what) ?? 0) + 1)

export type KeyFailure = 'MALFORMED' | 'NOT_FOUND' | 'EXPIRED' | 'USER_GONE'
export type TokenFailure = 'INVALID_TOKEN' | 'TOKEN_EXPIRED' | 'USER_GONE'

/** Whose credential was refused, where keyward knows it (the `auth.failed` event names them). */
export interface Owner {
  readonly userId: string
  readonly keyId: string | null
}

/**
 * What a check must answer: `codes` lists every answer allowed (the first is the usual one);
 * `owner` is named in the failure, unless the answer is NOT_FOUND (a key the store dropped).
 */
export type Verdict<Code extends string, Subject> =
  | { readonly ok: true; readonly subject: Subject; readonly user: ModelUser }
  | { readonly ok: false; readonly codes: readonly Code[]; readonly owner?: Owner }

const KEY_SHAPE = /^ms-[0-9a-f]{32}$/

export const userOf = (model: Model, userId: string): ModelUser | undefined =>
  model.users.find((user) => user.id === userId)

export const keyById = (model: Model, id: string): ModelKey | undefined =>
  model.keys.find((key) => key.id === id)

const ownerOf = (key: ModelKey): Owner => ({ userId: key.userId, keyId: key.id })

export const isLive = (model: Model, key: ModelKey): boolean => !key.deleted && key.expiresOn > model.now

/** verifyKey's answer for a raw key. */
export function keyVerdict(model: Model, raw: string): Verdict<KeyFailure, ModelKey> {
  if (!KEY_SHAPE.test(raw)) return { ok: false, codes: ['MALFORMED'] }
  const key = model.keys.find((candidate) => candidate.raw === raw)
  if (key === undefined || key.deleted) return { ok: false, codes: ['NOT_FOUND'] }
  if (key.expiresOn <= model.now)
    return {
      ok: false,
      codes: model.dropsExpired ? ['EXPIRED', 'NOT_FOUND'] : ['EXPIRED'],
      owner: ownerOf(key),
    }
  const user = userOf(model, key.userId)
  if (user === undefined || !user.exists) return { ok: false, codes: ['USER_GONE'], owner: ownerOf(key) }
  return { ok: true, subject: key, user }
}

/** The guard's answer for an auth token: its expiry first, then its key's life, then its user. */
export function tokenVerdict(model: Model, raw: string): Verdict<TokenFailure, ModelAuthToken> {
  const token = model.authTokens.find((candidate) => candidate.raw === raw)
  if (token === undefined) return { ok: false, codes: ['INVALID_TOKEN'] }
  if (model.now >= token.expiresAt) return { ok: false, codes: ['TOKEN_EXPIRED'] }
  if (token.keyId !== null) {
    const key = keyById(model, token.keyId)
    if (key === undefined || !isLive(model, key)) return { ok: false, codes: ['INVALID_TOKEN'], owner: token }
  }
  const user = userOf(model, token.userId)
  if (user === undefined || !user.exists) return { ok: false, codes: ['USER_GONE'], owner: token }
  return { ok: true, subject: token, user }
}

/** The user's unexpired keys, oldest first (ties by id), as listKeys answers them. */
export const liveKeysOf = (model: Model, userId: string): ModelKey[] =>
  model.keys
    .filter((key) => key.userId === userId && isLive(model, key))
    .sort((a, b) => a.createdOn - b.createdOn || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

export const addressBlocked = (model: Model, ip: string | undefined): boolean =>
  ip !== undefined && (model.blockedUntil.get(ip) ?? 0) > model.now

/** One failed attempt from an address; the max-th in a window blocks it until the window ends. */
export function addressFailed(model: Model, ip: string | undefined): void {
  if (ip === undefined) return
  let counter = model.counters.get(ip)
  if (counter === undefined || counter.resetAt <= model.now) {
    counter = { count: 0, resetAt: model.now + LIMITS.addressWindowMs }
    model.counters.set(ip, counter)
  }
  counter.count += 1
  if (counter.count >= LIMITS.addressMax) {
    model.blockedUntil.set(ip, counter.resetAt)
    tally(model, 'address blocked')
  }
}

export const sessionEndOf = (family: ModelFamily): number => family.start + LIMITS.sessionLifetimeMs

export const authTokenExpiry = (now: number): number =>
  Math.floor((now + LIMITS.authTokenLifetimeMs) / 1000) * 1000

/** A new refresh token of a family, made now: it never outlives its session. */
export function refreshTokenOf(model: Model, raw: string, family: ModelFamily): ModelRefreshToken {
  const sessionEnd = sessionEndOf(family)
  if (sessionEnd < model.now + LIMITS.refreshLifetimeMs)
    tally(model, 'refresh token cut short by its session')
  const token = {
    raw,
    family,
    expiresOn: Math.min(model.now + LIMITS.refreshLifetimeMs, sessionEnd),
    spent: false,
  }
  model.refreshTokens.push(token)
  return token
}

export type RefreshOutcome =
  | { readonly ok: true; readonly token: ModelRefreshToken }
  | {
      readonly ok: false
      readonly code: 'INVALID_REFRESH_TOKEN' | 'REFRESH_TOKEN_REUSED' | 'RATE_LIMITED'
      /** Named when the store still held the token: keyward then knows whose it was. */
      readonly owner?: Owner
    }

const REFRESH_SHAPE = /^rt_[A-Za-z0-9_-]{43}$/

/**
 * refreshTokens, in the model: what it answers and what it changes. A token whose key or user is
 * gone ends its family (presented again it is invalid, not a reuse); a spent token presented again
 * ends its family and says so; every refusal counts against the address.
 */
export function refreshInModel(model: Model, raw: string, ip: string | undefined): RefreshOutcome {
  if (addressBlocked(model, ip)) return { ok: false, code: 'RATE_LIMITED' }
  const refuse = (code: 'INVALID_REFRESH_TOKEN' | 'REFRESH_TOKEN_REUSED', owner?: Owner): RefreshOutcome => {
    addressFailed(model, ip)
    failedEvent(model, code, ip, owner)
    return owner === undefined ? { ok: false, code } : { ok: false, code, owner }
  }
  if (!REFRESH_SHAPE.test(raw)) return refuse('INVALID_REFRESH_TOKEN')
  const token = model.refreshTokens.find((candidate) => candidate.raw === raw)
  const invalid =
    token === undefined
      ? 'unknown'
      : token.family.revoked
        ? 'revoked'
        : token.expiresOn <= model.now
          ? 'expired'
          : undefined
  if (invalid !== undefined || token === undefined) {
    tally(model, `refresh: ${invalid} token`)
    return refuse('INVALID_REFRESH_TOKEN')
  }
  const { family } = token
  if (sessionEndOf(family) <= model.now) return refuse('INVALID_REFRESH_TOKEN', family)
  const key = family.keyId === null ? undefined : keyById(model, family.keyId)
  const keyGone = family.keyId !== null && (key === undefined || !isLive(model, key))
  if (keyGone || !userOf(model, family.userId)?.exists) {
    family.revoked = true
    tally(model, 'refresh: family ended with its key or user')
    return refuse('INVALID_REFRESH_TOKEN', family)
  }
  if (token.spent) {
    family.revoked = true
    tally(model, 'refresh: reuse revoked a family')
    return refuse('REFRESH_TOKEN_REUSED', family)
  }
  token.spent = true
  expectEvent(model, { type: 'token.refreshed', userId: family.userId, keyId: family.keyId })
  return { ok: true, token }
}

export const totpStep = (now: number): number => Math.floor(now / LIMITS.totpPeriodMs)

/** Whether a code of `step` is accepted now: within a step of now, and after the last accepted. */
export const totpAccepts = (model: Model, record: ModelTotp, step: number): boolean =>
  Math.abs(step - totpStep(model.now)) <= 1 && (record.lastStep === null || step > record.lastStep)

/** Instants where something changes: each expiry the model knows, and the next TOTP step. */
export function edges(model: Model): number[] {
  const instants = [
    ...model.keys.map((key) => key.expiresOn),
    ...model.authTokens.map((token) => token.expiresAt),
    ...model.refreshTokens.map((token) => token.expiresOn),
    ...model.refreshTokens.map((token) => sessionEndOf(token.family)),
    ...model.blockedUntil.values(),
    (totpStep(model.now) + 1) * LIMITS.totpPeriodMs,
  ]
  return [...new Set(instants)].sort((a, b) => a - b)
}
