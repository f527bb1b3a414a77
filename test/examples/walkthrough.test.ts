/**
 * The README's curl walk-through, against each example server as a user starts it: log in,
 * create a key, call /v1/agents with it, exchange it for tokens, list keys, delete the key and
 * see the call fail; see a key whose user lacks agents:write refused a delete (403). Then restart
 * the server and see that a key survives (PGlite data folder).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { call } from './support/client.js'
import { type Framework, START_TIMEOUT_MS, startServer } from './support/server-process.js'

const FRAMEWORKS: Framework[] = ['express', 'fastify', 'koa']
const dataDirs: string[] = []
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

/** An example's env on a fresh PGlite data folder of its own (removed after the run), no other store. */
function onFreshPglite(folder: string, jwtSecret: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `keyward-${folder}-`))
  dataDirs.push(dataDir)
  return { KEYWARD_DATA_DIR: dataDir, KEYWARD_JWT_SECRET: jwtSecret, DATABASE_URL: '', REDIS_URL: '' }
}

describe.each(FRAMEWORKS)('examples/%s', (framework) => {
  it(
    'walks through the guide: login, key, /v1/agents, exchange, list, delete',
    async () => {
      const env = onFreshPglite(framework, 'walkthrough-secret-walkthrough-secret-0')
      const server = await startServer(framework, env)
      try {
        const base = server.url
        expect(server.output()).toContain(`keyward example (${framework}) listening on http://127.0.0.1:`)
        // PGlite in the process: its channel is the store's own, listening from the start.
        await expect
          .poll(async () => call(`${base}/ready`))
          .toMatchObject({ status: 200, body: { ok: true, store: 'up', events: 'listening' } })

        expect((await call(`${base}/login`, { json: { username: 'demo', password: 'wrong' } })).status).toBe(
          401,
        )
        const login = await call(`${base}/login`, { json: { username: 'demo', password: 'demo' } })
        expect(login.status).toBe(200)
        const session = { authorization: `Bearer ${login.body.data.auth_token}` }

        const created = await call(`${base}/accounts/api-key`, {
          headers: session,
          json: { key_name: 'CI pipeline' },
        })
        expect(created.status).toBe(200)
        const { key, id } = created.body.data
        expect(key).toMatch(/^ms-[0-9a-f]{32}$/)

        const agents = await call(`${base}/v1/agents`, { headers: { authorization: `Bearer ${key}` } })
        expect(agents).toMatchObject({ status: 200, body: { user: 'demo' } })
        expect((await call(`${base}/v1/agents`, { headers: { 'x-api-key': key } })).status).toBe(200)

        const exchanged = await call(`${base}/accounts/auth-with-api-key`, { json: { api_key: key } })
        expect(exchanged.status).toBe(200)
        const viaToken = await call(`${base}/v1/agents`, {
          headers: { authorization: `Bearer ${exchanged.body.data.auth_token}` },
        })
        expect(viaToken.status).toBe(200)

        const listed = await call(`${base}/accounts/api-key`, { headers: { 'x-api-key': key } })
        expect(listed.body.data.map((entry: { id: string }) => entry.id)).toContain(id)
        expect(JSON.stringify(listed.body)).not.toContain(key)

        const deleted = await call(`${base}/accounts/api-key?id=${id}`, {
          method: 'DELETE',
          headers: session,
        })
        expect(deleted.status).toBe(200)
        // As the README shows it.
        const after = await call(`${base}/v1/agents`, { headers: { 'x-api-key': key } })
        expect(after.status).toBe(401)
        expect(after.headers.get('www-authenticate')).toBe('Bearer realm="keyward", error="invalid_token"')
        expect(after.body).toEqual({
          error: 'Invalid API key',
          message: 'The provided API key is invalid or expired',
        })
        expect(
          (
            await call(`${base}/v1/agents`, {
              headers: { authorization: `Bearer ${exchanged.body.data.auth_token}` },
            })
          ).status,
        ).toBe(401)

        // A key has its user's permissions: alice's may read the agents, not delete one (README).
        const alice = await call(`${base}/login`, { json: { username: 'alice', password: 'alice' } })
        const aliceKey = (
          await call(`${base}/accounts/api-key`, {
            headers: { authorization: `Bearer ${alice.body.data.auth_token}` },
            json: { key_name: 'read only' },
          })
        ).body.data.key
        const refused = await call(`${base}/v1/agents/agt_1`, {
          method: 'DELETE',
          headers: { 'x-api-key': aliceKey },
        })
        expect(refused).toMatchObject({
          status: 403,
          body: {
            error: 'Insufficient permissions',
            message: "Your API key doesn't have access to this resource",
          },
        })
        const removed = await call(`${base}/v1/agents/agt_1`, { method: 'DELETE', headers: session })
        expect(removed).toMatchObject({ status: 200, body: { data: { id: 'agt_1' }, user: 'demo' } })
        const left = await call(`${base}/v1/agents`, { headers: { 'x-api-key': aliceKey } })
        expect(left.body.data.map((agent: { id: string }) => agent.id)).toEqual(['agt_2'])
        expect((await call(`${base}/v1/agents/agt_1`, { method: 'DELETE', headers: session })).status).toBe(
          404,
        )
      } finally {
        expect(await server.stop()).toBe(0)
      }
    },
    START_TIMEOUT_MS + 30_000,
  )

  it(
    'keeps keys across a restart on the PGlite data folder',
    async () => {
      const env = onFreshPglite(`${framework}-restart`, 'restart-secret-restart-secret-restart-0')
      const first = await startServer(framework, env)
      let key: string
      try {
        const login = await call(`${first.url}/login`, { json: { username: 'alice', password: 'alice' } })
        const created = await call(`${first.url}/accounts/api-key`, {
          headers: { authorization: `Bearer ${login.body.data.auth_token}` },
          json: { key_name: 'survives restarts' },
        })
        key = created.body.data.key
      } finally {
        expect(await first.stop()).toBe(0)
      }
      const second = await startServer(framework, env)
      try {
        expect((await call(`${second.url}/v1/agents`, { headers: { 'x-api-key': key } })).status).toBe(200)
      } finally {
        expect(await second.stop()).toBe(0)
      }
    },
    2 * START_TIMEOUT_MS + 30_000,
  )
})
