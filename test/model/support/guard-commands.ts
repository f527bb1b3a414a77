/**
 * The guard's commands: `authenticate` and `guard` (the full path) and `admitFromMemory` (the warm
 * path), with an API key or an auth token.
 */
import type { GuardRequest, HttpResponse, Principal } from '@keyward/core'
import { expect } from 'vitest'
import {
  addressBlocked,
  addressFailed,
  failedEvent,
  type GuardedRequest,
  keyVerdict,
  type Model,
  type ModelKey,
  type ModelUser,
  type Owner,
  tally,
  tokenVerdict,
} from './model.js'
import {
  describeKeyRef,
  describeTokenRef,
  type KeyRef,
  resolveKey,
  resolveToken,
  type TokenRef,
} from './refs.js'
import { type Cmd, expectPrincipal, ipAt, type Real, usedKey } from './run.js'

export type Credential =
  | { readonly kind: 'key'; readonly ref: KeyRef; readonly via: 'x-api-key' | 'bearer' }
  | { readonly kind: 'token'; readonly ref: TokenRef }

const describeCredential = (credential: Credential) =>
  credential.kind === 'key'
    ? `${credential.via} key ${describeKeyRef(credential.ref)}`
    : `bearer token ${describeTokenRef(credential.ref)}`

/** The raw value and the header that carries it. */
function credentialHeader(model: Model, credential: Credential): Omit<GuardedRequest, 'socket'> {
  const raw =
    credential.kind === 'key'
      ? resolveKey(model, credential.ref).raw
      : resolveToken(model, credential.ref).raw
  const viaKeyHeader = credential.kind === 'key' && credential.via === 'x-api-key'
  return viaKeyHeader
    ? { raw, asKey: true, name: 'x-api-key', value: raw }
    : // As the guard reads a bearer value: a key unless it looks like a token.
      {
        raw,
        asKey: raw.startsWith('ms-') || !(raw.includes('.') || raw.startsWith('rt_')),
        name: 'authorization',
        value: `Bearer ${raw}`,
      }
}

type GuardVerdict =
  | { readonly ok: true; readonly user: ModelUser; readonly keyId: string | null; readonly key?: ModelKey }
  /** `key`: a valid key refused for a permission (a 403 is still a use of the key). */
  | { readonly ok: false; readonly codes: readonly string[]; readonly key?: ModelKey; readonly owner?: Owner }

/** What the full guard answers, without what it changes (counts, last use). */
function guardVerdict(
  model: Model,
  raw: string,
  asKey: boolean,
  permissions: readonly string[] | undefined,
): GuardVerdict {
  if (asKey) {
    const verdict = keyVerdict(model, raw)
    if (!verdict.ok) return verdict
    if (permissions?.some((permission) => !verdict.user.permissions.includes(permission)))
      return { ok: false, codes: ['FORBIDDEN'], key: verdict.subject }
    return { ok: true, user: verdict.user, keyId: verdict.subject.id, key: verdict.subject }
  }
  const verdict = tokenVerdict(model, raw)
  if (!verdict.ok) return verdict
  if (permissions?.some((permission) => !verdict.user.permissions.includes(permission)))
    return { ok: false, codes: ['FORBIDDEN'] }
  return { ok: true, user: verdict.user, keyId: verdict.subject.keyId }
}

/** The answer the guard's caller sees: ok, or a failure's code (with its owner, for `authenticate`). */
interface GuardAnswer {
  readonly code: string
  readonly principal?: Principal
  readonly owner?: { readonly userId: string | undefined; readonly keyId: string | undefined }
  /** For `guard`: the response to check against the failure's presentation. */
  readonly response?: HttpResponse
}

/** How `guard` presents each failure (packages/core/src/http/failures.ts, one table). */
function expectResponse(response: HttpResponse, code: string, asKey: boolean, retryAfter: number): void {
  const body = response.body as { error?: unknown }
  if (code === 'MALFORMED_HEADER')
    return void expect([response.status, body.error]).toEqual([400, 'Bad request'])
  if (code === 'FORBIDDEN') return void expect(response.status).toBe(403)
  if (code === 'RATE_LIMITED') {
    expect([response.status, response.headers['retry-after']]).toEqual([429, String(retryAfter)])
    return
  }
  expect([response.status, body.error]).toEqual([401, asKey ? 'Invalid API key' : 'Invalid auth token'])
  expect(response.headers['www-authenticate']).toBeDefined()
}

export class Guard implements Cmd {
  constructor(
    readonly credential: Credential,
    readonly socket: number | undefined,
    readonly ip: number | undefined,
    readonly permissions: readonly string[] | undefined,
    /** `authenticate` (a typed result) or `guard` (the HTTP response an adapter sends). */
    readonly api: 'authenticate' | 'guard',
  ) {}
  check = () => true

  async #ask(real: Real, request: GuardRequest): Promise<GuardAnswer> {
    const options = this.permissions === undefined ? undefined : { permissions: this.permissions }
    if (this.api === 'authenticate') {
      const result = await real.engine.authenticate(request, options)
      if (result.ok) return { code: 'ok', principal: result.principal }
      const { code, userId, keyId } = result.failure
      return { code, owner: { userId, keyId } }
    }
    const outcome = await real.engine.guard(request, options)
    if (outcome.ok) return { code: 'ok', principal: outcome.auth }
    // The response does not say which failure it was: the audit event does (and is checked too).
    const failed = real.events.find((event) => event.type === 'auth.failed')
    const code =
      failed?.type === 'auth.failed'
        ? failed.code
        : (({ 400: 'MALFORMED_HEADER', 403: 'FORBIDDEN', 429: 'RATE_LIMITED' } as Record<number, string>)[
            outcome.response.status
          ] ?? `HTTP ${outcome.response.status}`)
    return { code, response: outcome.response }
  }

  async run(model: Model, real: Real) {
    const { raw, asKey, name, value } = credentialHeader(model, this.credential)
    const ip = ipAt(model, this.ip)
    const socket = this.socket === undefined ? undefined : real.sockets[this.socket % real.sockets.length]
    // A request on a connection with no address is limited in one group (SECURITY.md, "Trusted proxies").
    const address = ip ?? (socket === undefined ? undefined : 'unresolved')
    // Whole seconds until the block ends, at least 1 (Retry-After).
    const blockedUntil = address === undefined ? undefined : model.blockedUntil.get(address)
    const retryAfter = Math.max(1, Math.ceil(((blockedUntil ?? model.now) - model.now) / 1000))
    const answer = await this.#ask(real, { headers: { [name]: value }, ip, socket })
    model.lastGuarded = { raw, asKey, name, value, socket: this.socket }
    const actual = answer.code
    const presented = (code: string) => {
      if (answer.response !== undefined) expectResponse(answer.response, code, asKey, retryAfter)
    }
    if (raw === '') {
      expect(actual).toBe('MALFORMED_HEADER')
      return presented('MALFORMED_HEADER')
    }
    if (addressBlocked(model, address)) {
      tally(model, 'guard: address blocked')
      expect(actual).toBe('RATE_LIMITED')
      return presented('RATE_LIMITED')
    }
    const verdict = guardVerdict(model, raw, asKey, this.permissions)
    tally(model, `guard ${asKey ? 'key' : 'token'}: ${verdict.ok ? 'ok' : verdict.codes[0]}`)
    if (!verdict.ok) {
      expect(actual, `expected ${verdict.codes.join(' or ')}`).toBeOneOf([...verdict.codes])
      presented(actual)
      // A 403 is a use of a valid key, and no failed attempt.
      if (verdict.codes[0] === 'FORBIDDEN') {
        if (verdict.key !== undefined) usedKey(model, verdict.key)
        return
      }
      addressFailed(model, address)
      const owner = actual === 'NOT_FOUND' ? undefined : verdict.owner
      failedEvent(model, actual, address, owner)
      // authenticate names the owner in its failure too.
      if (answer.owner !== undefined)
        expect(answer.owner).toEqual({ userId: owner?.userId, keyId: owner?.keyId ?? undefined })
      return
    }
    expect(actual).toBe('ok')
    if (answer.principal !== undefined)
      expectPrincipal(answer.principal, verdict.user, verdict.keyId, asKey ? 'api_key' : 'auth_token')
    if (verdict.key !== undefined) usedKey(model, verdict.key)
  }
  toString = () =>
    `${this.api}(${describeCredential(this.credential)}, socket ${this.socket ?? '-'}, ip ${this.ip ?? '-'}, needs ${JSON.stringify(this.permissions ?? [])})`
}

/** The warm path admits only what the full guard would, with the same principal; it may always decline. */
export class AdmitFromMemory implements Cmd {
  constructor(
    /** null: the guard's last request again, on the same connection (a keep-alive client's next). */
    readonly credential: Credential | null,
    readonly socket: number | undefined,
    readonly permissions: readonly string[] | undefined,
  ) {}
  check = () => true
  async run(model: Model, real: Real) {
    const request =
      this.credential === null
        ? model.lastGuarded
        : { ...credentialHeader(model, this.credential), socket: this.socket }
    if (request === undefined) return
    const { raw, asKey, name, value } = request
    const socket =
      request.socket === undefined ? null : (real.sockets[request.socket % real.sockets.length] ?? null)
    const rawName = name === 'x-api-key' ? 'X-Api-Key' : 'Authorization'
    const principal = real.engine.admitFromMemory(
      { headers: { [name]: value }, rawHeaders: [rawName, value], socket },
      this.permissions === undefined ? undefined : { permissions: this.permissions },
    )
    if (principal === undefined) return
    tally(model, `admitted from memory (${asKey ? 'key' : 'token'})`)
    const verdict = guardVerdict(model, raw, asKey, this.permissions)
    expect(verdict.ok ? 'ok' : verdict.codes[0], 'admitted from memory').toBe('ok')
    const blocked = [...model.blockedUntil.values()].some((until) => until > model.now)
    expect(blocked, 'admitted from memory while an address is blocked').toBe(false)
    if (!verdict.ok) return
    expectPrincipal(principal, verdict.user, verdict.keyId, asKey ? 'api_key' : 'auth_token')
    if (verdict.key !== undefined) usedKey(model, verdict.key)
  }
  toString = () =>
    `admitFromMemory(${this.credential === null ? 'the last request again' : `${describeCredential(this.credential)}, socket ${this.socket ?? '-'}`}, needs ${JSON.stringify(this.permissions ?? [])})`
}
