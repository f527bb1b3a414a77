import { randomUUID } from 'node:crypto'
import type { ApiKeyRecord, StoreEvent } from '@keyward/core'
import { redisStore } from '@keyward/store-redis'
import { Cluster, Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { deleteUnder, keysUnder, randomPrefix } from './support.js'

const record = (userId: string): ApiKeyRecord => ({
  id: randomUUID(),
  userId,
  name: 'shared redis',
  digest: randomUUID().replaceAll('-', '').padEnd(64, 'f'),
  preview: 'ms-…ffff',
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + 86_400_000),
  lastUsedOn: null,
})

describeWith('REDIS_URL', 'redis store prefixes', (url) => {
  const client = new Redis(url)
  const prefixes = [randomPrefix(), randomPrefix()] as const
  afterAll(async () => {
    for (const prefix of prefixes) await deleteUnder(client, prefix)
    await client.quit()
  })

  it("keeps two apps sharing one Redis out of each other's keys and events", async () => {
    const [a, b] = prefixes.map((prefix) => redisStore({ client, prefix }))
    if (!a || !b) throw new Error('two stores')
    const heardByB: StoreEvent[] = []
    const unsubscribe = await b.subscribe!((event) => heardByB.push(event))
    try {
      const key = record('alice')
      await a.insertKey(key)
      await a.incrementCounter('login:alice', 60_000, new Date())

      expect(await b.findKeyByDigest(key.digest)).toBeNull()
      expect(await b.findKeyById(key.id)).toBeNull()
      expect(await b.listKeys('alice')).toEqual([])
      expect(await b.deleteKey('alice', { id: key.id })).toBeNull()
      expect(await b.peekCounter('login:alice', new Date())).toBeNull()
      // The same digest is a different key in the other app.
      await b.insertKey({ ...key, name: 'in b' })
      expect((await b.findKeyById(key.id))?.name).toBe('in b')
      expect((await a.findKeyById(key.id))?.name).toBe('shared redis')

      // Deleting in A is announced on A's channel only. Messages on one connection arrive in
      // order, so had B heard A's deletion, it would be the first event B saw.
      expect(await a.deleteKey('alice', { id: key.id })).toEqual(key)
      const own = record('alice')
      await b.insertKey(own)
      await b.deleteKey('alice', { id: own.id })
      await expect.poll(() => heardByB.length, { timeout: 5_000 }).toBe(1)
      expect(heardByB).toEqual([{ type: 'key.deleted', keyId: own.id, digest: own.digest }])

      for (const prefix of prefixes) {
        for (const name of await keysUnder(client, prefix)) expect(name.startsWith(prefix)).toBe(true)
      }
      expect(await keysUnder(client, prefixes[0])).toEqual([`${prefixes[0]}counter:login:alice`])
    } finally {
      await unsubscribe()
    }
  })

  it('uses the keyward: prefix by default', async () => {
    const store = redisStore({ client })
    const bucket = `test:${randomUUID()}`
    await store.incrementCounter(bucket, 60_000, new Date())
    try {
      expect(await client.hget(`keyward:counter:${bucket}`, 'count')).toBe('1')
    } finally {
      await store.resetCounter(bucket)
    }
  })

  it('refuses options it cannot honour, naming the option', () => {
    const refusal = (option: string) => expect.objectContaining({ name: 'KeywardConfigError', option })
    expect(() => redisStore({ client, prefix: '' })).toThrow(refusal('prefix'))
    expect(() => redisStore({ client, prefix: '' })).toThrow(
      /must be a non-empty string with no lone surrogate/,
    )
    // Redis would name its events channel back with U+FFFD: no deletion heard from other instances.
    expect(() => redisStore({ client, prefix: 'app-\ud800:' })).toThrow(refusal('prefix'))
    expect(redisStore({ client, prefix: 'app-\u{1f511}:' })).toBeDefined()
    const prefixed = new Redis(url, { keyPrefix: 'app:', lazyConnect: true })
    expect(() => redisStore({ client: prefixed })).toThrow(
      /keyPrefix: set redisStore\(\{ prefix \}\) instead/,
    )
    prefixed.disconnect()
    // A Cluster has duplicate() and evalsha() too, but the scripts derive keys a Cluster would not route.
    const cluster = new Cluster([url], { lazyConnect: true })
    expect(() => redisStore({ client: cluster as unknown as Redis })).toThrow(/not a Cluster/)
    expect(() => redisStore({ client: cluster as unknown as Redis })).toThrow(refusal('client'))
    cluster.disconnect()
    // @ts-expect-error not a client
    expect(() => redisStore({ client: {} })).toThrow(refusal('client'))
    // A node-redis client: duplicate() as ioredis's, but camel-cased commands.
    const nodeRedis = { duplicate: () => nodeRedis, evalSha: async () => null, hGetAll: async () => ({}) }
    // @ts-expect-error not an ioredis client
    expect(() => redisStore({ client: nodeRedis })).toThrow(/node-redis is not supported/)
    // @ts-expect-error no options
    expect(() => redisStore()).toThrow(refusal('options'))
    // @ts-expect-error no options
    expect(() => redisStore()).toThrow(/must be an object: redisStore\(\{ client, prefix\? \}\)/)
    expect(redisStore({ client })).toBeTypeOf('object')
  })
})
