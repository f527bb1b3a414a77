/**
 * One contract run per framework: a fresh keyward (memory store, manual clock) and a real
 * server for every test, closed after it; the host's error handler must have seen nothing.
 */
import type { KeywardOptions } from '@keyward/core'
import { afterEach, beforeEach, expect } from 'vitest'
import { type Api, client, data, type IssuedKeyData, type TokensData, withKey } from './client.js'
import { createFixture, type Fixture } from './fixture.js'
import { type Framework, type RunningServer, START_SERVER } from './servers.js'

export interface Contract extends Fixture {
  readonly api: Api
  readonly server: RunningServer
  /** A key issued through the library, as a host's own sign-in would (the HTTP route needs one first). */
  keyFor(userId: string, name?: string): Promise<string>
  /** The token pair for a key, through POST /accounts/auth-with-api-key. */
  tokensFor(key: string): Promise<TokensData>
  /** A key issued over HTTP, with its whole response. */
  issueOverHttp(credentialKey: string, name: string): Promise<IssuedKeyData>
}

export function useContract(framework: Framework, options: Partial<KeywardOptions> = {}): Contract {
  let current: Contract | undefined
  const get = (): Contract => {
    if (current === undefined) throw new Error('the contract server is not running')
    return current
  }

  beforeEach(async () => {
    const fixture = createFixture(options)
    const server = await START_SERVER[framework](fixture.keyward)
    const api = client(server.url, options.basePath)
    current = {
      ...fixture,
      api,
      server,
      keyFor: async (userId, name = 'bootstrap') => (await fixture.keyward.issueKey(userId, { name })).key,
      tokensFor: async (key) =>
        data<TokensData>(await api('POST', '/accounts/auth-with-api-key', { json: { api_key: key } })),
      issueOverHttp: async (credentialKey, name) =>
        data<IssuedKeyData>(
          await api('POST', '/accounts/api-key', {
            headers: withKey(credentialKey),
            json: { key_name: name },
          }),
        ),
    }
  })

  afterEach(async () => {
    const { server, keyward } = get()
    current = undefined
    await server.close()
    await keyward.close()
    expect(server.hostErrors).toEqual([])
  })

  return new Proxy({} as Contract, { get: (_target, name) => Reflect.get(get(), name) })
}
