/**
 * The guard remembers the last API key verified on each connection so that a keep-alive client's
 * next requests skip the SHA-256. It must never let anything through that the cache and the store
 * would refuse.
 */
import { memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { KeyCache } from '../src/keys/key-cache.js'
import { keyFormat } from '../src/keys/key-format.js'
import { KeyService } from '../src/keys/key-service.js'
import { codeUnits, constantTimeMatches } from '../src/lib/secrets.js'
import { UsageRecorder } from '../src/usage/usage-recorder.js'
import { DAY, instrumentedStore, manualClock, setup } from './support.js'

/** A KeyService whose digest function counts its calls. */
function countingKeys() {
  const clock = manualClock()
  const store = memoryStore()
  const base = keyFormat('ms-')
  let digests = 0
  const format = {
    ...base,
    digestBytes: (raw: string) => {
      digests++
      return base.digestBytes(raw)
    },
  }
  const usage = new UsageRecorder(store, clock, 60_000, () => {})
  const keys = new KeyService(
    store,
    format,
    new KeyCache(100, 30_000),
    usage,
    clock,
    { months: 3, milliseconds: 0 },
    false,
    undefined,
  )
  return { keys, clock, digests: () => digests, close: () => usage.close() }
}

describe('constantTimeMatches', () => {
  it.each([
    ['ms-0123', 'ms-0123', true],
    ['ms-0123', 'xs-0123', false],
    ['ms-0123', 'ms-0124', false],
    ['ms-0123', 'ms-012', false],
    ['ms-0123', 'ms-01234', false],
    ['ms-A', 'ms-\u0141', false],
    ['', '', true],
  ])('%s vs %s', (secret, value, equal) => {
    expect(constantTimeMatches(codeUnits(secret), value)).toBe(equal)
  })
})

describe('the connection memo', () => {
  it('hashes a key once per connection while it is sent again on that connection', async () => {
    const { keys, clock, digests, close } = countingKeys()
    const { key } = await keys.issue('alice', 'ci')
    const before = digests()
    const first = {}
    const second = {}
    for (let i = 0; i < 5; i++) expect(await keys.check(key, clock(), first)).toMatchObject({ ok: true })
    expect(digests() - before).toBe(1)
    expect(await keys.check(key, clock(), second)).toMatchObject({ ok: true })
    expect(digests() - before).toBe(2)
    // Without a connection (verifyKey), every check hashes.
    await keys.check(key, clock())
    await keys.check(key, clock())
    expect(digests() - before).toBe(4)
    close()
  })

  it('hashes and refuses another key sent on a connection that remembers one', async () => {
    const { keys, clock, digests, close } = countingKeys()
    const { key } = await keys.issue('alice', 'ci')
    const connection = {}
    await keys.check(key, clock(), connection)
    const before = digests()
    const forged = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`
    expect(await keys.check(forged, clock(), connection)).toEqual({ ok: false, code: 'NOT_FOUND' })
    expect(digests() - before).toBe(1)
    // The refused key is not remembered in its place, and the real key still works.
    expect(await keys.check(forged, clock(), connection)).toEqual({ ok: false, code: 'NOT_FOUND' })
    expect(await keys.check(key, clock(), connection)).toMatchObject({ ok: true })
    close()
  })

  it('does not remember a key that failed, so the next try on the connection is checked in full', async () => {
    const { keys, clock, digests, close } = countingKeys()
    const unknown = `ms-${'ab'.repeat(16)}`
    const connection = {}
    await keys.check(unknown, clock(), connection)
    await keys.check(unknown, clock(), connection)
    expect(digests()).toBe(2)
    close()
  })

  it('a key deleted while a connection remembers it is refused on that connection at once', async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const socket = {}
    const request = { headers: { 'x-api-key': key }, socket }
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    await keyward.deleteKey('alice', { id })
    expect(await keyward.authenticate(request)).toEqual({ ok: false, failure: { code: 'NOT_FOUND' } })
    await keyward.close()
  })

  it('a key that expires while a connection remembers it is refused on that connection', async () => {
    const { keyward, clock } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const request = { headers: { 'x-api-key': key }, socket: {} }
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    clock.advance(92 * DAY)
    expect(await keyward.authenticate(request)).toEqual({
      ok: false,
      failure: { code: 'EXPIRED', userId: 'alice', keyId: id },
    })
    await keyward.close()
  })
})

describe('a remembered key is served from its cache entry only while the cache holds it', () => {
  /** A request the guard sees, on one connection. */
  const on = (key: string, socket: object) => ({ headers: { 'x-api-key': key }, socket })

  it('asks the store again after the cache TTL, memo or not', async () => {
    const { store, count } = instrumentedStore()
    const { keyward, clock } = setup({ store, cache: { ttl: '30s' } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = on(key, {})
    for (let i = 0; i < 10; i++) expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    expect(count('findKeyByDigest')).toBe(1)
    clock.advance(29_999)
    await keyward.authenticate(request)
    expect(count('findKeyByDigest')).toBe(1)
    clock.advance(1)
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    expect(count('findKeyByDigest')).toBe(2)
    await keyward.close()
  })

  it('asks the store again once the clock is set back before its read, memo or not', async () => {
    // Two instances with no event channel between them: freshness is all that bounds a deletion
    // one does not hear of. A clock stepped back an hour (NTP, a restored VM) must not stretch it.
    const shared = memoryStore()
    const store = { ...shared, subscribe: undefined }
    const reader = setup({ store, cache: { ttl: '30s' } })
    const deleter = setup({ store })
    const { key, id } = await reader.keyward.issueKey('alice', { name: 'ci' })
    const socket = {}
    expect(await reader.keyward.authenticate(on(key, socket))).toMatchObject({ ok: true })
    reader.clock.advance(-60 * 60_000)
    await deleter.keyward.deleteKey('alice', { id })
    const refused = { ok: false, failure: { code: 'NOT_FOUND' } }
    expect(await reader.keyward.authenticate(on(key, socket))).toMatchObject(refused)
    expect(await reader.keyward.authenticate(on(key, {}))).toMatchObject(refused)
    await reader.keyward.close()
    await deleter.keyward.close()
  })

  it('reads the store again once the entry is evicted by other keys, and still admits the key', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store, cache: { max: 2 } })
    const keys = await Promise.all(['a', 'b', 'c'].map((name) => keyward.issueKey('alice', { name })))
    const [first, ...others] = keys.map(({ key }) => key)
    const request = on(first as string, {})
    await keyward.authenticate(request)
    for (const other of others) await keyward.verifyKey(other as string)
    expect(count('findKeyByDigest')).toBe(3)
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    expect(count('findKeyByDigest')).toBe(4)
    await keyward.close()
  })

  it('checks the user and the permissions on every request', async () => {
    const { keyward, users } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const request = on(key, {})
    const read = { permissions: ['agents:read'] }
    expect(await keyward.authenticate(request, read)).toMatchObject({ ok: true })
    users.set('alice', { id: 'alice', permissions: [] })
    expect(await keyward.authenticate(request, read)).toEqual({ ok: false, failure: { code: 'FORBIDDEN' } })
    users.delete('alice')
    expect(await keyward.authenticate(request)).toEqual({
      ok: false,
      failure: { code: 'USER_GONE', userId: 'alice', keyId: id },
    })
    await keyward.close()
  })

  it('waits for a directory that answers with a promise', async () => {
    const { keyward } = setup({
      users: { get: async (id) => (id === 'alice' ? { id, permissions: ['agents:read'] } : null) },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = on(key, {})
    for (let i = 0; i < 3; i++) {
      const outcome = keyward.guard(request)
      expect(outcome).toBeInstanceOf(Promise)
      expect(await outcome).toMatchObject({ ok: true, auth: { userId: 'alice', credential: 'api_key' } })
    }
    await keyward.close()
  })
})

/** A key record as the store answers it, its digest of one hex digit repeated. */
const record = (id: string, hexDigit: string) => ({
  id,
  userId: 'alice',
  name: id,
  digest: hexDigit.repeat(64),
  preview: 'ms-…0000',
  createdOn: new Date(0),
  expiresOn: new Date(DAY),
  lastUsedOn: null,
})

describe('KeyCache.holds', () => {
  it('lets an entry go once it leaves the cache: deleted, replaced, forgotten or stale', () => {
    const cache = new KeyCache(10, 30_000)
    const deleted = cache.set(record('a', 'a'), 0)!
    const replaced = cache.set(record('b', 'b'), 0)!
    const forgotten = cache.set(record('c', 'c'), 0)!
    const kept = cache.set(record('d', 'd'), 0)!
    for (const entry of [deleted, replaced, forgotten, kept]) expect(cache.holds(entry, 0)).toBe(true)
    cache.evict('a')
    cache.set(record('b', 'b'), 1)
    cache.forget(forgotten)
    expect([deleted, replaced, forgotten].map((entry) => cache.holds(entry, 1))).toEqual([
      false,
      false,
      false,
    ])
    expect(cache.holds(kept, 29_999)).toBe(true)
    expect(cache.holds(kept, 30_000)).toBe(false)
  })

  it('lets an entry go when the clock reads earlier than when it was read', () => {
    const cache = new KeyCache(10, 30_000)
    const entry = cache.set(record('a', 'a'), 10_000)!
    expect(cache.holds(entry, 10_000)).toBe(true)
    expect(cache.holds(entry, 9_999)).toBe(false)
    expect(cache.get(entry.digestBytes, 9_999)).toBeUndefined()
    // Kept for a request whose time is not earlier: one that took its time first only misses.
    expect(cache.get(entry.digestBytes, 10_000)).toBe(entry)
  })

  it('lets an entry go when the LRU bound evicts it', () => {
    const cache = new KeyCache(2, 30_000)
    const first = cache.set(record('a', 'a'), 0)!
    cache.set(record('b', 'b'), 0)
    cache.set(record('c', 'c'), 0)
    expect(cache.holds(first, 0)).toBe(false)
  })

  it('leaves the LRU order as it is for an entry served through holds() within a second of its last touch', () => {
    const cache = new KeyCache(2, 30_000)
    const busy = cache.set(record('a', 'a'), 10_000)!
    cache.set(record('b', 'b'), 10_500)
    expect(cache.holds(busy, 10_999)).toBe(true)
    // Not refreshed: 'a' is still the oldest, and the next key evicts it.
    cache.set(record('c', 'c'), 10_999)
    expect(cache.holds(busy, 10_999)).toBe(false)
  })

  it('keeps an entry served only through holds() recent in the LRU order, refreshed once a second', () => {
    const cache = new KeyCache(2, 30_000)
    const busy = cache.set(record('a', 'a'), 0)!
    cache.set(record('b', 'b'), 500)
    // Within the second, holds() does not touch the LRU order: 'a' is still the oldest.
    expect(cache.holds(busy, 999)).toBe(true)
    // Past it, holds() refreshes it, so the next key evicts 'b', not the busy one.
    expect(cache.holds(busy, 1_000)).toBe(true)
    cache.set(record('c', 'c'), 1_000)
    expect(cache.holds(busy, 1_000)).toBe(true)
    expect(cache.get(`${'\xbb'.repeat(32)}`, 1_000)).toBeUndefined()
  })
})

describe('KeyCache read marks', () => {
  it('never come back to a mark taken before: a read across missed events and a forgotten deletion is not cached', () => {
    const cache = new KeyCache(1, 30_000)
    const mark = cache.readMark()
    cache.eventsMissed()
    cache.evict('x')
    // The cache remembers one deletion: this one pushes the first out, a deletion forgotten.
    cache.evict('y')
    const entry = cache.set(record('a', 'a'), 0, mark)
    expect(entry?.live).toBe(false)
    expect(cache.get(entry!.digestBytes, 0)).toBeUndefined()
    // With the current mark, the same record is cached.
    expect(cache.set(record('a', 'a'), 0, cache.readMark())).toBe(cache.get(entry!.digestBytes, 0))
  })
})
