import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { type Clock, createKeyward, type KeyStore } from '@keyward/core'
import { redisStore } from '@keyward/store-redis'
import { Redis, type RedisOptions } from 'ioredis'
import { type RedisOptions as OldestOptions, Redis as OldestRedis } from 'ioredis-5.3.0'
import { type RedisOptions as FirstSixOptions, Redis as FirstSixRedis } from 'ioredis-6.0.0'
import { afterAll } from 'vitest'

const newest: string = createRequire(import.meta.url)('ioredis/package.json').version

/**
 * The ioredis releases the store is tested on: the workspace's (the newest, which a host installing
 * today gets), and the floor of each line its peerDependencies accept, installed under aliases:
 * 6.0.0 (RESP3) and 5.3.0 (the first to export `Redis` by name; RESP2).
 */
export const CLIENTS: ReadonlyArray<
  readonly [release: string, connect: (url: string, options?: RedisOptions) => Redis]
> = [
  [`ioredis ${newest}`, (url, options = {}) => new Redis(url, options)],
  [
    'ioredis 6.0.0',
    (url, options = {}) => new FirstSixRedis(url, options as FirstSixOptions) as unknown as Redis,
  ],
  [
    'ioredis 5.3.0',
    (url, options = {}) => new OldestRedis(url, options as OldestOptions) as unknown as Redis,
  ],
]

/** A prefix of its own for each run, so parallel runs and leftovers never meet. */
export const randomPrefix = () => `kw_test_${randomBytes(6).toString('hex')}:`

/** A store on a client and prefix of the suite's own, both cleaned up when the suite ends. */
export function suiteStore(url: string) {
  const client = new Redis(url)
  const prefix = randomPrefix()
  const store = redisStore({ client, prefix })
  afterAll(async () => {
    await deleteUnder(client, prefix)
    await client.quit()
  })
  return { client, prefix, store }
}

/** Every Redis key under the prefix. */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    const [nextCursor, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    found.push(...batch)
    cursor = nextCursor
  } while (cursor !== '0')
  return found.sort()
}

/** Every key under the prefix with its value, as text: what a stolen dump would show. */
export async function dumpPrefix(client: Redis, prefix: string): Promise<string> {
  const lines: string[] = []
  for (const key of await keysUnder(client, prefix)) {
    const type = await client.type(key)
    let value: unknown
    if (type === 'string') value = await client.get(key)
    else if (type === 'hash') value = await client.hgetall(key)
    else if (type === 'set') value = await client.smembers(key)
    else if (type === 'zset') value = await client.zrange(key, '0', '-1', 'WITHSCORES')
    else value = `<${type}>`
    lines.push(`${key} ${JSON.stringify(value)}`)
  }
  return lines.join('\n')
}

/** Deletes every key under the prefix. */
export async function deleteUnder(client: Redis, prefix: string): Promise<void> {
  const found = await keysUnder(client, prefix)
  if (found.length > 0) await client.del(...found)
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A client that fails fast while Redis is away, as a host wanting 503s rather than waits would set it. */
export function failFastClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true })
  client.on('error', () => {})
  return client
}

/** A keyward over the store, with every user known. */
export const keywardOver = (store: KeyStore, clock?: Clock) =>
  createKeyward({
    jwtSecret: 'store-redis-test-secret-0123456789abcdef0',
    store,
    users: { get: (id) => ({ id, permissions: [] }) },
    rateLimit: false,
    clock,
  })

/** Well-formed for the default key format, but never issued. */
export const wellFormedKey = () => `ms-${randomBytes(16).toString('hex')}`
