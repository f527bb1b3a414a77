import { randomUUID } from 'node:crypto'
import { encodeStoreEvent, StoreUnavailableError } from '@keyward/core'
import { sampleKeyRecord } from '@keyward/core/testing'
import { redisStore } from '@keyward/store-redis'
import type { Redis, RedisOptions } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CuttableProxy,
  cuttableProxy,
  expectDeletionHeard,
  expectFailsClosedWhileCut,
} from '../../../test/support/cuttable-proxy.js'
import { describeWith } from '../../../test/support/services.js'
import { type SubscriberChecks, subscribeToEvents } from '../src/subscriber.js'
import {
  CLIENTS,
  closedPort,
  deleteUnder,
  failFastClient,
  keywardOver,
  randomPrefix,
  wellFormedKey,
} from './support.js'

describe('redis store with Redis unreachable', () => {
  it('rejects (never answers null) and keyward fails closed with StoreUnavailableError', async () => {
    const client = failFastClient(`redis://127.0.0.1:${await closedPort()}`)
    const store = redisStore({ client })
    const keyward = keywardOver(store)
    try {
      await expect(store.findKeyByDigest('0'.repeat(64))).rejects.toThrow()
      await expect(store.findKeyById(randomUUID())).rejects.toThrow()
      await expect(store.listKeys('alice')).rejects.toThrow()
      await expect(store.peekCounter('bucket', new Date())).rejects.toThrow()
      // A first subscription that fails rejects: its trouble is not told to onError as well.
      const reported: unknown[] = []
      await expect(
        store.subscribe!(
          () => {},
          (error) => reported.push(error),
        ),
      ).rejects.toThrow()
      await expect(keyward.verifyKey(wellFormedKey())).rejects.toBeInstanceOf(StoreUnavailableError)
      expect(reported).toEqual([])
    } finally {
      await keyward.close()
      client.disconnect()
    }
  })
})

describeWith('REDIS_URL', 'redis store through a connection that is cut and restored', (url) => {
  describe.each(CLIENTS)('through %s', (_release, connect) => {
    const prefix = randomPrefix()
    const direct = connect(url)
    let proxy: CuttableProxy
    let proxied: Redis

    beforeAll(async () => {
      const target = new URL(url)
      proxy = await cuttableProxy(target.hostname, Number(target.port || 6379))
      target.host = `127.0.0.1:${proxy.port}`
      // Reconnect quickly, so the test waits on the reconnection and not on a backoff.
      proxied = connect(target.toString(), {
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        lazyConnect: true,
        retryStrategy: () => 50,
      })
      proxied.on('error', () => {})
      await proxied.connect()
    })
    afterAll(async () => {
      proxied?.disconnect()
      await proxy?.close()
      await deleteUnder(direct, prefix)
      await direct.quit()
    })

    const subscribers = async () => {
      const [, count] = (await direct.pubsub('NUMSUB', `${prefix}events`)) as [string, number]
      return count
    }

    /** The subscriber connections of that name as Redis lists them: id, last command, channels subscribed. */
    const connectionsNamed = async (name: string) =>
      String(await direct.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
        .split('\n')
        .filter((line) => line.includes(` name=${name} `))
        .map((line) => ({
          id: line.match(/^id=(\d+)/)?.[1],
          cmd: line.match(/ cmd=(\S+)/)?.[1],
          sub: Number(line.match(/ sub=(\d+)/)?.[1]),
        }))

    /**
     * Whether another connection of that name than `stalled` has subscribed, whether or not Redis
     * still lists the stalled one (it may, while the proxy holds its socket).
     */
    const replacementOf = (name: string, stalled: { id?: string | undefined } | undefined) => async () =>
      (await connectionsNamed(name)).some(
        (connection) => connection.id !== stalled?.id && connection.sub === 1,
      )

    /** Subscribes through `client`, keeping the key ids heard and the messages of the troubles reported. */
    const subscribeKeeping = async (client: Redis, checks: Partial<SubscriberChecks>) => {
      const received: string[] = []
      const errors: string[] = []
      let resumed = 0
      const stop = await subscribeToEvents(
        client,
        `${prefix}events`,
        (event) => received.push(event.keyId),
        (error) => errors.push((error as Error).message),
        checks,
        () => resumed++,
      )
      return { stop, received, errors, resumptions: () => resumed }
    }

    /** A proxy of its own and a client through it, never connected: the subscriber's is the only connection there. */
    const throughOwnProxy = async (options: RedisOptions = {}) => {
      const target = new URL(url)
      const own = await cuttableProxy(target.hostname, Number(target.port || 6379))
      target.host = `127.0.0.1:${own.port}`
      const client = connect(target.toString(), { lazyConnect: true, retryStrategy: () => 50, ...options })
      const close = async () => {
        client.disconnect()
        await own.close()
      }
      return { own, client, close }
    }

    it('fails closed while cut and answers again once restored', async () => {
      const store = redisStore({ client: proxied, prefix })
      await expectFailsClosedWhileCut(proxy, store, keywardOver(store), wellFormedKey(), 'on a timer')
    })

    it('keeps delivering key.deleted events after its subscriber connection is cut', async () => {
      const listening = redisStore({ client: proxied, prefix })
      const deleting = redisStore({ client: direct, prefix })
      const received: string[] = []
      let resumed = 0
      const unsubscribe = await listening.subscribe(
        (event) => received.push(event.keyId),
        undefined,
        () => resumed++,
      )
      try {
        expect(await subscribers()).toBe(1)
        proxy.cut()
        await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
        expect(resumed).toBe(0)
        proxy.restore()
        // ioredis reconnects, and the store subscribes again, and tells keyward it listens again:
        // what was published in between was lost.
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        await expectDeletionHeard(deleting, received)
        expect(resumed).toBe(1)
      } finally {
        await unsubscribe()
      }
      // Unsubscribing closes the subscriber connection.
      await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
    })

    it('reports each subscriber connection closed without an error, once, and subscribes again', async () => {
      const { own, client, close } = await throughOwnProxy()
      const { stop, received, errors, resumptions } = await subscribeKeeping(client, {})
      const closedMessage = 'keyward: the subscriber connection closed; it reconnects and subscribes again'
      try {
        expect(await subscribers()).toBe(1)
        // The proxy closes the connection as a server's CLIENT KILL or an idle timeout would; the
        // reconnection's own close, later, is news again. Restored at once, so that no reconnection
        // meets the cut: a refused one's error (ECONNRESET, EPIPE) would be news too, as documented.
        for (const closes of [1, 2]) {
          own.cut()
          own.restore()
          await expect.poll(resumptions, { timeout: 10_000 }).toBe(closes)
          await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
          await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
          expect(errors).toEqual(Array(closes).fill(closedMessage))
        }
      } finally {
        await stop()
        await close()
      }
      expect(errors).toHaveLength(2)
    })

    it('subscribes again after reconnections that close as soon as they are ready, leaving no rejection unhandled', async () => {
      const unhandled: unknown[] = []
      const noteUnhandled = (reason: unknown) => unhandled.push(reason)
      process.on('unhandledRejection', noteUnhandled)
      // No offline queue, as the client above.
      const { own, client, close } = await throughOwnProxy({
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      })
      const received: string[] = []
      const stop = await subscribeToEvents(client, `${prefix}events`, (event) => received.push(event.keyId))
      try {
        for (let round = 0; round < 5; round++) {
          // The readiness check (INFO) of the next connection is answered, then it closes.
          const ended = own.endAfterReply(/\$4\r\ninfo\r\n/i)
          own.cut()
          // Until Redis has seen the cut, it still counts the connection that was subscribed.
          await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
          own.restore()
          await ended
          await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        }
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
        expect(unhandled).toEqual([])
      } finally {
        process.off('unhandledRejection', noteUnhandled)
        await stop()
        await close()
      }
    })

    it('gets new connections, backing off, while the server refuses its SUBSCRIBE, and subscribes once allowed again', async () => {
      // A user of its own, whose channel rights an ACL change takes away and gives back; the
      // proxy counts the subscriber's connections.
      const user = `kw_test_${randomUUID().slice(0, 8)}`
      await direct.call('ACL', 'SETUSER', user, 'on', '>secret', '~*', '&*', '+@all')
      const { own, client, close } = await throughOwnProxy({ username: user, password: 'secret' })
      const { stop, received, errors } = await subscribeKeeping(client, {
        firstRetryMs: 100,
        maxRetryMs: 2_000,
      })
      try {
        expect(await subscribers()).toBe(1)
        // Redis drops the subscribed connection; each reconnection's SUBSCRIBE is refused (NOPERM).
        await direct.call('ACL', 'SETUSER', user, 'resetchannels')
        await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
        // Rights come back only once a SUBSCRIBE has been refused (the ACL log records it).
        const refused = async () => JSON.stringify(await direct.call('ACL', 'LOG')).includes(user)
        await expect.poll(refused, { timeout: 5_000 }).toBe(true)
        // ioredis alone would reconnect every 50 ms (its retry count starts over at each 'ready'),
        // some 40 connections in 2 s; backing off from 100 ms, there are a handful at most.
        const before = own.accepted
        await new Promise((resolve) => setTimeout(resolve, 2_000))
        expect(own.accepted - before).toBeLessThan(10)
        // Each refusal is reported, as the server gave it.
        expect(errors.some((error) => error.startsWith('NOPERM'))).toBe(true)
        await direct.call('ACL', 'SETUSER', user, '&*')
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
      } finally {
        await stop()
        await close()
        await direct.call('ACL', 'DELUSER', user)
      }
    })

    it('reports each failed reconnection of its subscriber connection, with the error of it', async () => {
      const { own, client } = await throughOwnProxy()
      const { stop, errors } = await subscribeKeeping(client, {})
      try {
        // The server goes: every reconnection is refused.
        await own.close()
        await expect
          .poll(() => errors.filter((message) => message.includes('ECONNREFUSED')).length, { timeout: 5_000 })
          .toBeGreaterThan(1)
      } finally {
        await stop()
        client.disconnect()
      }
    })

    it('tells nothing once closed: the end of its connection, by its own QUIT, is no trouble', async () => {
      const { stop, errors } = await subscribeKeeping(direct, {})
      expect(await subscribers()).toBe(1)
      await stop()
      // Redis has dropped the connection, and a round trip later the subscriber has seen it end.
      await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
      await direct.ping()
      expect(errors).toEqual([])
    })

    it("reports that its connection ended for good when the client's retryStrategy gives up", async () => {
      const { own, client, close } = await throughOwnProxy({ retryStrategy: () => null })
      const { stop, errors } = await subscribeKeeping(client, {})
      try {
        expect(errors).toEqual([])
        own.cut()
        await expect
          .poll(() => errors, { timeout: 5_000 })
          .toContain(
            "keyward: the subscriber connection ended, and its client's retryStrategy will not reconnect it",
          )
      } finally {
        await stop()
        await close()
      }
    })

    it('reports a connection that ends for good with its SUBSCRIBE in flight as closed and ended, not as a refusal', async () => {
      let reconnecting = true
      const { own, client, close } = await throughOwnProxy({
        retryStrategy: () => (reconnecting ? 50 : null),
      })
      const { stop, errors } = await subscribeKeeping(client, {})
      const closedMessage = 'keyward: the subscriber connection closed; it reconnects and subscribes again'
      const endedMessage =
        "keyward: the subscriber connection ended, and its client's retryStrategy will not reconnect it"
      try {
        // The subscribed connection drops; the reconnection's SUBSCRIBE reaches Redis, unanswered.
        const inFlight = own.holdReplyTo(/subscribe/i)
        own.cut()
        own.restore()
        await inFlight
        // That connection drops too, and the client's retryStrategy gives up: ioredis rejects the
        // SUBSCRIBE as the connection is closed, which is no refusal of the server's.
        reconnecting = false
        own.cut()
        await expect.poll(() => errors, { timeout: 5_000 }).toContain(endedMessage)
        expect(errors).toEqual([closedMessage, closedMessage, endedMessage])
      } finally {
        await stop()
        await close()
      }
    })

    it('rejects its first subscription when the server accepts the connection but never answers', async () => {
      const { own, client, close } = await throughOwnProxy()
      try {
        own.silence()
        // ioredis times the TCP connection only: its ready check, and the SUBSCRIBE, would wait for good.
        await expect(
          subscribeToEvents(
            client,
            `${prefix}events`,
            () => {},
            () => {},
            { timeoutMs: 300 },
          ),
        ).rejects.toThrow(/did not answer/)
        // Core's subscribeWithRetry tries again, on a connection of its own.
        own.restore()
        const stop = await subscribeToEvents(client, `${prefix}events`, () => {})
        expect(await subscribers()).toBe(1)
        await stop()
      } finally {
        await close()
      }
    })

    it('replaces a reconnection that is never answered, and subscribes on the next', async () => {
      // Named, so that Redis can drop this test's subscriber alone (the duplicate takes the name).
      const name = `kw-test-${randomUUID().slice(0, 8)}`
      const { own, client, close } = await throughOwnProxy({ connectionName: name })
      const { stop, received, errors } = await subscribeKeeping(client, { timeoutMs: 300 })
      try {
        expect(await subscribers()).toBe(1)
        // The next connection gets through TCP and is never answered, even once the proxy
        // forwards again: a flow black-holed on the way, while new ones pass.
        own.silence()
        const before = own.accepted
        const [{ id } = { id: undefined }] = await connectionsNamed(name)
        expect(id).toBeDefined()
        await direct.call('CLIENT', 'KILL', 'ID', id as string)
        await expect.poll(() => own.accepted - before, { timeout: 5_000 }).toBe(1)
        await expect
          .poll(() => errors, { timeout: 5_000 })
          .toContain('keyward: the subscriber connection was not ready in 300 ms')
        own.restore()
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
      } finally {
        await stop()
        await close()
      }
    })

    it('replaces a subscriber connection that falls silent without closing', async () => {
      // Named, so that Redis shows the replacement by its own connection.
      const name = `kw-test-${randomUUID().slice(0, 8)}`
      const { own, client, close } = await throughOwnProxy({ connectionName: name })
      // A second to answer a check, so that a loaded machine's slow answer is not taken for silence.
      const { stop, received, errors } = await subscribeKeeping(client, { everyMs: 100, timeoutMs: 1_000 })
      try {
        expect(await subscribers()).toBe(1)
        const [stalled] = await connectionsNamed(name)
        expect(stalled?.sub).toBe(1)
        // No FIN, no RST: ioredis emits nothing; only the check finds the connection silent.
        own.stall()
        await expect.poll(replacementOf(name, stalled), { timeout: 10_000 }).toBe(true)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
        // Told once: the close of the connection it dropped for silence is not news again.
        expect(errors).toEqual(['keyward: the subscriber connection did not answer in 1000 ms'])
      } finally {
        await stop()
        await close()
      }
    })

    it("never says it resumed when it was closed while a reconnection's SUBSCRIBE was in flight", async () => {
      const { own, client, close } = await throughOwnProxy()
      let resumed = 0
      const stop = await subscribeToEvents(
        client,
        `${prefix}events`,
        () => {},
        () => {},
        {},
        () => resumed++,
      )
      try {
        const inFlight = own.holdReplyTo(/subscribe/i)
        // The subscribed connection drops; the reconnection's SUBSCRIBE reaches Redis, unanswered.
        own.cut()
        own.restore()
        const answer = await inFlight
        const stopping = stop()
        // SUBSCRIBE is answered once it is closed, then QUIT.
        answer()
        await stopping
        expect(resumed).toBe(0)
      } finally {
        await close()
      }
    })

    it('hands on no event once closed, not even one already on its way when it was', async () => {
      const { own, client, close } = await throughOwnProxy()
      // A check every 100 ms, given all the time it needs: its held answer is no silence.
      const { stop, received } = await subscribeKeeping(client, { everyMs: 100, timeoutMs: 10_000 })
      try {
        // A check reaches Redis and its answer is held, with all Redis sends after it.
        const answer = await own.holdReplyTo(/ping/i)
        const event = encodeStoreEvent({ type: 'key.deleted', keyId: randomUUID(), digest: '0'.repeat(64) })
        // Published to this subscriber alone, and held back with that answer: on its way.
        expect(await direct.publish(`${prefix}events`, event)).toBe(1)
        const stopping = stop()
        // The answer and the event reach it once it is closed, then its QUIT's.
        answer()
        await stopping
        expect(received).toEqual([])
      } finally {
        await close()
      }
    })

    it('keeps checking its connection after a reconnection, and replaces one that falls silent then', async () => {
      // Named, so that Redis shows the check this test's subscriber answered.
      const name = `kw-test-${randomUUID().slice(0, 8)}`
      const { own, client, close } = await throughOwnProxy({ connectionName: name })
      // A second to be ready or to answer a check, so that a loaded machine's slow reconnection is
      // not taken for a silent one.
      const { stop, received, errors } = await subscribeKeeping(client, { everyMs: 100, timeoutMs: 1_000 })
      const connections = () => connectionsNamed(name)
      try {
        own.cut()
        await expect.poll(subscribers, { timeout: 5_000 }).toBe(0)
        own.restore()
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        // The reconnection answers its checks, as the first connection did.
        const checked = async () => (await connections()).map((connection) => connection.cmd)
        await expect.poll(checked, { timeout: 5_000 }).toEqual(['ping'])
        const [stalled] = await connections()
        own.stall()
        await expect
          .poll(() => errors, { timeout: 5_000 })
          .toContain('keyward: the subscriber connection did not answer in 1000 ms')
        // Another connection subscribes in its place (once ioredis has let the silent one go)
        // and hears what it carries no more.
        await expect.poll(replacementOf(name, stalled), { timeout: 10_000 }).toBe(true)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
      } finally {
        await stop()
        await close()
      }
    })

    it('does not take a check its connection never answered, the connection gone, for a silence of the next', async () => {
      const { own, client, close } = await throughOwnProxy()
      const { stop, received, errors } = await subscribeKeeping(client, { everyMs: 100, timeoutMs: 1_000 })
      try {
        // A check reaches Redis, and its connection drops before the answer gets back; the
        // reconnection is held, so that the check's time runs out while it has not subscribed.
        const dropped = own.dropAfter(/ping/i)
        await dropped
        own.hold()
        // The reconnection's own time runs out later than the check's, which started first.
        await expect
          .poll(() => errors, { timeout: 5_000 })
          .toContain('keyward: the subscriber connection was not ready in 1000 ms')
        own.restore()
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
        // Told once, as the close it was; the check is no news of its own.
        expect(errors).toEqual([
          'keyward: the subscriber connection closed; it reconnects and subscribes again',
          'keyward: the subscriber connection was not ready in 1000 ms',
        ])
      } finally {
        await stop()
        await close()
      }
    })

    it('does not call a reconnection that closed before it was ready, the next still to come, not ready in time', async () => {
      // The next reconnection comes well after the subscriber's time for one to be ready has run out,
      // and a loaded machine's reconnection still has a second to be ready.
      const { own, client, close } = await throughOwnProxy({ retryStrategy: () => 2_000 })
      const { stop, received, errors } = await subscribeKeeping(client, { timeoutMs: 1_000 })
      try {
        // The reconnection's readiness check (INFO) reaches Redis, and the connection drops.
        const dropped = own.dropAfter(/\$4\r\ninfo\r\n/i)
        own.cut()
        own.restore()
        await dropped
        await expect.poll(subscribers, { timeout: 10_000 }).toBe(1)
        await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
        // One trouble, told once: nothing was waiting for a ready connection in between.
        expect(errors).toEqual([
          'keyward: the subscriber connection closed; it reconnects and subscribes again',
        ])
      } finally {
        await stop()
        await close()
      }
    })

    it('subscribes at first even when the reply to its first SUBSCRIBE was lost, on a client that resends nothing', async () => {
      // As the README recommends: a command whose reply was lost is not sent again.
      const { own, client, close } = await throughOwnProxy({ autoResendUnfulfilledCommands: false })
      try {
        // The SUBSCRIBE reaches Redis on a connection that then drops, its reply lost.
        const dropped = own.dropAfter(/subscribe/i)
        const subscribing = subscribeKeeping(client, { timeoutMs: 5_000 })
        await dropped
        // The reconnection sends it again, and the first subscription resolves rather than timing out.
        const { stop, received } = await subscribing
        try {
          await expectDeletionHeard(redisStore({ client: direct, prefix }), received)
        } finally {
          await stop()
        }
      } finally {
        await close()
      }
    })

    it('lets go of its connection once closed even when it has fallen silent, its QUIT never answered', async () => {
      const { own, client, close } = await throughOwnProxy({ disconnectTimeout: 200 })
      const { stop } = await subscribeKeeping(client, { timeoutMs: 300 })
      // Every socket open in this process: the clients', the proxies' and the subscriber's.
      const sockets = () =>
        process.getActiveResourcesInfo().filter((resource) => resource === 'TCPSocketWrap').length
      try {
        own.stall()
        const open = sockets()
        await stop()
        // The subscriber's socket is destroyed (a socket left open would keep the host's process
        // alive); the proxy's, stalled, stay open.
        await expect.poll(sockets, { timeout: 5_000 }).toBe(open - 1)
      } finally {
        await close()
      }
    })

    it('subscribes again when the reply to its resubscription was lost, on a client that resends nothing', async () => {
      const target = new URL(url)
      target.host = `127.0.0.1:${proxy.port}`
      // As the README recommends: a command whose reply was lost is not sent again.
      const client = connect(target.toString(), {
        autoResendUnfulfilledCommands: false,
        lazyConnect: true,
        retryStrategy: () => 50,
      })
      client.on('error', () => {})
      await client.connect()
      const listening = redisStore({ client, prefix })
      const received: string[] = []
      const unsubscribe = await listening.subscribe!((event) => received.push(event.keyId))
      try {
        expect(await subscribers()).toBe(1)
        const dropped = proxy.dropAfter(/subscribe/i)
        proxy.cut()
        proxy.restore()
        // The SUBSCRIBE sent on reconnecting reached Redis on a connection that then dropped; a
        // deletion made after that is heard once it has subscribed again.
        await dropped
        const deleting = redisStore({ client: direct, prefix })
        await expect
          .poll(
            async () => {
              const record = sampleKeyRecord('alice')
              await deleting.insertKey(record)
              await deleting.deleteKey('alice', { id: record.id })
              return received.length
            },
            { timeout: 10_000 },
          )
          .toBeGreaterThan(0)
      } finally {
        await unsubscribe()
        client.disconnect()
      }
    })
  })
})
