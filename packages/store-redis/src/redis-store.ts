import {
  type ApiKeyRecord,
  type KeyStore,
  KeywardConfigError,
  type RefreshTokenRecord,
  type RotateRefreshResult,
  type TotpAcceptance,
  type TotpRecord,
} from '@keyward/core'
import type { Redis } from 'ioredis'
import { keys } from './keys.js'
import * as lua from './lua.js'
import { subscribeToEvents } from './subscriber.js'

export interface RedisStoreOptions {
  /** An ioredis client. The host owns it: the store never quits it. */
  readonly client: Redis
  /** Prepended to every key and to the events channel, so apps can share one Redis. Default `keyward:`. */
  readonly prefix?: string | undefined
}

/** Ids per script call when recording last use, so one flush never blocks Redis for long. */
const USAGE_BATCH = 500

/** The acceptTotpStep script's answers. */
const TOTP_ACCEPTANCE: readonly TotpAcceptance[] = ['refused', 'accepted', 'enabled']

type Fields = Record<string, string>

/** A Lua reply of field, value, field, value... (nil for no record) as an object. */
const asMap = (flat: unknown): Fields => {
  const list = Array.isArray(flat) ? (flat as string[]) : []
  const map: Fields = {}
  for (let i = 0; i + 1 < list.length; i += 2) map[list[i] as string] = list[i + 1] as string
  return map
}

/** A field every record has: its absence means the data is corrupt, which is a store failure. */
function required(fields: Fields, name: string): string {
  const value = fields[name]
  if (value === undefined) throw new Error(`keyward: stored record lacks "${name}"`)
  return value
}

/**
 * Epoch ms of a time given to the store. An Invalid Date is refused before Redis is called, with
 * an error that names it; the scripts refuse it too, but only as "NaN".
 */
function ms(value: Date, name: string): number {
  const time = value.getTime()
  if (Number.isNaN(time)) throw new RangeError(`keyward: ${name} is an Invalid Date`)
  return time
}

/** A number given to the store (a step, a window), refused before Redis when not finite. */
function finite(value: number, name: string): number {
  if (!Number.isFinite(value)) throw new RangeError(`keyward: ${name} must be a finite number (got ${value})`)
  return value
}

/** A script's integer reply: a string when the host's client has ioredis's `stringNumbers`. */
type Integer = number | string

const date = (fields: Fields, name: string) => new Date(Number(required(fields, name)))
const optionalDate = (value: string | undefined) => (value === undefined ? null : new Date(Number(value)))

const keyRecord = (fields: Fields): ApiKeyRecord => ({
  id: required(fields, 'id'),
  userId: required(fields, 'userId'),
  name: required(fields, 'name'),
  digest: required(fields, 'digest'),
  preview: required(fields, 'preview'),
  createdOn: date(fields, 'createdOn'),
  expiresOn: date(fields, 'expiresOn'),
  lastUsedOn: optionalDate(fields.lastUsedOn),
})

const refreshRecord = (fields: Fields): RefreshTokenRecord => ({
  digest: required(fields, 'digest'),
  familyId: required(fields, 'familyId'),
  userId: required(fields, 'userId'),
  keyId: fields.keyId ?? null,
  createdOn: date(fields, 'createdOn'),
  expiresOn: date(fields, 'expiresOn'),
})

const totpRecord = (fields: Fields): TotpRecord => ({
  userId: required(fields, 'userId'),
  sealedSecret: required(fields, 'sealedSecret'),
  enabled: required(fields, 'enabled') === '1',
  lastStep: fields.lastStep === undefined ? null : Number(fields.lastStep),
  createdOn: date(fields, 'createdOn'),
})

function checkOptions(options: RedisStoreOptions): string {
  if (typeof options !== 'object' || options === null)
    throw new KeywardConfigError(
      'options',
      'of redisStore() must be an object: redisStore({ client, prefix? })',
    )
  const { client } = options
  // node-redis clients have duplicate() too, but camel-cased commands (evalSha) the store cannot call.
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.duplicate !== 'function' ||
    typeof client.evalsha !== 'function'
  ) {
    throw new KeywardConfigError(
      'client',
      'must be an ioredis client (new Redis(url)); node-redis is not supported',
    )
  }
  if (client.isCluster) {
    throw new KeywardConfigError(
      'client',
      'must be a standalone Redis, not a Cluster: redisStore derives keys in its scripts',
    )
  }
  if (client.options.keyPrefix) {
    throw new KeywardConfigError('client', 'must have no keyPrefix: set redisStore({ prefix }) instead')
  }
  const prefix = options.prefix ?? 'keyward:'
  // Redis names the events channel back with U+FFFD for a lone surrogate, and the subscriber,
  // matching it by name, would then hear no deletion from another instance.
  if (typeof prefix !== 'string' || prefix.length === 0 || /\p{Cs}/u.test(prefix)) {
    throw new KeywardConfigError('prefix', 'must be a non-empty string with no lone surrogate')
  }
  return prefix
}

/** A store on Redis: its subscription is always there (its records expire by themselves: no prune). */
export type RedisStore = KeyStore & Required<Pick<KeyStore, 'subscribe'>>

/**
 * A KeyStore in Redis. Keys, refresh tokens and their indexes live in Redis for the lifetime
 * keyward gave them (expiresOn - createdOn), a pending TOTP enrolment for PENDING_TOTP_LIFETIME_MS;
 * every multi-key or conditional update is one Lua script; key deletions are published on
 * `<prefix>events`.
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  const prefix = checkOptions(options)
  const { client } = options
  const k = keys(prefix)

  return {
    async insertKey(record) {
      await lua.insertKey.run(
        client,
        [k.key(record.id), k.digest(record.digest), k.userKeys(record.userId)],
        [
          record.id,
          record.userId,
          record.name,
          record.digest,
          record.preview,
          ms(record.createdOn, 'createdOn'),
          ms(record.expiresOn, 'expiresOn'),
          record.lastUsedOn === null ? '' : ms(record.lastUsedOn, 'lastUsedOn'),
        ],
      )
    },

    async findKeyByDigest(digest) {
      const fields = asMap(await lua.findKeyByDigest.run(client, [k.digest(digest)], [prefix]))
      return fields.id === undefined || fields.digest !== digest ? null : keyRecord(fields)
    },

    async findKeyById(id) {
      const fields = await client.hgetall(k.key(id))
      return fields.id === undefined ? null : keyRecord(fields)
    },

    async listKeys(userId) {
      const records = (await lua.listKeys.run(client, [k.userKeys(userId)], [prefix])) as unknown[]
      return records.map((flat) => keyRecord(asMap(flat)))
    },

    async deleteKey(userId, selector) {
      const [by, value] = 'id' in selector ? ['id', selector.id] : ['digest', selector.digest]
      const fields = asMap(await lua.deleteKey.run(client, [], [prefix, userId, by, value]))
      return fields.id === undefined ? null : keyRecord(fields)
    },

    async recordKeyUsage(usage) {
      // Every time is checked before the first batch is written.
      const pairs = usage.map((entry) => [entry.id, ms(entry.lastUsedOn, 'lastUsedOn')] as const)
      for (let start = 0; start < pairs.length; start += USAGE_BATCH) {
        await lua.recordKeyUsage.run(client, [], [prefix, ...pairs.slice(start, start + USAGE_BATCH).flat()])
      }
    },

    async insertRefreshToken(record) {
      await lua.insertRefreshToken.run(
        client,
        [k.refresh(record.digest), k.family(record.familyId)],
        [
          record.digest,
          record.familyId,
          record.userId,
          record.keyId ?? '',
          ms(record.createdOn, 'createdOn'),
          ms(record.expiresOn, 'expiresOn'),
          prefix,
        ],
      )
    },

    async findRefreshToken(digest, now) {
      const fields = asMap(await lua.findRefreshToken.run(client, [k.refresh(digest)], [prefix]))
      if (fields.digest === undefined) return null
      const token = refreshRecord(fields)
      return token.expiresOn.getTime() <= ms(now, 'now') ? null : token
    },

    async rotateRefreshToken(digest, next, now): Promise<RotateRefreshResult> {
      const [status, fields] = (await lua.rotateRefreshToken.run(
        client,
        [k.refresh(digest)],
        [
          prefix,
          ms(now, 'now'),
          next.digest,
          ms(next.createdOn, 'next.createdOn'),
          ms(next.expiresOn, 'next.expiresOn'),
        ],
      )) as [string, unknown]
      if (status === 'rotated' || status === 'reused') {
        return { status, previous: refreshRecord(asMap(fields)) }
      }
      return { status: 'not_found' }
    },

    async revokeUserRefreshTokens(userId) {
      // A batch per script, none holding Redis for long, until the set is empty: a family started
      // meanwhile is revoked too (the contract leaves it alone, and allows it).
      while (Number(await lua.revokeUserFamilies.run(client, [k.userFamilies(userId)], [prefix])) > 0);
    },

    async getTotp(userId) {
      const fields = await client.hgetall(k.totp(userId))
      return fields.userId === undefined ? null : totpRecord(fields)
    },

    async putPendingTotp(record) {
      const stored = await lua.putPendingTotp.run(
        client,
        [k.totp(record.userId)],
        [
          record.userId,
          record.sealedSecret,
          record.enabled ? '1' : '0',
          record.lastStep === null ? '' : finite(record.lastStep, 'lastStep'),
          ms(record.createdOn, 'createdOn'),
        ],
      )
      return Number(stored) === 1
    },

    async acceptTotpStep(userId, sealedSecret, step, resealedSecret) {
      const args = [finite(step, 'step'), sealedSecret]
      if (resealedSecret !== undefined) args.push(resealedSecret)
      const answer = Number(await lua.acceptTotpStep.run(client, [k.totp(userId)], args))
      return TOTP_ACCEPTANCE[answer] ?? 'refused'
    },

    async deleteTotp(userId) {
      await client.del(k.totp(userId))
    },

    async incrementCounter(bucket, windowMs, now) {
      const [count, resetAt] = (await lua.incrementCounter.run(
        client,
        [k.counter(bucket)],
        [ms(now, 'now'), finite(windowMs, 'windowMs')],
      )) as [Integer, Integer]
      return { count: Number(count), resetAt: new Date(Number(resetAt)) }
    },

    async peekCounter(bucket, now) {
      const at = ms(now, 'now')
      const [count, resetAt] = await client.hmget(k.counter(bucket), 'count', 'resetAt')
      if (count == null || resetAt == null || Number(resetAt) <= at) return null
      return { count: Number(count), resetAt: new Date(Number(resetAt)) }
    },

    async resetCounter(bucket) {
      await client.del(k.counter(bucket))
    },

    subscribe: (listener, onError, onResumed) =>
      subscribeToEvents(client, k.events, listener, onError, undefined, onResumed),
  }
}
