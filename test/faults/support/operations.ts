/**
 * Every operation the Nth-call sweep faults: keyward's routes, the guard and the host's calls.
 * Each names the store calls it makes when the store is healthy (on a cold cache), what it answers
 * then, and what must hold once the store answers again after its call N failed.
 */
import type { HttpRequest, HttpResponse, KeyStore, Keyward, KeywardEvent } from '@keyward/core'
import { expect } from 'vitest'
import { totpCode } from '../../contract/support/totp.js'
import type { FaultMode, FaultyStore, StoreCall, StoreMethod } from './faulty-store.js'

/** One run of one operation against a fresh user, address and keyward instance. */
export interface Ctx {
  /** The real store, read to prove what was left behind. */
  readonly raw: KeyStore
  readonly faulty: FaultyStore
  readonly clock: { now: number }
  readonly user: string
  readonly ip: string
  /** A healthy instance on the real store, with a cache of its own: fixtures and checks. */
  readonly host: Keyward
  /** The instance under test, on the faulty store, its caches cold. */
  readonly kw: Keyward
  /** What `kw` emitted. */
  readonly events: KeywardEvent[]
  /** Every key, token and TOTP secret seen: none may reach a failed answer, an event or the store. */
  readonly secrets: string[]
}

export interface Fault {
  readonly n: number
  readonly mode: FaultMode
  readonly call: StoreCall
  /** Every call of the failed run (with those made after call N). */
  readonly calls: readonly StoreCall[]
}

/** How the operation tells of a store failure. */
export type Closed =
  /** A 503 response (a route), with an `error` event during `request`. */
  | 'response'
  /** `guard`: `{ ok: false, response }`, the 503 response, with an `error` event. */
  | 'guard'
  /** Throws a StoreUnavailableError, and emits nothing (the host is told by the throw). */
  | 'throws'
  /** Rejects with the store's error (flushUsage). */
  | 'rejects'
  /** Resolves, with an `error` event during `last-used` (close). */
  | 'reported'

// biome-ignore lint/suspicious/noExplicitAny: each operation's fixture is its own.
export interface Operation<F = any> {
  readonly name: string
  readonly calls: readonly StoreMethod[]
  readonly closed: Closed
  /** Calls whose failure does not change the answer (a failed attempt is counted in the process instead). */
  readonly fallsBack?: readonly number[]
  setup(ctx: Ctx): Promise<F>
  run(ctx: Ctx, fixture: F): Promise<unknown>
  /** The answer with a healthy store. */
  ok(answer: unknown, ctx: Ctx, fixture: F): void
  /** What must hold once the store works again after `fault` failed the run. */
  after(ctx: Ctx, fixture: F, fault: Fault): Promise<void>
}

const ROUTE_BASE = '/accounts'

export function request(
  ctx: Ctx,
  method: string,
  path: string,
  options: { apiKey?: string; body?: unknown; query?: Record<string, string> } = {},
): HttpRequest {
  return {
    method,
    path: `${ROUTE_BASE}${path}`,
    query: options.query ?? {},
    headers: {
      'content-type': 'application/json',
      ...(options.apiKey !== undefined && { 'x-api-key': options.apiKey }),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    ip: ctx.ip,
  }
}

export async function handled(ctx: Ctx, http: HttpRequest): Promise<HttpResponse> {
  const response = await ctx.kw.handle(http)
  if (response === undefined) throw new Error(`not a route: ${http.path}`)
  return response
}

/** The `data` of a 200 answer. */
// biome-ignore lint/suspicious/noExplicitAny: the routes' bodies are checked where read.
function data(response: unknown): any {
  expect(response).toMatchObject({ status: 200 })
  return (response as { body: { data: unknown } }).body.data
}

const issueKey = async (ctx: Ctx, name = 'fixture') => {
  const issued = await ctx.host.issueKey(ctx.user, { name })
  ctx.secrets.push(issued.key)
  return issued
}

const exchange = async (ctx: Ctx, key: string) => {
  const pair = await ctx.host.authenticateWithApiKey(key)
  ctx.secrets.push(pair.auth_token, pair.refresh_token)
  return pair
}

const login = async (ctx: Ctx) => {
  const pair = await ctx.host.issueTokens(ctx.user)
  ctx.secrets.push(pair.auth_token, pair.refresh_token)
  return pair
}

const enrol = async (ctx: Ctx) => {
  const enrolment = await ctx.host.generateTotpKey(ctx.user)
  ctx.secrets.push(enrolment.secret, enrolment.otpauth_url)
  return enrolment.secret
}

/** Caches a key in `kw` (a use is then pending too): these calls come before the sweep counts. */
const warm = async (ctx: Ctx, key: string) => {
  expect(await ctx.kw.verifyKey(key)).toMatchObject({ ok: true })
}

const ofType = (ctx: Ctx, type: KeywardEvent['type']) => ctx.events.filter((event) => event.type === type)

const INVALID_KEY = { error: 'Invalid API key', message: 'The provided API key is invalid or expired' }

/** The user holds exactly these keys: none the client was never given. */
async function expectKeys(ctx: Ctx, ids: string[]) {
  const listed = await ctx.host.listKeys(ctx.user)
  expect(listed.map((key) => key.id).sort()).toEqual([...ids].sort())
}

// ---------------------------------------------------------------------------------------------
// Keys

/** Deletes a key `kw` has cached; the deletion is told once and the key is gone everywhere. */
function deletion(name: string, closed: Closed, calls: StoreMethod[], viaRoute: boolean): Operation {
  return {
    name,
    calls,
    closed,
    async setup(ctx) {
      const caller = await issueKey(ctx, 'caller')
      const victim = await issueKey(ctx, 'victim')
      await warm(ctx, victim.key)
      return { caller, victim }
    },
    run: (ctx, { caller, victim }) =>
      viaRoute
        ? handled(ctx, request(ctx, 'DELETE', '/api-key', { apiKey: caller.key, query: { id: victim.id } }))
        : ctx.kw.deleteKey(ctx.user, { id: victim.id }),
    ok(answer, _ctx, { victim }) {
      if (viaRoute) expect(data(answer)).toMatchObject({ id: victim.id })
      else expect(answer).toMatchObject({ id: victim.id })
    },
    async after(ctx, { caller, victim }, fault) {
      const committed = fault.mode === 'lost' && fault.call.method === 'deleteKey'
      if (viaRoute) {
        const retry = await handled(
          ctx,
          request(ctx, 'DELETE', '/api-key', { apiKey: caller.key, query: { id: victim.id } }),
        )
        expect(retry.status).toBe(committed ? 404 : 200)
      } else {
        const retry = await ctx.kw.deleteKey(ctx.user, { id: victim.id })
        expect(retry === null).toBe(committed)
      }
      // Gone from the cache of the instance that deleted it, and from the store.
      expect(await ctx.kw.verifyKey(victim.key)).toEqual({ ok: false, code: 'NOT_FOUND' })
      expect(await ctx.host.verifyKey(victim.key)).toEqual({ ok: false, code: 'NOT_FOUND' })
      await expectKeys(ctx, [caller.id])
      // The audit log hears of the deletion once; of one whose answer was lost, only the `error`
      // event: keyward cannot tell whether it was done, and its retry finds nothing.
      expect(ofType(ctx, 'key.deleted')).toEqual(
        committed ? [] : [expect.objectContaining({ keyId: victim.id })],
      )
    },
  }
}

/** Issues a key for a user holding one of two places; the client ends up with exactly what it was given. */
function issuing(name: string, closed: Closed, calls: StoreMethod[], viaRoute: boolean): Operation {
  const issue = async (ctx: Ctx, callerKey: string) => {
    if (!viaRoute) return ctx.kw.issueKey(ctx.user, { name: 'new' })
    return handled(ctx, request(ctx, 'POST', '/api-key', { apiKey: callerKey, body: { key_name: 'new' } }))
  }
  const issuedOf = (answer: unknown) => (viaRoute ? data(answer) : answer) as { id: string; key: string }
  return {
    name,
    calls,
    closed,
    setup: (ctx) => issueKey(ctx, 'caller'),
    run: (ctx, caller) => issue(ctx, caller.key),
    ok(answer, ctx) {
      const issued = issuedOf(answer)
      ctx.secrets.push(issued.key)
      expect(issued).toMatchObject({ id: expect.any(String), key: expect.any(String) })
    },
    async after(ctx, caller) {
      expect(ofType(ctx, 'key.issued')).toEqual([])
      const retried = issuedOf(await issue(ctx, caller.key))
      ctx.secrets.push(retried.key)
      await expectKeys(ctx, [caller.id, retried.id])
      expect(await ctx.kw.verifyKey(retried.key)).toMatchObject({ ok: true })
      expect(ofType(ctx, 'key.issued')).toEqual([expect.objectContaining({ keyId: retried.id })])
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

/** Rotates a refresh token: a retry succeeds, or (a rotation committed, its reply lost) the session ends whole. */
function rotation(
  name: string,
  closed: Closed,
  calls: StoreMethod[],
  keyed: boolean,
  viaRoute: boolean,
): Operation {
  const refresh = async (ctx: Ctx, token: string) => {
    if (!viaRoute) return ctx.kw.refreshTokens(token, { ip: ctx.ip })
    return handled(ctx, request(ctx, 'POST', '/refresh', { body: { refresh_token: token } }))
  }
  return {
    name,
    calls,
    closed,
    async setup(ctx) {
      return keyed ? exchange(ctx, (await issueKey(ctx)).key) : login(ctx)
    },
    run: (ctx, pair) => refresh(ctx, pair.refresh_token),
    ok(answer, ctx) {
      const pair = viaRoute ? data(answer) : (answer as { refresh_token: string; auth_token: string })
      ctx.secrets.push(pair.refresh_token, pair.auth_token)
      expect(pair).toMatchObject({ refresh_token: expect.any(String), auth_token: expect.any(String) })
    },
    async after(ctx, pair, fault) {
      const presented = fault.calls[0]?.args[0] as string
      const rotate = fault.calls.find((call) => call.method === 'rotateRefreshToken')
      const lostNext = (rotate?.args[1] as { digest: string } | undefined)?.digest
      const now = () => new Date(ctx.clock.now)
      if (fault.mode === 'lost' && fault.call.method === 'rotateRefreshToken') {
        // Documented (SECURITY.md): the retry is taken for reuse and the whole session ends.
        const retry = refresh(ctx, pair.refresh_token)
        if (viaRoute) expect(await retry).toMatchObject({ status: 401 })
        else await expect(retry).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED' })
        expect(await ctx.raw.findRefreshToken(presented, now())).toBeNull()
        expect(await ctx.raw.findRefreshToken(lostNext as string, now())).toBeNull()
        return
      }
      if (lostNext !== undefined) expect(await ctx.raw.findRefreshToken(lostNext, now())).toBeNull()
      const retried = await refresh(ctx, pair.refresh_token)
      const next = viaRoute ? data(retried) : (retried as { refresh_token: string; auth_token: string })
      ctx.secrets.push(next.refresh_token, next.auth_token)
      expect(ofType(ctx, 'auth.failed')).toEqual([])
      expect(ofType(ctx, 'token.refreshed')).toHaveLength(1)
      expect((await ctx.kw.guard({ headers: { authorization: `Bearer ${next.auth_token}` } })).ok).toBe(true)
      // One live token in the chain: the new one refreshes, and the spent one is refused.
      const third = await ctx.host.refreshTokens(next.refresh_token)
      ctx.secrets.push(third.refresh_token, third.auth_token)
      await expect(ctx.host.refreshTokens(pair.refresh_token)).rejects.toMatchObject({
        code: 'REFRESH_TOKEN_REUSED',
      })
    },
  }
}

/**
 * A refresh whose key was deleted (by another instance) ends its family in two rotations; failing
 * between them ends it still.
 */
const refreshAfterKeyDeleted: Operation = {
  name: 'POST /accounts/refresh, key deleted',
  calls: ['findRefreshToken', 'findKeyById', 'rotateRefreshToken', 'rotateRefreshToken', 'incrementCounter'],
  closed: 'response',
  fallsBack: [5],
  async setup(ctx) {
    const key = await issueKey(ctx)
    const pair = await exchange(ctx, key.key)
    await ctx.host.deleteKey(ctx.user, { id: key.id })
    return pair
  },
  run: (ctx, pair) =>
    handled(ctx, request(ctx, 'POST', '/refresh', { body: { refresh_token: pair.refresh_token } })),
  ok(answer) {
    expect(answer).toMatchObject({ status: 401, body: { error: 'Invalid refresh token' } })
  },
  async after(ctx, pair, fault) {
    // The failed run's own refusal (when only its count failed) is not the retry's.
    ctx.events.length = 0
    const retry = await handled(
      ctx,
      request(ctx, 'POST', '/refresh', { body: { refresh_token: pair.refresh_token } }),
    )
    expect(retry).toMatchObject({ status: 401, body: { error: 'Invalid refresh token' } })
    // Invalid, as the first time: not a reuse alarm.
    expect(ofType(ctx, 'auth.failed')).toEqual([expect.objectContaining({ code: 'INVALID_REFRESH_TOKEN' })])
    const presented = fault.calls[0]?.args[0] as string
    expect(await ctx.raw.findRefreshToken(presented, new Date(ctx.clock.now))).toBeNull()
  },
}

// ---------------------------------------------------------------------------------------------
// TOTP

const TOTP_BUCKETS = ['totp-fail', 'totp-locks', 'totp-lock', 'account', 'account-lock']

/**
 * Confirms a pending enrolment: the retry succeeds, TOTP is enabled once, and no count is left.
 * A count that could not be reset once the code was taken does not undo the answer (`fallsBack`).
 */
function confirmation(name: string, closed: Closed, calls: StoreMethod[], viaRoute: boolean): Operation {
  const verify = async (ctx: Ctx, callerKey: string, code: string) => {
    if (!viaRoute) return ctx.kw.verifyTotp(ctx.user, code, { ip: ctx.ip })
    return handled(ctx, request(ctx, 'POST', '/verify-totp', { apiKey: callerKey, body: { code } }))
  }
  const expectAccepted = (answer: unknown) => {
    if (viaRoute) expect(data(answer)).toEqual({ totp_enabled: true })
    else expect(answer).toBeUndefined()
  }
  const resets = calls.flatMap((method, index) => (method === 'resetCounter' ? [index + 1] : []))
  const expectNoCount = async (ctx: Ctx) => {
    const at = new Date(ctx.clock.now)
    for (const bucket of TOTP_BUCKETS)
      expect(await ctx.raw.peekCounter(`${bucket}:${ctx.user}`, at)).toBeNull()
  }
  return {
    name,
    calls,
    closed,
    fallsBack: resets,
    async setup(ctx) {
      const caller = await issueKey(ctx, 'caller')
      return { caller, secret: await enrol(ctx) }
    },
    run: async (ctx, { caller, secret }) => verify(ctx, caller.key, await totpCode(secret, ctx.clock.now)),
    ok: expectAccepted,
    async after(ctx, { caller, secret }, fault) {
      // A code is taken at most once, even one whose acceptance was stored with its answer lost:
      // the retry of that code is refused, TOTP is on all the same, and no totp.enabled is told.
      const takenUnanswered = fault.mode === 'lost' && fault.call.method === 'acceptTotpStep'
      if (takenUnanswered) {
        const code = await totpCode(secret, ctx.clock.now)
        const retry = await settle(() => verify(ctx, caller.key, code))
        if (viaRoute) expect(retry.value).toMatchObject({ status: 401 })
        else expect(retry.error).toMatchObject({ code: 'INVALID_TOTP_CODE' })
      } else if (!resets.includes(fault.n)) {
        // The client retries its code, as a 503 asks.
        expectAccepted(await verify(ctx, caller.key, await totpCode(secret, ctx.clock.now)))
        await expectNoCount(ctx)
      }
      expect(await ctx.host.totpEnabled(ctx.user)).toBe(true)
      expect(ofType(ctx, 'totp.enabled')).toHaveLength(takenUnanswered ? 0 : 1)
      if (!takenUnanswered) expect(ofType(ctx, 'auth.failed')).toEqual([])
      // And the next code is taken too, which clears any count a failed reset left.
      ctx.clock.now += 30_000
      expectAccepted(await verify(ctx, caller.key, await totpCode(secret, ctx.clock.now)))
      await expectNoCount(ctx)
    },
  }
}

const settle = (work: () => Promise<unknown>) =>
  work().then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  )

/** Enrols: the retry's secret is the one that counts. */
function enrolment(name: string, closed: Closed, calls: StoreMethod[], viaRoute: boolean): Operation {
  const generate = async (ctx: Ctx, callerKey: string): Promise<{ secret: string; otpauth_url: string }> => {
    if (!viaRoute) return ctx.kw.generateTotpKey(ctx.user)
    return data(await handled(ctx, request(ctx, 'POST', '/generate-totp-key', { apiKey: callerKey })))
  }
  return {
    name,
    calls,
    closed,
    setup: (ctx) => issueKey(ctx, 'caller'),
    run: (ctx, caller) =>
      viaRoute
        ? handled(ctx, request(ctx, 'POST', '/generate-totp-key', { apiKey: caller.key }))
        : ctx.kw.generateTotpKey(ctx.user),
    ok(answer, ctx) {
      const enrolled = (viaRoute ? data(answer) : answer) as { secret: string; otpauth_url: string }
      ctx.secrets.push(enrolled.secret, enrolled.otpauth_url)
      expect(enrolled.secret).toEqual(expect.any(String))
    },
    async after(ctx, caller) {
      expect(await ctx.host.totpEnabled(ctx.user)).toBe(false)
      const { secret, otpauth_url } = await generate(ctx, caller.key)
      ctx.secrets.push(secret, otpauth_url)
      await ctx.host.verifyTotp(ctx.user, await totpCode(secret, ctx.clock.now))
      expect(await ctx.host.totpEnabled(ctx.user)).toBe(true)
    },
  }
}

const enableTotp = async (ctx: Ctx) => {
  const secret = await enrol(ctx)
  await ctx.host.verifyTotp(ctx.user, await totpCode(secret, ctx.clock.now))
  return secret
}

// ---------------------------------------------------------------------------------------------
// The guard

/** The guard on a cold cache: a retry is admitted, and no failure was counted against the client. */
function guarding(name: string, closed: 'guard' | 'throws', credential: 'api_key' | 'auth_token'): Operation {
  return {
    name,
    calls: [credential === 'api_key' ? 'findKeyByDigest' : 'findKeyById'],
    closed,
    async setup(ctx) {
      const key = await issueKey(ctx)
      if (credential === 'api_key') return { 'x-api-key': key.key }
      return { authorization: `Bearer ${(await exchange(ctx, key.key)).auth_token}` }
    },
    run: (ctx, headers) =>
      closed === 'guard'
        ? Promise.resolve(ctx.kw.guard({ headers, ip: ctx.ip }))
        : ctx.kw.authenticate({ headers, ip: ctx.ip }),
    ok(answer) {
      expect(answer).toMatchObject({ ok: true })
    },
    async after(ctx, headers) {
      expect(await ctx.kw.guard({ headers, ip: ctx.ip })).toMatchObject({ ok: true })
      expect(ofType(ctx, 'auth.failed')).toEqual([])
      expect(await ctx.raw.peekCounter(`addr:${ctx.ip}`, new Date(ctx.clock.now))).toBeNull()
    },
  }
}

const UNKNOWN_KEY = 'ms-0123456789abcdef0123456789abcdef'

/** An unknown key is refused whatever the store does, and counted once per attempt. */
function refusing(name: string, closed: Closed, viaRoute: boolean): Operation {
  const attempt = async (ctx: Ctx) =>
    viaRoute
      ? handled(ctx, request(ctx, 'POST', '/auth-with-api-key', { body: { api_key: UNKNOWN_KEY } }))
      : Promise.resolve(ctx.kw.guard({ headers: { 'x-api-key': UNKNOWN_KEY }, ip: ctx.ip }))
  const expectRefused = (answer: unknown) =>
    expect(answer).toMatchObject(
      viaRoute
        ? { status: 401, body: INVALID_KEY }
        : { ok: false, response: { status: 401, body: INVALID_KEY } },
    )
  return {
    name,
    calls: ['findKeyByDigest', 'incrementCounter'],
    closed,
    fallsBack: [2],
    setup: async () => undefined,
    run: attempt,
    ok: expectRefused,
    async after(ctx, _fixture, fault) {
      expectRefused(await attempt(ctx))
      // Each attempt the store took is counted there once: the failed one only if its count committed.
      const counted = fault.mode === 'lost' && fault.call.method === 'incrementCounter' ? 2 : 1
      expect(await ctx.raw.peekCounter(`addr:${ctx.ip}`, new Date(ctx.clock.now))).toMatchObject({
        count: counted,
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------

const VERIFY_TOTP_CALLS: StoreMethod[] = [
  'peekCounter',
  'peekCounter',
  'getTotp',
  'incrementCounter',
  'incrementCounter',
  'acceptTotpStep',
  'resetCounter',
  'resetCounter',
  'resetCounter',
  'resetCounter',
  'resetCounter',
]

export const OPERATIONS: readonly Operation[] = [
  {
    name: 'POST /accounts/auth-with-api-key',
    calls: ['findKeyByDigest', 'insertRefreshToken', 'getTotp'],
    closed: 'response',
    setup: (ctx) => issueKey(ctx),
    run: (ctx, key) =>
      handled(ctx, request(ctx, 'POST', '/auth-with-api-key', { body: { api_key: key.key } })),
    ok(answer, ctx) {
      const pair = data(answer)
      ctx.secrets.push(pair.auth_token, pair.refresh_token)
      expect(pair).toMatchObject({ totp_enabled: false, passkey_enabled: false })
    },
    async after(ctx, key) {
      const pair = data(
        await handled(ctx, request(ctx, 'POST', '/auth-with-api-key', { body: { api_key: key.key } })),
      )
      ctx.secrets.push(pair.auth_token, pair.refresh_token)
      const next = await ctx.host.refreshTokens(pair.refresh_token)
      ctx.secrets.push(next.auth_token, next.refresh_token)
      expect(ofType(ctx, 'auth.failed')).toEqual([])
    },
  },
  refusing('POST /accounts/auth-with-api-key, unknown key', 'response', true),
  issuing(
    'POST /accounts/api-key',
    'response',
    ['findKeyByDigest', 'listKeys', 'insertKey', 'listKeys'],
    true,
  ),
  {
    name: 'GET /accounts/api-key',
    calls: ['findKeyByDigest', 'listKeys'],
    closed: 'response',
    setup: (ctx) => issueKey(ctx),
    run: (ctx, key) => handled(ctx, request(ctx, 'GET', '/api-key', { apiKey: key.key })),
    ok(answer, _ctx, key) {
      expect(data(answer)).toEqual([expect.objectContaining({ id: key.id })])
    },
    async after(ctx, key) {
      expect(data(await handled(ctx, request(ctx, 'GET', '/api-key', { apiKey: key.key })))).toHaveLength(1)
    },
  },
  deletion('DELETE /accounts/api-key', 'response', ['findKeyByDigest', 'deleteKey'], true),
  enrolment('POST /accounts/generate-totp-key', 'response', ['findKeyByDigest', 'putPendingTotp'], true),
  confirmation('POST /accounts/verify-totp', 'response', ['findKeyByDigest', ...VERIFY_TOTP_CALLS], true),
  rotation(
    'POST /accounts/refresh',
    'response',
    ['findRefreshToken', 'findKeyById', 'rotateRefreshToken'],
    true,
    true,
  ),
  refreshAfterKeyDeleted,
  guarding('guard, API key', 'guard', 'api_key'),
  guarding('guard, auth token', 'guard', 'auth_token'),
  refusing('guard, unknown key', 'guard', false),
  guarding('authenticate, API key', 'throws', 'api_key'),
  guarding('authenticate, auth token', 'throws', 'auth_token'),
  issuing('issueKey', 'throws', ['listKeys', 'insertKey', 'listKeys'], false),
  deletion('deleteKey', 'throws', ['deleteKey'], false),
  {
    name: 'listKeys',
    calls: ['listKeys'],
    closed: 'throws',
    setup: (ctx) => issueKey(ctx),
    run: (ctx) => ctx.kw.listKeys(ctx.user),
    ok(answer, _ctx, key) {
      expect(answer).toEqual([expect.objectContaining({ id: key.id })])
    },
    async after(ctx) {
      expect(await ctx.kw.listKeys(ctx.user)).toHaveLength(1)
    },
  },
  {
    name: 'verifyKey',
    calls: ['findKeyByDigest'],
    closed: 'throws',
    setup: (ctx) => issueKey(ctx),
    run: (ctx, key) => ctx.kw.verifyKey(key.key),
    ok(answer) {
      expect(answer).toMatchObject({ ok: true })
    },
    async after(ctx, key) {
      expect(await ctx.kw.verifyKey(key.key)).toMatchObject({ ok: true })
    },
  },
  {
    name: 'issueTokens',
    calls: ['insertRefreshToken'],
    closed: 'throws',
    setup: async () => undefined,
    run: (ctx) => ctx.kw.issueTokens(ctx.user),
    ok(answer, ctx) {
      const pair = answer as { auth_token: string; refresh_token: string }
      ctx.secrets.push(pair.auth_token, pair.refresh_token)
    },
    async after(ctx) {
      const pair = await ctx.kw.issueTokens(ctx.user)
      ctx.secrets.push(pair.auth_token, pair.refresh_token)
      const next = await ctx.kw.refreshTokens(pair.refresh_token)
      ctx.secrets.push(next.auth_token, next.refresh_token)
    },
  },
  rotation('refreshTokens, host login', 'throws', ['findRefreshToken', 'rotateRefreshToken'], false, false),
  rotation(
    'refreshTokens, from a key',
    'throws',
    ['findRefreshToken', 'findKeyById', 'rotateRefreshToken'],
    true,
    false,
  ),
  confirmation('verifyTotp', 'throws', VERIFY_TOTP_CALLS, false),
  enrolment('generateTotpKey', 'throws', ['putPendingTotp'], false),
  {
    name: 'resetTotp',
    calls: ['deleteTotp'],
    closed: 'throws',
    setup: enableTotp,
    run: (ctx) => ctx.kw.resetTotp(ctx.user),
    ok(answer) {
      expect(answer).toBeUndefined()
    },
    async after(ctx) {
      await ctx.kw.resetTotp(ctx.user)
      expect(await ctx.kw.totpEnabled(ctx.user)).toBe(false)
      ctx.secrets.push((await ctx.kw.generateTotpKey(ctx.user)).secret)
    },
  },
  {
    name: 'totpEnabled',
    calls: ['getTotp'],
    closed: 'throws',
    setup: enableTotp,
    run: (ctx) => ctx.kw.totpEnabled(ctx.user),
    ok(answer) {
      expect(answer).toBe(true)
    },
    async after(ctx) {
      expect(await ctx.kw.totpEnabled(ctx.user)).toBe(true)
    },
  },
  {
    name: 'flushUsage',
    calls: ['recordKeyUsage'],
    closed: 'rejects',
    async setup(ctx) {
      const key = await issueKey(ctx)
      await warm(ctx, key.key)
      return key
    },
    run: (ctx) => ctx.kw.flushUsage(),
    ok(answer) {
      expect(answer).toBeUndefined()
    },
    async after(ctx, key) {
      // A failed batch is kept for the next flush.
      await ctx.kw.flushUsage()
      const [listed] = await ctx.host.listKeys(ctx.user)
      expect(listed).toMatchObject({ id: key.id, lastUsedOn: new Date(ctx.clock.now) })
    },
  },
  {
    name: 'close',
    calls: ['recordKeyUsage'],
    closed: 'reported',
    async setup(ctx) {
      const key = await issueKey(ctx)
      await warm(ctx, key.key)
      return key
    },
    run: (ctx) => ctx.kw.close(),
    ok(answer) {
      expect(answer).toBeUndefined()
    },
    async after(ctx, key) {
      // Closed: the batch is lost with the instance, and the key still works elsewhere.
      expect(await ctx.host.verifyKey(key.key)).toMatchObject({ ok: true })
    },
  },
]

export type { FaultMode }
