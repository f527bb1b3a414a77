import { describe, expect, it } from 'vitest'
import { rawRequest } from '../security/support/raw-http.js'
import { withKey } from './support/client.js'
import { useContract } from './support/contract.js'
import { FRAMEWORKS } from './support/servers.js'

/** The base_url of the credentials document a key issued over HTTP comes with. */
const baseUrlOf = (creds: string): unknown => JSON.parse(creds).base_url

describe.each(FRAMEWORKS)("the credentials document's base_url over %s", (framework) => {
  describe('without a baseUrl option', () => {
    const t = useContract(framework)

    it('is null when the Host header is not a plain host, so a client never saves an injected URL', async () => {
      const alice = await t.keyFor('alice')
      for (const host of ['attacker.example/phish?', 'attacker.example@127.0.0.1']) {
        const reply = await rawRequest(t.server.url, {
          method: 'POST',
          target: '/accounts/api-key',
          headers: [
            ['host', host],
            ['x-api-key', alice],
            ['content-type', 'application/json'],
          ],
          body: Buffer.from(JSON.stringify({ key_name: 'ci' })),
        })
        expect(reply.status).toBe(200)
        expect(baseUrlOf(JSON.parse(reply.body).data.creds)).toBeNull()
      }
    })
  })

  describe('under a basePath', () => {
    const t = useContract(framework, { basePath: '/auth' })

    it('ends with the basePath, where the routes are', async () => {
      const reply = await t.api('POST', '/auth/accounts/api-key', {
        headers: withKey(await t.keyFor('alice')),
        json: { key_name: 'ci' },
      })
      expect(reply.status).toBe(200)
      expect(baseUrlOf((reply.body as { data: { creds: string } }).data.creds)).toBe(`${t.server.url}/auth`)
    })

    it('answers a method the route does not serve with 405 and the documented Allow', async () => {
      const reply = await t.api('PUT', '/auth/accounts/api-key', {
        headers: withKey(await t.keyFor('alice')),
      })
      expect(reply.status).toBe(405)
      expect(reply.body).toMatchObject({ message: 'Use POST, GET, HEAD, DELETE on /auth/accounts/api-key' })
    })
  })

  describe('with a baseUrl option', () => {
    const t = useContract(framework, { baseUrl: 'https://api.example.com/auth' })

    it('is the option as given, not one built from the request', async () => {
      const issued = await t.issueOverHttp(await t.keyFor('alice'), 'ci')
      expect(baseUrlOf(issued.creds)).toBe('https://api.example.com/auth')
    })
  })
})
