import { randomUUID } from 'node:crypto'
import { StoreUnavailableError } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CuttableProxy,
  cuttableProxy,
  expectDeletionHeard,
  expectFailsClosedWhileCut,
} from '../../../test/support/cuttable-proxy.js'
import { describeWith } from '../../../test/support/services.js'
import { listenOnPool } from '../src/pool-listener.js'
import { closedPort, keywardOver, POOLS, randomSchema, refreshTokenFor, wellFormedKey } from './support.js'

// Idle clients of a pool whose server vanished emit 'error' on the pool; a host listens for it.
const quietPool = (connectionString: string) => new Pool({ connectionString }).on('error', () => {})

describe('postgres store with the database unreachable', () => {
  it('rejects (never answers null) and keyward fails closed with StoreUnavailableError', async () => {
    const pool = quietPool(`postgres://postgres@127.0.0.1:${await closedPort()}/test`)
    const store = postgresStore({ client: pool })
    const keyward = keywardOver(store)
    try {
      await expect(store.findKeyByDigest('0'.repeat(64))).rejects.toThrow(/ECONNREFUSED/)
      await expect(store.findKeyById(randomUUID())).rejects.toThrow()
      await expect(store.deleteKey('alice', { id: randomUUID() })).rejects.toThrow()
      await expect(store.subscribe!(() => {})).rejects.toThrow()
      await expect(keyward.verifyKey(wellFormedKey())).rejects.toBeInstanceOf(StoreUnavailableError)
    } finally {
      await keyward.close()
      await pool.end()
    }
  })
})

describeWith('DATABASE_URL', 'postgres store through a connection that is cut and restored', (url) => {
  describe.each(POOLS)('through %s', (_release, connect) => {
    const schema = randomSchema()
    const direct = connect(url)
    let proxy: CuttableProxy
    let proxiedUrl: string
    let proxied: Pool

    beforeAll(async () => {
      await migrate(direct, { schema })
      const target = new URL(url)
      proxy = await cuttableProxy(target.hostname, Number(target.port || 5432))
      target.host = `127.0.0.1:${proxy.port}`
      proxiedUrl = target.toString()
      proxied = connect(proxiedUrl).on('error', () => {})
    })
    afterAll(async () => {
      await proxied?.end()
      await proxy?.close()
      await direct.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await direct.end()
    })

    /** Sends `payload` on `channel` until `received` holds it: a listener that came back hears it. */
    const expectHeard = (channel: string, payload: string, received: readonly string[]) =>
      expect
        .poll(
          async () => {
            await direct.query(`NOTIFY ${channel}, '${payload}'`)
            return received
          },
          { timeout: 10_000 },
        )
        .toContain(payload)

    it('fails closed while cut and answers again once restored', async () => {
      const store = postgresStore({ client: proxied, schema })
      await expectFailsClosedWhileCut(proxy, store, keywardOver(store), wellFormedKey(), 'at once')
    })

    it('rejects a revocation whose connection drops mid-transaction, which the server rolls back, and revokes on the next call', async () => {
      const store = postgresStore({ client: proxied, schema })
      const user = `user-${randomUUID()}`
      const token = refreshTokenFor(user)
      await store.insertRefreshToken(token)
      // The DELETE reaches the server and the connection drops before it answers: pg emits 'error'
      // on the checked-out client, which would be an uncaught exception without the store's listener.
      const dropped = proxy.dropAfter(/DELETE FROM .*keyward_refresh_tokens WHERE user_id/)
      await expect(store.revokeUserRefreshTokens(user)).rejects.toThrow()
      await dropped
      // Never committed: the token is still there, and the next call, on the same pool, revokes it.
      expect(
        await postgresStore({ client: direct, schema }).findRefreshToken(token.digest, new Date()),
      ).toEqual(token)
      await store.revokeUserRefreshTokens(user)
      expect(await store.findRefreshToken(token.digest, new Date())).toBeNull()
    })

    it('keeps delivering key.deleted events after its listening connection is cut', async () => {
      const listening = postgresStore({ client: proxied, schema })
      const deleting = postgresStore({ client: direct, schema })
      const received: string[] = []
      const errors: unknown[] = []
      let resumed = 0
      const unsubscribe = await listening.subscribe(
        (event) => received.push(event.keyId),
        (error) => errors.push(error),
        () => resumed++,
      )
      const listenerPids = async () =>
        (
          await direct.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'idle' ORDER BY pid",
            [`LISTEN keyward_events_${schema}`],
          )
        ).rows.map((row) => row.pid)
      try {
        const [before] = await listenerPids()
        expect(before).toBeTypeOf('number')
        expect(resumed).toBe(0)
        proxy.cut()
        proxy.restore()
        // The drop is noticed, a new connection checked out and LISTEN issued again, by itself.
        await expect
          .poll(
            async () => {
              const pids = await listenerPids()
              return pids.length === 1 && pids[0] !== before
            },
            { timeout: 10_000 },
          )
          .toBe(true)

        await expectDeletionHeard(deleting, received)
        // keyward is told it listens again: what was published in between was lost.
        expect(resumed).toBeGreaterThanOrEqual(1)
        // The drop was reported: pg's own error, or its end.
        expect(errors.length).toBeGreaterThanOrEqual(1)
        for (const error of errors) expect(error).toBeInstanceOf(Error)
      } finally {
        await unsubscribe()
      }
      // Unsubscribing releases the connection: no backend is listening any more.
      await expect.poll(listenerPids, { timeout: 5_000 }).toEqual([])
    })

    it('replaces a listening connection that falls silent without closing', async () => {
      const channel = `keyward_test_${randomUUID().replaceAll('-', '')}`
      const received: string[] = []
      const errors: unknown[] = []
      const stop = await listenOnPool(
        proxied,
        channel,
        (payload) => received.push(payload),
        (error) => errors.push(error),
        { everyMs: 100, timeoutMs: 300 },
      )
      try {
        // No FIN, no RST: pg emits nothing; only the check finds the connection silent.
        proxy.stall()
        await expectHeard(channel, 'after the stall', received)
        expect(errors[0]).toEqual(new Error('keyward: the listening connection did not answer in 300 ms'))
      } finally {
        await stop()
        // The stalled sockets go, so that the pool can end.
        proxy.cut()
        proxy.restore()
      }
    })

    it('gives back the connection of a reconnection whose LISTEN was still in flight when it was closed, and hands on nothing it brought', async () => {
      // A pool of its own, so that its count is the listener's connections alone.
      const pool = connect(proxiedUrl).on('error', () => {})
      const channel = `keyward_test_${randomUUID().replaceAll('-', '')}`
      const received: string[] = []
      let resumed = 0
      try {
        const stop = await listenOnPool(
          pool,
          channel,
          (payload) => received.push(payload),
          () => {},
          { everyMs: 60_000, timeoutMs: 10_000 },
          () => resumed++,
        )
        const inFlight = proxy.holdReplyTo(new RegExp(`LISTEN ${channel}`))
        // The listening connection drops; the reconnection's LISTEN reaches the server, unanswered.
        proxy.cut()
        proxy.restore()
        const answer = await inFlight
        expect(pool.totalCount).toBe(1)
        // Once LISTEN has taken effect (its completion is held too), a notification follows its
        // held reply, and reaches the client with it, in one read, once the listener is closed.
        await expect.poll(() => proxy.heldReply.includes('LISTEN'), { timeout: 5_000 }).toBe(true)
        await direct.query(`NOTIFY ${channel}, 'on its way'`)
        await expect.poll(() => proxy.heldReply.includes('on its way'), { timeout: 5_000 }).toBe(true)
        await stop()
        answer()
        // Once answered, the connection of a closed listener is destroyed rather than kept listening.
        await expect.poll(() => pool.totalCount, { timeout: 5_000 }).toBe(0)
        // A control listening on the channel hears what the closed listener must not.
        const control = await direct.connect()
        try {
          const heard: string[] = []
          control.on('notification', (message) => heard.push(message.payload ?? ''))
          await control.query(`LISTEN ${channel}`)
          await direct.query(`NOTIFY ${channel}, 'after the close'`)
          await expect.poll(() => heard, { timeout: 5_000 }).toEqual(['after the close'])
        } finally {
          control.release(true)
        }
        expect(received).toEqual([])
        expect(resumed).toBe(0)
      } finally {
        proxy.cut()
        proxy.restore()
        await pool.end()
      }
    })

    it('waits a bounded time for a connection from a pool without connectionTimeoutMillis, one checkout at a time', async () => {
      // A pool of its own, with no idle connection to hand out instead of a new one.
      const pool = connect(proxiedUrl).on('error', () => {})
      const channel = `keyward_test_${randomUUID().replaceAll('-', '')}`
      const checks = { everyMs: 100, timeoutMs: 300 }
      const received: string[] = []
      const errors: string[] = []
      const gaveNone = 'keyward: the pool gave no connection to listen on in 300 ms'
      try {
        // The server accepts connections and does not answer yet: the pool alone would wait for good.
        proxy.hold()
        await expect(
          listenOnPool(
            pool,
            channel,
            () => {},
            () => {},
            checks,
          ),
        ).rejects.toThrow(gaveNone)
        expect(pool.totalCount).toBe(1)
        // The checkout it gave up on is destroyed once it comes, not left checked out.
        proxy.restore()
        await expect.poll(() => pool.totalCount, { timeout: 5_000 }).toBe(0)

        const stop = await listenOnPool(
          pool,
          channel,
          (payload) => received.push(payload),
          (error) => errors.push((error as Error).message),
          checks,
        )
        try {
          // The listening connection falls silent, and the server holds every new connection.
          proxy.hold()
          proxy.stall()
          const before = proxy.accepted
          await expect
            .poll(() => errors.filter((error) => error === gaveNone).length, { timeout: 10_000 })
            .toBeGreaterThanOrEqual(3)
          expect(errors[0]).toBe('keyward: the listening connection did not answer in 300 ms')
          // Each retry waited on the same checkout rather than take another of the host's connections.
          expect(proxy.accepted - before).toBe(1)
          // Once the server answers, that checkout listens.
          proxy.restore()
          await expectHeard(channel, 'once answered', received)
        } finally {
          await stop()
        }
      } finally {
        proxy.cut()
        proxy.restore()
        await pool.end()
      }
    })

    it('gives back a checkout still pending when the host ends its pool, so that the pool can end', async () => {
      const pool = connect(proxiedUrl).on('error', () => {})
      const channel = `keyward_test_${randomUUID().replaceAll('-', '')}`
      const errors: string[] = []
      const gaveNone = () => errors.filter((error) => error.startsWith('keyward: the pool gave no')).length
      const stop = await listenOnPool(
        pool,
        channel,
        () => {},
        (error) => errors.push((error as Error).message),
        { everyMs: 100, timeoutMs: 300 },
      )
      let ended = false
      try {
        proxy.hold()
        proxy.stall()
        await expect.poll(gaveNone, { timeout: 10_000 }).toBeGreaterThanOrEqual(1)
        // The host ends its pool without closing the store first; the checkout is still held.
        void pool.end().then(() => {
          ended = true
        })
        const before = gaveNone()
        await expect.poll(gaveNone, { timeout: 10_000 }).toBeGreaterThan(before)
        // The server answers at last: the connection it hands over goes straight back, and the pool ends.
        proxy.restore()
        await expect.poll(() => ended, { timeout: 10_000 }).toBe(true)
      } finally {
        await stop()
        proxy.cut()
        proxy.restore()
        if (!ended) await pool.end().catch(() => {})
      }
    })
  })
})
