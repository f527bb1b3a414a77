import { runStoreConformance } from '@keyward/core/testing'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import { describe } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { CLIENTS, deleteUnder, dumpPrefix, randomPrefix } from './support.js'

describeWith('REDIS_URL', 'redis store on Redis', (url) => {
  describe.each(CLIENTS)('through %s', (release, connect) => {
    runStoreConformance({
      name: `redis store (${release})`,
      // A key lives in Redis for its lifetime (expiresOn - createdOn) from when it is written, on
      // Redis's clock, not until an absolute expiresOn: one whose expiresOn has passed by keyward's
      // clock may still be there, and keyward filters it. Only a key expired as it was issued
      // (expiresOn <= createdOn) is never written.
      dropsExpiredKeys: false,
      setup: async () => {
        const prefix = randomPrefix()
        const client = connect(url)
        // Another instance: its own client (and so its own subscriber connection).
        const peerClient = connect(url)
        return {
          store: redisStore({ client, prefix }),
          dump: () => dumpPrefix(client, prefix),
          peer: async () => redisStore({ client: peerClient, prefix }),
          async teardown() {
            await deleteUnder(client, prefix)
            await Promise.all([client.quit(), peerClient.quit()])
          },
        }
      },
    })
  })

  // Options a host may give its own client: integer replies as strings, commands pipelined.
  runStoreConformance({
    name: 'redis store (ioredis 6 with stringNumbers and enableAutoPipelining)',
    dropsExpiredKeys: false,
    setup: async () => {
      const prefix = randomPrefix()
      const connect = () => new Redis(url, { stringNumbers: true, enableAutoPipelining: true })
      const client = connect()
      const peerClient = connect()
      return {
        store: redisStore({ client, prefix }),
        dump: () => dumpPrefix(client, prefix),
        peer: async () => redisStore({ client: peerClient, prefix }),
        async teardown() {
          await deleteUnder(client, prefix)
          await Promise.all([client.quit(), peerClient.quit()])
        },
      }
    },
  })
})
