/**
 * Many requests on one keep-alive connection, as API clients send them. The guard remembers the
 * last key verified on a connection (to skip its SHA-256); whatever it remembers, every request
 * must get the answer it would get on a fresh connection.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { oneConnection } from './support/connection.js'
import { useContract } from './support/contract.js'
import { DAY } from './support/fixture.js'
import { FRAMEWORKS } from './support/servers.js'

describe.each(FRAMEWORKS)('one keep-alive connection over %s', (framework) => {
  const t = useContract(framework)
  let connection: ReturnType<typeof oneConnection> | undefined
  afterEach(() => connection?.close())
  const agents = (key: string) => connection?.get('/v1/agents', { 'x-api-key': key }) ?? Promise.resolve(0)

  it('answers every request as a fresh connection would: other keys, forged keys, deletion', async () => {
    connection = oneConnection(t.server.url)
    const first = await t.keyward.issueKey('alice', { name: 'first' })
    const second = await t.keyward.issueKey('alice', { name: 'second' })
    const forged = `${first.key.slice(0, -1)}${first.key.endsWith('0') ? '1' : '0'}`
    const statuses = [
      await agents(first.key),
      await agents(first.key),
      await agents(forged),
      await agents(first.key),
      await agents(second.key),
      await agents(first.key),
    ]
    await t.keyward.deleteKey('alice', { id: first.id })
    statuses.push(await agents(first.key), await agents(second.key), await agents(first.key))
    expect(statuses).toEqual([200, 200, 401, 200, 200, 200, 401, 200, 401])
    expect(connection.sockets.size).toBe(1)
  })

  it('hands the route the same principal from memory as on the first, full check', async () => {
    connection = oneConnection(t.server.url)
    const key = await t.keyFor('alice')
    const { auth_token } = await t.tokensFor(key)
    for (const headers of [
      { 'x-api-key': key } as Record<string, string>,
      { authorization: `Bearer ${key}` },
      { authorization: `Bearer ${auth_token}` },
    ]) {
      const replies: { status: number; body: string }[] = []
      for (let i = 0; i < 3; i++) replies.push(await connection.send('/v1/me', headers))
      expect(replies[0]).toMatchObject({ status: 200, body: expect.stringContaining('"alice"') })
      expect(replies.slice(1)).toEqual([replies[0], replies[0]])
    }
    expect(connection.sockets.size).toBe(1)
  })

  it('refuses a key on the connection that verified it once it has expired', async () => {
    connection = oneConnection(t.server.url)
    const key = await t.keyFor('alice')
    expect([await agents(key), await agents(key)]).toEqual([200, 200])
    t.clock.advance(92 * DAY)
    expect(await agents(key)).toBe(401)
    expect(connection.sockets.size).toBe(1)
  })
})
