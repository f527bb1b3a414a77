import { pendingExpired } from '../totp/pending.js'
import type {
  ApiKeyRecord,
  CounterHit,
  KeyStore,
  RefreshTokenRecord,
  RotateRefreshResult,
  StoreEvent,
  TotpRecord,
} from './types.js'

interface RefreshEntry {
  record: RefreshTokenRecord
  spent: boolean
}

/** Ties by id, as PostgreSQL's `ORDER BY created_on, id` and Redis's sorted set order them. */
const oldestFirst = (a: ApiKeyRecord, b: ApiKeyRecord) =>
  a.createdOn.getTime() - b.createdOn.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** The memory store: its prune and its subscription are always there. */
export type MemoryStore = KeyStore & Required<Pick<KeyStore, 'pruneExpired' | 'subscribe'>>

/**
 * The default store: everything in this process, gone on restart. Each method does its work
 * synchronously inside one call, which makes it atomic with respect to other requests.
 */
export function memoryStore(): MemoryStore {
  const keysById = new Map<string, ApiKeyRecord>()
  const idByDigest = new Map<string, string>()
  /** Each user's key ids: a listing (and so each issue, under maxKeysPerUser) reads only the user's own. */
  const idsByUser = new Map<string, Set<string>>()
  const refreshTokens = new Map<string, RefreshEntry>()
  const totp = new Map<string, TotpRecord>()
  const counters = new Map<string, { count: number; resetAt: number }>()
  const listeners = new Set<(event: StoreEvent) => void>()

  const forgetKey = (record: ApiKeyRecord) => {
    keysById.delete(record.id)
    idByDigest.delete(record.digest)
    const ids = idsByUser.get(record.userId)
    ids?.delete(record.id)
    if (ids?.size === 0) idsByUser.delete(record.userId)
  }

  // Expired counters and refresh tokens are swept now and then, so memory stays bounded; keys,
  // which requests do not write, only in the hourly prune.
  const sweep = (now: number) => {
    for (const [bucket, counter] of counters) if (counter.resetAt <= now) counters.delete(bucket)
    for (const [digest, entry] of refreshTokens) {
      if (entry.record.expiresOn.getTime() <= now) refreshTokens.delete(digest)
    }
  }
  let writesSinceSweep = 0
  const sweepNowAndThen = (now: number) => {
    if (++writesSinceSweep < 1024) return
    writesSinceSweep = 0
    sweep(now)
  }

  // As the other stores do: a listener that throws neither fails the write that already happened
  // nor keeps the event from the listeners after it (keyward's cache eviction among them).
  const publish = (event: StoreEvent) => {
    for (const listener of listeners) {
      try {
        listener(event)
      } catch {}
    }
  }

  const revokeFamily = (familyId: string) => {
    for (const [digest, entry] of refreshTokens) {
      if (entry.record.familyId === familyId) refreshTokens.delete(digest)
    }
  }

  return {
    async insertKey(record) {
      if (keysById.has(record.id) || idByDigest.has(record.digest)) throw new Error('duplicate key record')
      keysById.set(record.id, record)
      idByDigest.set(record.digest, record.id)
      const ids = idsByUser.get(record.userId)
      if (ids === undefined) idsByUser.set(record.userId, new Set([record.id]))
      else ids.add(record.id)
    },

    async findKeyByDigest(digest) {
      const id = idByDigest.get(digest)
      return id === undefined ? null : (keysById.get(id) ?? null)
    },

    async findKeyById(id) {
      return keysById.get(id) ?? null
    },

    async listKeys(userId) {
      const ids = idsByUser.get(userId) ?? []
      return Array.from(ids, (id) => keysById.get(id) as ApiKeyRecord).sort(oldestFirst)
    },

    async deleteKey(userId, selector) {
      const id = 'id' in selector ? selector.id : idByDigest.get(selector.digest)
      const record = id === undefined ? undefined : keysById.get(id)
      if (!record || record.userId !== userId) return null
      forgetKey(record)
      publish({ type: 'key.deleted', keyId: record.id, digest: record.digest })
      return record
    },

    async recordKeyUsage(usage) {
      for (const { id, lastUsedOn } of usage) {
        const record = keysById.get(id)
        if (!record || (record.lastUsedOn && record.lastUsedOn >= lastUsedOn)) continue
        keysById.set(id, { ...record, lastUsedOn })
      }
    },

    async insertRefreshToken(record) {
      refreshTokens.set(record.digest, { record, spent: false })
    },

    async findRefreshToken(digest, now) {
      const entry = refreshTokens.get(digest)
      return entry === undefined || entry.record.expiresOn <= now ? null : entry.record
    },

    async rotateRefreshToken(digest, next, now): Promise<RotateRefreshResult> {
      sweepNowAndThen(now.getTime())
      const entry = refreshTokens.get(digest)
      if (!entry || entry.record.expiresOn <= now) return { status: 'not_found' }
      if (entry.spent) {
        revokeFamily(entry.record.familyId)
        return { status: 'reused', previous: entry.record }
      }
      entry.spent = true
      // Only the fields `next` is made of: the family, user and key are the spent token's, as in
      // the other stores, whatever else the object handed in carries.
      const { digest: nextDigest, createdOn, expiresOn } = next
      refreshTokens.set(nextDigest, {
        record: { ...entry.record, digest: nextDigest, createdOn, expiresOn },
        spent: false,
      })
      return { status: 'rotated', previous: entry.record }
    },

    async revokeUserRefreshTokens(userId) {
      for (const [digest, entry] of refreshTokens) {
        if (entry.record.userId === userId) refreshTokens.delete(digest)
      }
    },

    async getTotp(userId) {
      return totp.get(userId) ?? null
    },

    async putPendingTotp(record) {
      if (totp.get(record.userId)?.enabled) return false
      totp.set(record.userId, record)
      return true
    },

    async acceptTotpStep(userId, sealedSecret, step, resealedSecret) {
      const record = totp.get(userId)
      if (!record || record.sealedSecret !== sealedSecret) return 'refused'
      if (record.lastStep !== null && step <= record.lastStep) return 'refused'
      totp.set(userId, {
        ...record,
        sealedSecret: resealedSecret ?? sealedSecret,
        enabled: true,
        lastStep: step,
      })
      return record.enabled ? 'accepted' : 'enabled'
    },

    async deleteTotp(userId) {
      totp.delete(userId)
    },

    async incrementCounter(bucket, windowMs, now): Promise<CounterHit> {
      const at = now.getTime()
      sweepNowAndThen(at)
      let counter = counters.get(bucket)
      if (!counter || counter.resetAt <= at) {
        counter = { count: 0, resetAt: at + windowMs }
        counters.set(bucket, counter)
      }
      counter.count += 1
      return { count: counter.count, resetAt: new Date(counter.resetAt) }
    },

    async peekCounter(bucket, now) {
      const counter = counters.get(bucket)
      if (!counter || counter.resetAt <= now.getTime()) return null
      return { count: counter.count, resetAt: new Date(counter.resetAt) }
    },

    async resetCounter(bucket) {
      counters.delete(bucket)
    },

    async pruneExpired(now) {
      sweep(now.getTime())
      for (const record of keysById.values()) if (record.expiresOn <= now) forgetKey(record)
      for (const [userId, record] of totp) if (pendingExpired(record, now.getTime())) totp.delete(userId)
    },

    async subscribe(listener) {
      listeners.add(listener)
      return async () => {
        listeners.delete(listener)
      }
    },
  }
}
