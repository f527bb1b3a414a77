/**
 * The JWT attack suite through real servers: one keyward engine mounted on Express, Fastify
 * and Koa at once, so each forged or stale token meets all three with the same secret and
 * clock. Every attack is refused with 401, the RFC 6750 invalid_token challenge and the same
 * body on all three, on the host's guarded route and on keyward's own. The core-level version
 * (which these do not repeat) is packages/core/test/tokens.test.ts.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
// jose is @keyward/core's dependency, not the workspace root's: borrowed as the contract suite borrows otplib.
import { exportJWK, SignJWT } from '../../packages/core/node_modules/jose'
import { INVALID_REFRESH, INVALID_TOKEN } from '../contract/support/answers.js'
import {
  type Api,
  client,
  data,
  type Reply,
  type TokensData,
  withBearer,
  withKey,
} from '../contract/support/client.js'
import { createFixture, type Fixture, JWT_SECRET, MINUTE, SECOND } from '../contract/support/fixture.js'
import {
  FRAMEWORKS,
  type Framework,
  GUARDED,
  type RunningServer,
  START_SERVER,
} from '../contract/support/servers.js'

const CHALLENGE = 'Bearer realm="keyward", error="invalid_token"'
/** A guarded host route and one of keyward's own: the same guard answers on both. */
const PROTECTED = [GUARDED.agents, '/accounts/api-key'] as const
const secretBytes = new TextEncoder().encode(JWT_SECRET)
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

let rsa: { privateKey: KeyObject; publicKey: KeyObject } | undefined
const rsaKeys = () => {
  rsa ??= generateKeyPairSync('rsa', { modulusLength: 2048 })
  return rsa
}

interface Hosts {
  readonly fixture: Fixture
  readonly apis: Record<Framework, Api>
  readonly servers: RunningServer[]
}

function useHosts(): () => Hosts {
  let current: Hosts | undefined
  beforeEach(async () => {
    const fixture = createFixture()
    const servers = await Promise.all(FRAMEWORKS.map((framework) => START_SERVER[framework](fixture.keyward)))
    const apis = Object.fromEntries(FRAMEWORKS.map((framework, i) => [framework, client(servers[i]!.url)]))
    current = { fixture, servers, apis: apis as Record<Framework, Api> }
  })
  afterEach(async () => {
    const { fixture, servers } = current!
    current = undefined
    await Promise.all(servers.map((server) => server.close()))
    await fixture.keyward.close()
    for (const server of servers) expect(server.hostErrors).toEqual([])
  })
  return () => {
    if (current === undefined) throw new Error('the servers are not running')
    return current
  }
}

interface Claims {
  alg?: string
  typ?: string | undefined
  iss?: string
  aud?: string
  sub?: string
  iat?: number
  nbf?: number
  exp?: number
}

/** A token shaped exactly like keyward's (a host login's: no key behind it), with parts changed. */
function forge(fixture: Fixture, overrides: Claims = {}): SignJWT {
  const now = Math.floor(fixture.clock() / 1000)
  const header: { alg: string; typ?: string } = { alg: overrides.alg ?? 'HS256' }
  const typ = 'typ' in overrides ? overrides.typ : 'at+jwt'
  if (typ !== undefined) header.typ = typ
  const jwt = new SignJWT({ key_id: null })
    .setProtectedHeader(header)
    .setIssuer(overrides.iss ?? 'keyward')
    .setAudience(overrides.aud ?? 'keyward')
    .setSubject(overrides.sub ?? 'alice')
    .setJti('forged')
    .setIssuedAt(overrides.iat ?? now)
    .setExpirationTime(overrides.exp ?? now + 900)
  if (overrides.nbf !== undefined) jwt.setNotBefore(overrides.nbf)
  return jwt
}

/** The same request on every framework. */
async function everywhere(hosts: Hosts, send: (api: Api) => Promise<Reply>): Promise<Reply[]> {
  const replies: Reply[] = []
  for (const framework of FRAMEWORKS) replies.push(await send(hosts.apis[framework]))
  return replies
}

/** For expectRefused: any `{ error, message }` body, as long as every framework sends the same. */
const SAME_BODY = Symbol('same body everywhere')

/** 401 with the invalid_token challenge, and one body, identical on all three frameworks. */
function expectRefused(replies: Reply[], body: unknown): void {
  for (const reply of replies) {
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toBe(CHALLENGE)
    expect(reply.body).toEqual(
      expect.objectContaining({ error: expect.any(String), message: expect.any(String) }),
    )
  }
  for (const reply of replies.slice(1)) expect(reply.body).toEqual(replies[0]!.body)
  if (body !== SAME_BODY) expect(replies[0]!.body).toEqual(body)
}

async function expectTokenRefused(hosts: Hosts, token: string, body: unknown = INVALID_TOKEN): Promise<void> {
  const replies: Reply[] = []
  for (const path of PROTECTED)
    replies.push(...(await everywhere(hosts, (api) => api('GET', path, { headers: withBearer(token) }))))
  expectRefused(replies, body)
}

async function expectTokenAccepted(hosts: Hosts, token: string): Promise<void> {
  for (const reply of await everywhere(hosts, (api) =>
    api('GET', GUARDED.agents, { headers: withBearer(token) }),
  ))
    expect(reply).toMatchObject({ status: 200, body: { user: 'alice' } })
}

/** A key for alice and its token pair, exchanged over HTTP. */
async function exchange(hosts: Hosts): Promise<TokensData & { key: string; id: string }> {
  const { key, id } = await hosts.fixture.keyward.issueKey('alice', { name: 'jwt' })
  const reply = await hosts.apis.express('POST', '/accounts/auth-with-api-key', { json: { api_key: key } })
  return { ...data<TokensData>(reply), key, id }
}

function tamper(token: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
  return `${header}.${b64(change(claims))}.${signature}`
}

describe('JWT attacks over Express, Fastify and Koa', () => {
  const hosts = useHosts()

  it('accepts the forge helper unchanged, so each attack below fails for the reason it names', async () => {
    await expectTokenAccepted(hosts(), await forge(hosts().fixture).sign(secretBytes))
  })

  it.each([
    ['alg none', { alg: 'none', typ: 'at+jwt' }],
    ['alg None', { alg: 'None', typ: 'at+jwt' }],
    ['alg HS256 with the signature stripped', { alg: 'HS256', typ: 'at+jwt' }],
  ])('refuses %s', async (_, header) => {
    const now = Math.floor(hosts().fixture.clock() / 1000)
    const claims = {
      key_id: null,
      iss: 'keyward',
      aud: 'keyward',
      sub: 'alice',
      jti: 'x',
      iat: now,
      exp: now + 900,
    }
    await expectTokenRefused(hosts(), `${b64(header)}.${b64(claims)}.`)
  })

  it('refuses an RS256 token', async () => {
    await expectTokenRefused(
      hosts(),
      await forge(hosts().fixture, { alg: 'RS256' }).sign(rsaKeys().privateKey),
    )
  })

  it("refuses HS256 signed with an RSA public key's PEM or JWK as the secret (key confusion)", async () => {
    const { publicKey } = rsaKeys()
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const jwk = JSON.stringify(await exportJWK(publicKey))
    for (const secret of [pem, jwk]) {
      await expectTokenRefused(hosts(), await forge(hosts().fixture).sign(new TextEncoder().encode(secret)))
    }
  })

  it('refuses a token signed with another secret', async () => {
    const other = new TextEncoder().encode('another-secret-another-secret-0123456789')
    await expectTokenRefused(hosts(), await forge(hosts().fixture).sign(other))
  })

  it.each(['HS384', 'HS512'])('refuses %s even with the right secret (HS256 is pinned)', async (alg) => {
    await expectTokenRefused(hosts(), await forge(hosts().fixture, { alg }).sign(secretBytes))
  })

  it.each<[string, Claims]>([
    ['a wrong issuer', { iss: 'evil' }],
    ['a wrong audience', { aud: 'other-service' }],
    ['typ JWT', { typ: 'JWT' }],
    ['an id-token typ', { typ: 'id+jwt' }],
    ['no typ', { typ: undefined }],
  ])('refuses %s', async (_, claims) => {
    await expectTokenRefused(hosts(), await forge(hosts().fixture, claims).sign(secretBytes))
  })

  it('refuses a token once the clock passes its expiry, whether or not it was accepted before', async () => {
    const h = hosts()
    const seen = await exchange(h)
    const unseen = await exchange(h)
    await expectTokenAccepted(h, seen.auth_token)
    h.fixture.clock.advance(15 * MINUTE)
    await expectTokenRefused(h, seen.auth_token)
    await expectTokenRefused(h, unseen.auth_token)
  })

  it('refuses a token before its nbf, and accepts it once the clock gets there', async () => {
    const h = hosts()
    const now = Math.floor(h.fixture.clock() / 1000)
    const token = await forge(h.fixture, { nbf: now + 3600, exp: now + 7200 }).sign(secretBytes)
    await expectTokenRefused(h, token)
    h.fixture.clock.advance(3600 * SECOND)
    await expectTokenAccepted(h, token)
  })

  it('refuses a refresh token used as an auth token', async () => {
    await expectTokenRefused(hosts(), (await exchange(hosts())).refresh_token)
  })

  it('refuses an auth token used as a refresh token', async () => {
    const { auth_token } = await exchange(hosts())
    const replies = await everywhere(hosts(), (api) =>
      api('POST', '/accounts/refresh', { json: { refresh_token: auth_token } }),
    )
    expectRefused(replies, INVALID_REFRESH)
  })

  /** The refresh token refused the same way on every framework, each presentation; never taken for a reuse. */
  async function expectRefreshRefused(h: Hosts, refreshToken: string): Promise<void> {
    const replies = await everywhere(h, (api) =>
      api('POST', '/accounts/refresh', { json: { refresh_token: refreshToken } }),
    )
    expectRefused(replies, INVALID_REFRESH)
    const reuse = h.fixture.events.filter(
      (event) => event.type === 'auth.failed' && event.code === 'REFRESH_TOKEN_REUSED',
    )
    expect(reuse).toEqual([])
  }

  it('refuses the tokens of a deleted key: the auth token, though cached, and the refresh token', async () => {
    const h = hosts()
    const pair = await exchange(h)
    await expectTokenAccepted(h, pair.auth_token)
    const deleted = await h.apis.koa('DELETE', `/accounts/api-key?id=${pair.id}`, {
      headers: withKey(pair.key),
    })
    expect(deleted.status).toBe(200)
    await expectTokenRefused(h, pair.auth_token)
    await expectRefreshRefused(h, pair.refresh_token)
  })

  it('refuses the tokens of a deleted user, from a key and from a host login', async () => {
    const h = hosts()
    const pair = await exchange(h)
    const login = await h.fixture.keyward.issueTokens('alice')
    await expectTokenAccepted(h, pair.auth_token)
    await expectTokenAccepted(h, login.auth_token)
    h.fixture.users.delete('alice')
    await expectTokenRefused(h, pair.auth_token)
    await expectTokenRefused(h, login.auth_token)
    await expectRefreshRefused(h, pair.refresh_token)
    await expectRefreshRefused(h, login.refresh_token)
  })

  it.each<[string, (claims: Record<string, unknown>) => Record<string, unknown>]>([
    ['another subject', (claims) => ({ ...claims, sub: 'bob' })],
    ['a later expiry', (claims) => ({ ...claims, exp: (claims.exp as number) + 86_400 })],
    ['no key behind it', (claims) => ({ ...claims, key_id: null })],
    ['another audience', (claims) => ({ ...claims, aud: 'keyward-admin' })],
  ])('refuses a payload tampered to %s', async (_, change) => {
    const h = hosts()
    const { auth_token } = await exchange(h)
    await expectTokenAccepted(h, auth_token)
    await expectTokenRefused(h, tamper(auth_token, change))
  })
})
