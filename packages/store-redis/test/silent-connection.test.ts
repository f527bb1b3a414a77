/**
 * A connection that falls silent (the peer stops answering without closing it: a failover, a NAT's
 * or load balancer's idle drop) must be dropped, or the instance answers 503 for good after Redis
 * is reachable again: `commandTimeout` fails each command but keeps the dead connection. The client
 * here is the README's (its Usage snippet, read from the README), its timeouts scaled down, through
 * a proxy that black-holes every flow open at the time, as such a network does.
 *
 * Run on the workspace's ioredis (6) only: 5.3.0, the oldest the peer range accepts, has no
 * `socketTimeout` (5.4 added it; see the README for the release to use).
 */
import { readFileSync } from 'node:fs'
import { createKeyward, StoreUnavailableError } from '@keyward/core'
import { redisStore } from '@keyward/store-redis'
import { Redis, type RedisOptions } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { type CuttableProxy, cuttableProxy } from '../../../test/support/cuttable-proxy.js'
import { describeWith } from '../../../test/support/services.js'
import { deleteUnder, randomPrefix } from './support.js'

/** keyward's own bound on a store call (`storeTimeout`), by default: the README's snippet keeps it. */
const STORE_TIMEOUT_MS = 5_000
/** The README's timeouts are run at a fifth, so that the test takes seconds and not tens of them. */
const SCALE = 1 / 5

type ClientOptions = Record<string, number | boolean>

/** The options of the `new Redis(url, { … })` in the README's Usage snippet, as written there. */
function readmeClientOptions(): ClientOptions {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const usage = readme.split('\n## Usage\n')[1]?.split('\n```ts\n')[1]?.split('\n```')[0]
  const body = usage?.match(/new Redis\([^,]+, \{\n([\s\S]*?)\n\}\)/)?.[1]
  if (body === undefined) throw new Error("the README's Usage has no `new Redis(url, { … })`")
  const options: ClientOptions = {}
  for (const line of body.split('\n').map((text) => text.trim())) {
    if (line === '' || line.startsWith('//')) continue
    const [, name, value] = /^(\w+): (true|false|[\d_]+),$/.exec(line) ?? []
    if (name === undefined || value === undefined) throw new Error(`unread README option line: ${line}`)
    options[name] = value === 'true' ? true : value === 'false' ? false : Number(value.replaceAll('_', ''))
  }
  return options
}

/** The README's options with every timeout (`…Timeout`, in ms) scaled by SCALE. */
function scaledClientOptions(): RedisOptions {
  return Object.fromEntries(
    Object.entries(readmeClientOptions()).map(([name, value]) => [
      name,
      name.endsWith('Timeout') && typeof value === 'number' ? Math.round(value * SCALE) : value,
    ]),
  )
}

describe("the README's Redis client options", () => {
  it("drop a silent connection (socketTimeout), after commandTimeout and before keyward's storeTimeout", () => {
    const options = readmeClientOptions()
    expect(options).toHaveProperty('socketTimeout')
    expect(options.commandTimeout).toBeLessThan(options.socketTimeout as number)
    expect(options.socketTimeout).toBeLessThan(STORE_TIMEOUT_MS)
  })
})

/** Every flow open now carries nothing more, for good, and new ones are never answered until `restore`. */
const blackhole = (proxy: CuttableProxy) => {
  proxy.stall()
  proxy.silence()
}

describeWith(
  'REDIS_URL',
  "redis store on the README's client, through a connection that falls silent",
  (url) => {
    /**
     * The proxy, and a keyward over the README's client (scaled) through it, for `body`.
     */
    async function throughBlackhole(
      body: (proxy: CuttableProxy, keyward: ReturnType<typeof createKeyward>, client: Redis) => Promise<void>,
    ): Promise<void> {
      const target = new URL(url)
      const proxy = await cuttableProxy(target.hostname, Number(target.port || 6379))
      target.host = `127.0.0.1:${proxy.port}`
      const client = new Redis(target.toString(), scaledClientOptions())
      client.on('error', () => {})
      const prefix = randomPrefix()
      const direct = new Redis(url)
      try {
        await client.connect()
        const keyward = createKeyward({
          jwtSecret: 'store-redis-test-secret-0123456789abcdef0',
          store: redisStore({ client, prefix }),
          users: { get: (id) => ({ id, permissions: [] }) },
          rateLimit: false,
          storeTimeout: `${STORE_TIMEOUT_MS * SCALE}ms`,
          // Every verification asks the store.
          cache: { ttl: '1ms' },
        })
        try {
          await body(proxy, keyward, client)
        } finally {
          await keyward.close()
        }
      } finally {
        client.disconnect()
        await proxy.close()
        await deleteUnder(direct, prefix)
        await direct.quit()
      }
    }

    /** A verification's outcome, or the failure that refused it, named (what a failed poll shows). */
    const verifying = (keyward: ReturnType<typeof createKeyward>, key: string) =>
      keyward.verifyKey(key).catch((error: Error) => `${error.name}: ${(error.cause as Error)?.message}`)

    /** How long after the network is back the key must verify again: the dead connection's drop and a reconnection. */
    const recoveryMs = () => (scaledClientOptions().socketTimeout ?? 0) + 3_000

    it('fails closed while silent, and verifies again once the network is back', async () => {
      await throughBlackhole(async (proxy, keyward) => {
        const { key } = await keyward.issueKey('alice', { name: 'silent connection' })
        expect(await keyward.verifyKey(key)).toMatchObject({ ok: true })
        blackhole(proxy)
        await expect(keyward.verifyKey(key)).rejects.toBeInstanceOf(StoreUnavailableError)
        proxy.restore()
        await expect
          .poll(() => verifying(keyward, key), { timeout: recoveryMs(), interval: 50 })
          .toMatchObject({ ok: true })
      })
    })

    it('drops reconnections that are never answered too, and verifies once the network is back', async () => {
      await throughBlackhole(async (proxy, keyward, client) => {
        const { key } = await keyward.issueKey('bob', { name: 'silent connection' })
        // The client's own connections (its subscriber, a duplicate, makes others through the proxy).
        let connections = 0
        client.on('connect', () => {
          connections += 1
        })
        blackhole(proxy)
        await expect(keyward.verifyKey(key)).rejects.toBeInstanceOf(StoreUnavailableError)
        // The silent connection is dropped; the reconnection lands in the black hole, is never
        // answered (its handshake is timed too), and is dropped for another.
        await expect
          .poll(() => connections, { timeout: recoveryMs() * 2, interval: 50 })
          .toBeGreaterThanOrEqual(2)
        await expect(keyward.verifyKey(key)).rejects.toBeInstanceOf(StoreUnavailableError)
        proxy.restore()
        await expect
          .poll(() => verifying(keyward, key), { timeout: recoveryMs(), interval: 50 })
          .toMatchObject({ ok: true })
      })
    })
  },
)
