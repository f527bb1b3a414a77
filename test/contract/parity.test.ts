/**
 * One request list, run against each framework in turn with the same clock; the normalised
 * answers (status, keyward's headers, body with secrets and ids masked) must be identical.
 */
import { describe, expect, it } from 'vitest'
import { startExpressHost } from '../../packages/express/test/host.js'
import {
  client,
  data,
  type IssuedKeyData,
  type Reply,
  type Send,
  type TotpKeyData,
  withBearer,
  withKey,
} from './support/client.js'
import { createFixture, DAY, type Fixture, SECOND } from './support/fixture.js'
import { type RunningServer, START_SERVER } from './support/servers.js'
import { totpCode } from './support/totp.js'

const COMPARED_HEADERS = [
  'content-type',
  'cache-control',
  'www-authenticate',
  'allow',
  'retry-after',
  'connection',
]
/** Values that differ on every run (random keys, tokens, ids) or per server (the port in creds). */
const MASKED_FIELDS = new Set([
  'key',
  'id',
  'preview',
  'auth_token',
  'refresh_token',
  'secret',
  'otpauth_url',
  'creds',
])

interface Recorded {
  readonly request: string
  readonly status: number
  readonly headers?: Record<string, string | null>
  readonly body?: unknown
}

const mask = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(mask)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.entries(value).map(([name, inner]) => [name, MASKED_FIELDS.has(name) ? `<${name}>` : mask(inner)]),
  )
}

type Call = (method: string, target: string, send?: Send & { readonly hostOwned?: boolean }) => Promise<Reply>

/** The script: every route, the statuses each answers, both header styles, and the host's own paths. */
async function script(call: Call, fixture: Fixture): Promise<void> {
  // A second between alice's keys: her list is in created_on order, and keys made in the same
  // millisecond are ordered by their random ids, which differ from one framework's run to another's.
  const alice = (await fixture.keyward.issueKey('alice', { name: 'alice' })).key
  fixture.clock.advance(SECOND)
  const bob = await fixture.keyward.issueKey('bob', { name: 'bob' })
  const json = { 'content-type': 'application/json' }

  const tokens = data<{ auth_token: string; refresh_token: string }>(
    await call('POST', '/accounts/auth-with-api-key', { json: { api_key: alice } }),
  )
  await call('POST', '/accounts/auth-with-api-key', { json: { api_key: `ms-${'a'.repeat(32)}` } })
  await call('POST', '/accounts/auth-with-api-key', { json: {} })
  await call('POST', '/accounts/auth-with-api-key', { raw: '{"api_key":', headers: json })
  await call('POST', '/accounts/auth-with-api-key', {
    raw: '{"api_key":"x"}',
    headers: { 'content-type': 'text/plain' },
  })
  await call('POST', '/accounts/auth-with-api-key', {
    raw: '{"api_key":"x"}',
    headers: { 'content-type': 'json' },
  })
  await call('POST', '/accounts/auth-with-api-key', { raw: 'x'.repeat(16 * 1024 + 1), headers: json })
  await call('GET', '/accounts/auth-with-api-key')

  const issued = data<IssuedKeyData>(
    await call('POST', '/accounts/api-key', { headers: withKey(alice), json: { key_name: 'x-api-key' } }),
  )
  fixture.clock.advance(SECOND)
  await call('POST', '/accounts/api-key', { headers: withBearer(alice), json: { key_name: 'bearer key' } })
  fixture.clock.advance(SECOND)
  await call('POST', '/accounts/api-key', {
    headers: withBearer(tokens.auth_token),
    json: { key_name: 'token' },
  })
  await call('POST', '/accounts/api-key', { json: { key_name: 'anonymous' } })
  await call('POST', '/accounts/api-key', { headers: { authorization: 'Bearer' }, json: { key_name: 'x' } })
  await call('POST', '/accounts/api-key', { headers: withKey(alice), json: { key_name: 7 } })
  await call('GET', '/accounts/api-key', { headers: withKey(alice) })
  await call('GET', '/accounts/api-key', { headers: withKey(alice), raw: 'ignored', nodeHttp: true })
  await call('HEAD', '/accounts/api-key', { headers: withKey(alice) })
  await call('HEAD', '/accounts/refresh')
  await call('DELETE', `/accounts/api-key?id=${issued.id}`, { headers: withKey(alice) })
  await call('DELETE', '/accounts/api-key', { headers: withKey(alice) })
  await call('DELETE', `/accounts/api-key?id=${issued.id}&key=${alice}`, { headers: withKey(alice) })
  await call('DELETE', '/accounts/api-key?id=a&id=b', { headers: withKey(alice) })
  // A name with brackets is that name on Koa and Fastify, never `id` nested as a qs parser reads it.
  await call('DELETE', '/accounts/api-key?id[]=x', { headers: withKey(alice) })
  await call('DELETE', '/accounts/api-key?key[x]=y', { headers: withKey(alice) })
  await call('DELETE', `/accounts/api-key?id=${bob.id}`, { headers: withKey(alice) })
  await call('DELETE', `/accounts/api-key?key=${bob.key}`, { headers: withKey(alice) })
  await call('PUT', '/accounts/api-key', { headers: withKey(alice), json: {} })
  await call('GET', '/v1/me', { headers: withKey(issued.key) })

  const { secret } = data<TotpKeyData>(
    await call('POST', '/accounts/generate-totp-key', { headers: withKey(alice) }),
  )
  const code = await totpCode(secret, fixture.clock())
  await call('POST', '/accounts/verify-totp', { headers: withKey(alice), json: { code } })
  await call('POST', '/accounts/verify-totp', { headers: withKey(alice), json: { code } })
  await call('POST', '/accounts/verify-totp', { headers: withKey(alice), json: { code: 'abc' } })
  await call('POST', '/accounts/generate-totp-key', { headers: withKey(alice) })
  await call('POST', '/accounts/verify-totp', { headers: withKey(bob.key), json: { code } })

  const next = data<{ refresh_token: string }>(
    await call('POST', '/accounts/refresh', { json: { refresh_token: tokens.refresh_token } }),
  )
  await call('POST', '/accounts/refresh', { json: { refresh_token: tokens.refresh_token } })
  await call('POST', '/accounts/refresh', { json: { refresh_token: next.refresh_token } })
  await call('POST', '/accounts/refresh', { json: {} })

  await call('GET', '/v1/agents', { headers: withKey(alice) })
  await call('GET', '/v1/agents', { headers: withKey(bob.key) })
  await call('GET', '/v1/agents')
  await call('GET', '/v1/agents', { headers: { 'x-api-key': '' } })
  await call('GET', '/public', { hostOwned: true })
  await call('POST', '/echo', {
    raw: 'untouched',
    headers: { 'content-type': 'text/plain' },
    hostOwned: true,
  })
  await call('POST', '/accounts/unknown', { json: {}, hostOwned: true })

  fixture.clock.advance(92 * DAY)
  await call('GET', '/v1/agents', { headers: withKey(alice) })
  const fresh = await fixture.keyward.issueKey('alice', { name: 'fresh' })
  fixture.outage.down = true
  await call('GET', '/v1/agents', { headers: withKey(fresh.key) })
  await call('POST', '/accounts/auth-with-api-key', { json: { api_key: fresh.key } })
  fixture.outage.down = false
}

/**
 * Each framework the suite runs on, and Express again with each other `query parser` setting an
 * app may choose: keyward reads its own routes' query the same way whatever the app's parser.
 */
const HOSTS: Record<string, (keyward: Fixture['keyward']) => Promise<RunningServer>> = {
  ...START_SERVER,
  'express, query parser false': (keyward) => startExpressHost(keyward, undefined, false),
  'express, query parser extended': (keyward) => startExpressHost(keyward, undefined, 'extended'),
}

async function record(host: string): Promise<Recorded[]> {
  const fixture = createFixture()
  const start = HOSTS[host]
  if (start === undefined) throw new Error(`no host ${host}`)
  const server = await start(fixture.keyward)
  const api = client(server.url)
  const recorded: Recorded[] = []
  try {
    await script(async (method, target, send = {}) => {
      const reply = await api(method, target, send)
      const request = `${method} ${target.replace(/=[^&]+/g, '=…')}`
      if (send.hostOwned) recorded.push({ request, status: reply.status })
      else {
        const headers = Object.fromEntries(COMPARED_HEADERS.map((name) => [name, reply.headers.get(name)]))
        recorded.push({ request, status: reply.status, headers, body: mask(reply.body) })
      }
      return reply
    }, fixture)
  } finally {
    await server.close()
    await fixture.keyward.close()
  }
  expect(server.hostErrors).toEqual([])
  return recorded
}

describe('the same requests on every framework', () => {
  it('give the same status, headers and body on express, fastify and koa, at every release tested', async () => {
    const hosts = Object.keys(HOSTS)
    const [express, ...others] = await Promise.all(hosts.map(record))
    for (const [i, recorded] of others.entries()) expect(recorded, hosts[i + 1]).toEqual(express)
    const statuses = new Set(express?.map((entry) => entry.status))
    expect([...statuses].sort()).toEqual([200, 400, 401, 403, 404, 405, 409, 413, 415, 503])
  })
})
