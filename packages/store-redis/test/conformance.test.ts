import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { runStoreConformance } from '@keyward/core/testing'
import { redisStore } from '@keyward/store-redis'
import { Redis } from 'ioredis'
import { describe } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { CLIENTS, deleteUnder, dumpPrefix, randomPrefix } from './support.js'

/** The whole contract, on clients `connect` makes for a prefix (an instance and its peer). */
function conformance(name: string, url: string, connect: (prefix: string) => Promise<Connected>): void {
  runStoreConformance({
    name: `redis store (${name})`,
    // A key lives in Redis for its lifetime (expiresOn - createdOn) from when it is written, on
    // Redis's clock, not until an absolute expiresOn: one whose expiresOn has passed by keyward's
    // clock may still be there, and keyward filters it. Only a key expired as it was issued
    // (expiresOn <= createdOn) is never written.
    dropsExpiredKeys: false,
    setup: async () => {
      const prefix = randomPrefix()
      const { client, peerClient, end } = await connect(prefix)
      // Reads and cleans up as the administrator: the clients may be allowed less.
      const admin = new Redis(url)
      return {
        store: redisStore({ client, prefix }),
        dump: () => dumpPrefix(admin, prefix),
        // Another instance: its own client (and so its own subscriber connection).
        peer: async () => redisStore({ client: peerClient, prefix }),
        async teardown() {
          await Promise.all([client.quit(), peerClient.quit()])
          await end?.(admin)
          await deleteUnder(admin, prefix)
          await admin.quit()
        },
      }
    },
  })
}

interface Connected {
  readonly client: Redis
  readonly peerClient: Redis
  end?(admin: Redis): Promise<void>
}

describeWith('REDIS_URL', 'redis store on Redis', (url) => {
  describe.each(CLIENTS)('through %s', (release, connect) => {
    conformance(release, url, async () => ({ client: connect(url), peerClient: connect(url) }))
  })

  // Options a host may give its own client: integer replies as strings, commands pipelined.
  conformance('ioredis 6 with stringNumbers and enableAutoPipelining', url, async () => {
    const connect = () => new Redis(url, { stringNumbers: true, enableAutoPipelining: true })
    return { client: connect(), peerClient: connect() }
  })

  // A user allowed exactly what the README's "Least privilege" section grants, and no more.
  conformance('an ACL user with the least privilege the README gives', url, async (prefix) => {
    const username = `kw_test_${randomBytes(6).toString('hex')}`
    const password = randomBytes(16).toString('hex')
    const admin = new Redis(url)
    await admin.call('ACL', 'SETUSER', username, 'reset', 'on', `>${password}`, ...leastPrivilege(prefix))
    await admin.quit()
    const connect = () => new Redis(url, { username, password })
    return {
      client: connect(),
      peerClient: connect(),
      end: async (administrator) => {
        await administrator.call('ACL', 'DELUSER', username)
      },
    }
  })
})

/** The README's rules ("Least privilege"), for a prefix: the test keeps the README true. */
function leastPrivilege(prefix: string): string[] {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const line = readme.split('\n').find((text) => text.startsWith('ACL SETUSER keyward '))
  if (line === undefined) throw new Error('the README has no ACL SETUSER line')
  // Past the password.
  const words = line.split(' ')
  return words
    .slice(words.findIndex((word) => word.startsWith('>')) + 1)
    .map((rule) => rule.replace('keyward:', prefix))
}
