import { createHash } from 'node:crypto'
import { type KeyStore, KeywardError, memoryStore } from '@keyward/core'
import { describe, expect, it, vi } from 'vitest'
import { DAY, instrumentedStore, MINUTE, setup } from './support.js'

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

describe('issuing keys', () => {
  it('returns the key once: prefix and 32 lowercase hex characters', async () => {
    const { keyward } = setup()
    const issued = await keyward.issueKey('alice', { name: 'CI pipeline' })
    expect(issued.key).toMatch(/^ms-[0-9a-f]{32}$/)
    expect(issued.preview).toBe(`ms-…${issued.key.slice(-4)}`)
    expect(issued.name).toBe('CI pipeline')
    expect(issued.userId).toBe('alice')
    expect(issued.lastUsedOn).toBeNull()
    const again = await keyward.issueKey('alice', { name: 'CI pipeline' })
    expect(again.key).not.toBe(issued.key)
    expect(again.id).not.toBe(issued.id)
  })

  it('stores only the SHA-256 digest, a preview and a non-secret id', async () => {
    const store = memoryStore()
    const { keyward } = setup({ store })
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    const record = await store.findKeyByDigest(sha256(issued.key))
    expect(record).toMatchObject({ id: issued.id, digest: sha256(issued.key), preview: issued.preview })
    expect(JSON.stringify(record)).not.toContain(issued.key.slice(3))
    expect(Object.keys(issued)).not.toContain('digest')
  })

  it('uses a configured prefix', async () => {
    const { keyward } = setup({ keyPrefix: 'acme_' })
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    expect(issued.key).toMatch(/^acme_[0-9a-f]{32}$/)
    expect((await keyward.verifyKey(issued.key)).ok).toBe(true)
  })

  it('expires after 3 calendar months by default: issued 2026-11-22, expires 2027-02-22', async () => {
    const { keyward } = setup()
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    expect(issued.createdOn.toISOString()).toBe('2026-11-22T10:00:00.000Z')
    expect(issued.expiresOn.toISOString()).toBe('2027-02-22T10:00:00.000Z')
  })

  it('honours a configured lifetime', async () => {
    const { keyward } = setup({ keyLifetime: '90d' })
    const issued = await keyward.issueKey('alice', { name: 'ci' })
    expect(issued.expiresOn.getTime() - issued.createdOn.getTime()).toBe(90 * DAY)
  })

  it('trims the name and accepts 1 to 128 characters', async () => {
    const { keyward } = setup()
    expect((await keyward.issueKey('alice', { name: '  padded  ' })).name).toBe('padded')
    expect((await keyward.issueKey('alice', { name: 'x'.repeat(128) })).name).toHaveLength(128)
    expect((await keyward.issueKey('alice', { name: 'deploy \u{1f680}' })).name).toBe('deploy \u{1f680}')
  })

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['too long', 'x'.repeat(129)],
    ['not a string', 42],
    ['missing', undefined],
    ['a control character', 'bad\u0000name'],
    ['a lone high surrogate', 'bad\ud800name'],
    ['a lone low surrogate', 'name\udc00'],
  ])('refuses a name that is %s with INVALID_INPUT naming key_name', async (_, name) => {
    const { keyward } = setup()
    const attempt = keyward.issueKey('alice', { name })
    await expect(attempt).rejects.toBeInstanceOf(KeywardError)
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_INPUT', field: 'key_name' })
  })
})

describe('user ids', () => {
  const anyone = { get: (id: string) => ({ id, permissions: [] }) }

  it.each([
    ['one character', 'u'],
    ['512 characters', 'u'.repeat(512)],
  ])('stores an id of %s', async (_, id) => {
    const { keyward } = setup({ users: anyone })
    await keyward.issueKey(id, { name: 'ci' })
    await keyward.issueTokens(id)
    await keyward.generateTotpKey(id)
    expect(await keyward.listKeys(id)).toHaveLength(1)
  })

  it.each([
    ['empty', ''],
    ['over 512 characters', 'u'.repeat(513)],
    ['holding NUL', 'a\u0000b'],
    ['holding a lone surrogate', 'a\ud800'],
    ['not a string', 42],
  ])('refuses an id that is %s before writing anything, with INVALID_INPUT naming userId', async (_, id) => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ users: anyone, store })
    for (const attempt of [
      keyward.issueKey(id as string, { name: 'ci' }),
      keyward.issueTokens(id as string),
      keyward.generateTotpKey(id as string),
    ]) {
      await expect(attempt).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        field: 'userId',
        message: expect.stringMatching(
          /^userId must be a string of 1 to 512 UTF-16 code units, with no control/,
        ),
      })
    }
    expect(count('insertKey') + count('insertRefreshToken') + count('putPendingTotp')).toBe(0)
  })
})

describe('verifying keys', () => {
  it("returns the principal with the user's current permissions", async () => {
    const { keyward, users } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const first = await keyward.verifyKey(key)
    expect(first).toMatchObject({
      ok: true,
      principal: { userId: 'alice', keyId: id, permissions: ['agents:read'] },
    })
    users.set('alice', { id: 'alice', permissions: ['agents:read', 'agents:write'] })
    const second = await keyward.verifyKey(key)
    expect(second.ok && second.principal.permissions).toEqual(['agents:read', 'agents:write'])
  })

  it.each([
    ['', 'MALFORMED'],
    ['ms-', 'MALFORMED'],
    ['ms-ABCDEF0123456789abcdef0123456789', 'MALFORMED'],
    ['ms-0123456789abcdef0123456789abcde', 'MALFORMED'],
    ['xx-0123456789abcdef0123456789abcdef', 'MALFORMED'],
    ['ms-0123456789abcdef0123456789abcdef', 'NOT_FOUND'],
  ])('rejects %j as %s', async (raw, code) => {
    const { keyward } = setup()
    expect(await keyward.verifyKey(raw)).toEqual({ ok: false, code })
  })

  it('rejects malformed input before any store access', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    await keyward.verifyKey('not-a-key')
    await keyward.verifyKey('ms-zz')
    // The right shape but not hex: hashed (the cheap test passed) yet never looked up.
    expect(await keyward.verifyKey('ms-0123456789abcdef0123456789abcdeZ')).toEqual({
      ok: false,
      code: 'MALFORMED',
    })
    expect(count('findKeyByDigest')).toBe(0)
    await keyward.verifyKey('ms-0123456789abcdef0123456789abcdef')
    expect(count('findKeyByDigest')).toBe(1)
  })

  it('serves a warm key from the cache: one store read for many verifications', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    for (let i = 0; i < 100; i++) expect((await keyward.verifyKey(key)).ok).toBe(true)
    expect(count('findKeyByDigest')).toBe(1)
  })

  it('asks the store again after the cache TTL', async () => {
    const { store, count } = instrumentedStore()
    const { keyward, clock } = setup({ store, cache: { ttl: '30s' } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    await keyward.verifyKey(key)
    clock.advance(29_999)
    await keyward.verifyKey(key)
    expect(count('findKeyByDigest')).toBe(1)
    clock.advance(1)
    await keyward.verifyKey(key)
    expect(count('findKeyByDigest')).toBe(2)
  })

  it('accepts a key until the last millisecond and rejects it at its expiry, cache or not', async () => {
    const { keyward, clock, store } = setup()
    const { key, expiresOn } = await keyward.issueKey('alice', { name: 'ci' })
    clock.set(expiresOn.getTime() - 1)
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    clock.set(expiresOn.getTime())
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'EXPIRED' })
    // Another instance on the same store, with an empty cache: the store's answer, judged alike.
    const fresh = setup({ store })
    fresh.clock.set(expiresOn.getTime() - 1)
    expect((await fresh.keyward.verifyKey(key)).ok).toBe(true)
    const cold = setup({ store })
    cold.clock.set(expiresOn.getTime())
    expect(await cold.keyward.verifyKey(key)).toEqual({ ok: false, code: 'EXPIRED' })
  })

  it('never lets a cached entry outlive the key, even with a long cache TTL', async () => {
    const { keyward, clock } = setup({ keyLifetime: '10s', cache: { ttl: '1h' } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    clock.advance(10_000)
    expect((await keyward.verifyKey(key)).ok).toBe(false)
  })

  it('refuses a record the store answers for another digest: only an exact digest match verifies', async () => {
    const base = memoryStore()
    // A faulty store (a lax index, a wrong collation) that answers every lookup with one record.
    const store = {
      ...base,
      findKeyByDigest: async (_digest: string) => (await base.listKeys('alice'))[0] ?? null,
    }
    const { keyward } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const other = `ms-${'ab'.repeat(16)}`
    expect(await keyward.verifyKey(other)).toEqual({ ok: false, code: 'NOT_FOUND' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
  })

  it('refuses a record the store answers whose digest is of another length', async () => {
    const base = memoryStore()
    // A faulty store (a lax prefix index, a legacy digest column) that answers every lookup with one record.
    const store = {
      ...base,
      findKeyByDigest: async (_digest: string) => {
        const record = (await base.listKeys('alice'))[0]
        return record === undefined ? null : { ...record, digest: record.digest.slice(0, 32) }
      },
    }
    const { keyward } = setup({ store })
    await keyward.issueKey('alice', { name: 'ci' })
    expect(await keyward.verifyKey(`ms-${'ab'.repeat(16)}`)).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it('rejects the key of a user who no longer exists', async () => {
    const { keyward, users } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    users.delete('alice')
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'USER_GONE' })
  })

  it('takes a directory’s undefined for a user gone, as null', async () => {
    const { keyward } = setup({ users: { get: () => undefined } })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'USER_GONE' })
  })

  it('fails closed when the store fails: an error, never "not found"', async () => {
    const store = {
      ...memoryStore(),
      findKeyByDigest: async () => Promise.reject(new Error('connection refused')),
    }
    const { keyward } = setup({ store })
    await expect(keyward.verifyKey('ms-0123456789abcdef0123456789abcdef')).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      name: 'StoreUnavailableError',
    })
  })

  it('fails closed when the user directory throws', async () => {
    const { keyward: issuer, store } = setup()
    const { key } = await issuer.issueKey('alice', { name: 'ci' })
    const { keyward } = setup({
      store,
      users: {
        get: () => {
          throw new Error('users db down')
        },
      },
    })
    await expect(keyward.verifyKey(key)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
  })
})

/**
 * A memory store whose next key read, once `hold` is called, answers only at `release`. `hold`
 * resolves when that read has been made.
 */
function heldKeyReads() {
  const base = memoryStore()
  let held: Promise<void> | undefined
  let open = () => {}
  let made = () => {}
  const answered = async <T>(read: Promise<T>) => {
    const gate = held
    held = undefined
    const record = await read
    made()
    await gate
    return record
  }
  const store = {
    ...base,
    findKeyByDigest: (digest: string) => answered(base.findKeyByDigest(digest)),
    findKeyById: (id: string) => answered(base.findKeyById(id)),
  }
  const hold = () => {
    held = new Promise<void>((resolve) => {
      open = resolve
    })
    return new Promise<void>((resolve) => {
      made = resolve
    })
  }
  return { store, hold, release: () => open() }
}

describe('finding whose a key in hand is (a key reported leaked)', () => {
  it('names its owner and id, expired or not, and records no use: no last-used time, no key.used', async () => {
    const { keyward, events, clock } = setup({ keyLifetime: '1d' })
    const { key, id, name, createdOn, expiresOn } = await keyward.issueKey('alice', { name: 'ci' })
    const info = { id, userId: 'alice', name, preview: expect.any(String), createdOn, expiresOn }
    expect(await keyward.findKey(key)).toEqual({ ...info, lastUsedOn: null })
    await keyward.flushUsage()
    expect(events.map((event) => event.type)).toEqual(['key.issued'])
    clock.advance(2 * DAY)
    expect(await keyward.findKey(key)).toMatchObject(info)
    expect(await keyward.deleteKey('alice', { id })).toMatchObject({ id, lastUsedOn: null })
    expect(await keyward.findKey(key)).toBeNull()
  })

  it('answers null for what is no key of ours, before asking the store', async () => {
    const { store, count } = instrumentedStore()
    const { keyward } = setup({ store })
    for (const raw of ['', 'nonsense', `ms-${'0'.repeat(31)}`, 42 as unknown as string])
      expect(await keyward.findKey(raw)).toBeNull()
    expect(count('findKeyByDigest')).toBe(0)
    expect(await keyward.findKey(`ms-${'0'.repeat(32)}`)).toBeNull()
    expect(count('findKeyByDigest')).toBe(1)
  })
})

describe('deleting keys', () => {
  it('takes effect at once under a warm cache', async () => {
    const { keyward } = setup({ cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    const deleted = await keyward.deleteKey('alice', { id })
    expect(deleted).toMatchObject({ id, name: 'ci' })
    expect(deleted).not.toHaveProperty('key')
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it('deletes by the full key too', async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.deleteKey('alice', { key }))?.id).toBe(id)
    expect((await keyward.verifyKey(key)).ok).toBe(false)
  })

  it("never deletes another user's key, and says so with null", async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect(await keyward.deleteKey('bob', { id })).toBeNull()
    expect(await keyward.deleteKey('bob', { key })).toBeNull()
    expect(await keyward.deleteKey('alice', { key: 'garbage' })).toBeNull()
    expect((await keyward.verifyKey(key)).ok).toBe(true)
  })

  it('evicts on another instance when the store announces the deletion', async () => {
    const store = memoryStore()
    const one = setup({ store, cache: { ttl: '1h' } }).keyward
    const two = setup({ store, cache: { ttl: '1h' } }).keyward
    const { key, id } = await one.issueKey('alice', { name: 'ci' })
    expect((await two.verifyKey(key)).ok).toBe(true)
    await one.deleteKey('alice', { id })
    expect((await two.verifyKey(key)).ok).toBe(false)
  })

  it('does not let a store read that raced a deletion put the key back in the cache', async () => {
    const { store, hold, release } = heldKeyReads()
    const { keyward } = setup({ store, cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    hold()
    const racing = keyward.verifyKey(key)
    await keyward.deleteKey('alice', { id })
    release()
    expect((await racing).ok).toBe(false)
    expect((await keyward.verifyKey(key)).ok).toBe(false)
  })

  it('does not cache a key a read raced more deletions than the cache remembers', async () => {
    const { store, hold, release } = heldKeyReads()
    // The cache remembers two deletions: three more push the raced key's out.
    const { keyward } = setup({ store, cache: { max: 2, ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const others = await Promise.all(['a', 'b', 'c'].map((name) => keyward.issueKey('alice', { name })))
    hold()
    const racing = keyward.verifyKey(key)
    await keyward.deleteKey('alice', { id })
    for (const other of others) await keyward.deleteKey('alice', { id: other.id })
    release()
    // The read answers as it began before the deletion; what it read is not kept.
    expect((await racing).ok).toBe(true)
    expect((await keyward.verifyKey(key)).ok).toBe(false)
  })
})

/**
 * The store deletes, and the answer is lost on the way back; so is the announcement of the
 * deletion (the same outage, or a store that announces nothing).
 */
function deletionsAnswerLost(store: KeyStore): KeyStore {
  const { subscribe, ...announcingNothing } = store
  return {
    ...announcingNothing,
    async deleteKey(userId, selector) {
      await store.deleteKey(userId, selector)
      throw new Error('connection reset')
    },
  }
}

describe('deleting keys whose answer is lost', () => {
  it('stops serving the key at once from the cache that held it (the store did delete it)', async () => {
    const { keyward } = setup({ store: deletionsAnswerLost(memoryStore()), cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    await expect(keyward.deleteKey('alice', { id })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it('does not cache a key a read raced a lost deletion of, however many deletions the cache forgot meanwhile', async () => {
    const { store, hold, release } = heldKeyReads()
    let lostId: string | undefined
    const lossy = deletionsAnswerLost(store)
    const { keyward } = setup({
      store: {
        ...lossy,
        deleteKey: (userId, selector) =>
          'id' in selector && selector.id === lostId
            ? lossy.deleteKey(userId, selector)
            : store.deleteKey(userId, selector),
      },
      cache: { max: 2, ttl: '1h' },
    })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    lostId = id
    const others = await Promise.all(['a', 'b', 'c'].map((name) => keyward.issueKey('alice', { name })))
    hold()
    const racing = keyward.verifyKey(key)
    await expect(keyward.deleteKey('alice', { id })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    // Three deletions of which the cache remembers two: one is forgotten. Neither unknown may
    // cancel the other out.
    for (const other of others) await keyward.deleteKey('alice', { id: other.id })
    release()
    expect((await racing).ok).toBe(true)
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it('does not let a read in flight put the key back in the cache', async () => {
    const { store, hold, release } = heldKeyReads()
    const { keyward } = setup({ store: deletionsAnswerLost(store), cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    hold()
    const racing = keyward.verifyKey(key)
    await expect(keyward.deleteKey('alice', { id })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    release()
    // The read answers as it began before the deletion; what it read is not kept.
    expect((await racing).ok).toBe(true)
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it("does not let a token's read of its key by id put the key back in the cache", async () => {
    const { store, hold, release } = heldKeyReads()
    const { keyward } = setup({ store: deletionsAnswerLost(store), cache: { ttl: '1h' } })
    const { key, id } = await setup({ store }).keyward.issueKey('alice', { name: 'ci' })
    const { auth_token } = await setup({ store }).keyward.authenticateWithApiKey(key)
    const request = { headers: { authorization: `Bearer ${auth_token}` } }
    const read = hold()
    const racing = keyward.authenticate(request)
    await read
    await expect(keyward.deleteKey('alice', { id })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    release()
    expect(await racing).toMatchObject({ ok: true })
    expect(await keyward.authenticate(request)).toMatchObject({ ok: false })
    expect((await keyward.verifyKey(key)).ok).toBe(false)
  })
})

describe('listing keys', () => {
  it("lists the user's live keys without the key or its digest", async () => {
    const { keyward, clock } = setup()
    const first = await keyward.issueKey('alice', { name: 'first' })
    clock.advance(MINUTE)
    await keyward.issueKey('alice', { name: 'second' })
    await keyward.issueKey('bob', { name: 'bobs' })
    const list = await keyward.listKeys('alice')
    expect(list.map((key) => key.name)).toEqual(['first', 'second'])
    expect(JSON.stringify(list)).not.toContain(first.key)
    expect(list[0]).not.toHaveProperty('digest')
    clock.set(first.expiresOn.getTime())
    expect((await keyward.listKeys('alice')).map((key) => key.name)).toEqual(['second'])
  })
})

describe('last use', () => {
  it('is batched: no store write per verification, one batch per resolution', async () => {
    const base = memoryStore()
    const writes: number[] = []
    const store = {
      ...base,
      recordKeyUsage: (usage: Parameters<typeof base.recordKeyUsage>[0]) => {
        writes.push(usage.length)
        return base.recordKeyUsage(usage)
      },
    }
    const { keyward, clock } = setup({ store, lastUsedResolution: '1m' })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    for (let i = 0; i < 1000; i++) {
      clock.advance(10)
      await keyward.verifyKey(key)
    }
    expect(writes).toEqual([])
    clock.advance(MINUTE)
    await keyward.verifyKey(key)
    await keyward.flushUsage()
    expect(writes).toEqual([1])
    const [listed] = await keyward.listKeys('alice')
    expect(listed?.id).toBe(id)
    expect(listed?.lastUsedOn?.getTime()).toBe(clock())
  })

  it('is the latest use, also when the key is answered from the cache and uses share a millisecond', async () => {
    const { keyward, clock } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = { headers: { 'x-api-key': key }, socket: {} }
    for (const step of [0, 0, 5, 0, 1]) {
      clock.advance(step)
      expect((await keyward.authenticate(request)).ok).toBe(true)
      await keyward.verifyKey(key)
    }
    await keyward.flushUsage()
    expect((await keyward.listKeys('alice'))[0]?.lastUsedOn?.getTime()).toBe(clock())
    await keyward.close()
  })

  it('is the latest use when a request that began earlier is answered later (a slow directory)', async () => {
    let slowDirectory: Promise<void> | undefined
    const { keyward, clock } = setup({
      users: {
        get: async (id) => {
          await slowDirectory
          return { id, permissions: [] }
        },
      },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = { headers: { 'x-api-key': key } }
    expect((await keyward.authenticate(request)).ok).toBe(true)
    let answer = () => {}
    slowDirectory = new Promise((resolve) => {
      answer = resolve
    })
    const earlier = keyward.authenticate(request)
    clock.advance(5_000)
    slowDirectory = undefined
    expect((await keyward.authenticate(request)).ok).toBe(true)
    answer()
    expect((await earlier).ok).toBe(true)
    await keyward.flushUsage()
    expect((await keyward.listKeys('alice'))[0]?.lastUsedOn?.getTime()).toBe(clock())
    await keyward.close()
  })

  it('is the latest use when a verification that began earlier is answered later (a slow store read)', async () => {
    const { store, hold, release } = heldKeyReads()
    const { keyward, clock } = setup({ store: deletionsAnswerLost(store) })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const other = await keyward.issueKey('alice', { name: 'other' })
    hold()
    const earlier = keyward.verifyKey(key)
    // A deletion whose answer is lost comes between, so the later verification reads for itself
    // rather than share the earlier one's read.
    await expect(keyward.deleteKey('alice', { id: other.id })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    clock.advance(5_000)
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    release()
    expect((await earlier).ok).toBe(true)
    await keyward.flushUsage()
    expect((await keyward.listKeys('alice'))[0]?.lastUsedOn?.getTime()).toBe(clock())
    await keyward.close()
  })

  it('writes by itself once a use comes a full resolution (1 minute by default) after the last write', async () => {
    const { store, count } = instrumentedStore()
    const { keyward, clock } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    for (const [advance, writes] of [
      [MINUTE - 1, 0],
      [1, 1],
    ] as const) {
      clock.advance(advance)
      await keyward.verifyKey(key)
      expect(count('recordKeyUsage')).toBe(writes)
    }
  })

  it('is written a resolution later by itself when no use comes after it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const store = memoryStore()
      const { keyward, clock } = setup({ store })
      const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
      clock.advance(5_000)
      await keyward.verifyKey(key)
      const lastUsed = async () => (await store.findKeyById(id))?.lastUsedOn?.getTime()
      await vi.advanceTimersByTimeAsync(MINUTE - 1)
      expect(await lastUsed()).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      expect(await lastUsed()).toBe(clock())
      await keyward.close()
    } finally {
      vi.useRealTimers()
    }
  })

  it('is written when keyward closes', async () => {
    const store = memoryStore()
    const { keyward, clock } = setup({ store })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    await keyward.verifyKey(key)
    await keyward.close()
    expect((await store.listKeys('alice')).find((record) => record.id === id)?.lastUsedOn?.getTime()).toBe(
      clock(),
    )
  })

  it('is written before close resolves when its batch is still in flight, so the host closes no client under it', async () => {
    const base = memoryStore()
    let release = () => {}
    const store = {
      ...base,
      recordKeyUsage: (usage: Parameters<typeof base.recordKeyUsage>[0]) =>
        new Promise<void>((resolve) => {
          release = () => resolve(base.recordKeyUsage(usage))
        }),
    }
    const { keyward, clock } = setup({ store })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    await keyward.verifyKey(key)
    const inFlight = keyward.flushUsage()
    let closed = false
    const closing = keyward.close().then(() => {
      closed = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(false)
    release()
    await Promise.all([inFlight, closing])
    expect((await base.findKeyById(id))?.lastUsedOn?.getTime()).toBe(clock())
  })

  it('is not written by the timer once keyward is closed, for a use made after close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const { store, count } = instrumentedStore()
      const { keyward } = setup({ store })
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      await keyward.close()
      expect((await keyward.verifyKey(key)).ok).toBe(true)
      await vi.advanceTimersByTimeAsync(10 * MINUTE)
      expect(count('recordKeyUsage')).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('keeps pending times when a batch write fails, and writes them next time', async () => {
    const base = memoryStore()
    let failing = true
    const store = {
      ...base,
      recordKeyUsage: (usage: Parameters<typeof base.recordKeyUsage>[0]) =>
        failing ? Promise.reject(new Error('down')) : base.recordKeyUsage(usage),
    }
    const { keyward, clock } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    await keyward.verifyKey(key)
    await expect(keyward.flushUsage()).rejects.toThrow('down')
    failing = false
    await keyward.flushUsage()
    expect((await keyward.listKeys('alice'))[0]?.lastUsedOn?.getTime()).toBe(clock())
  })

  it('keeps a newer use made while a failing batch was in flight', async () => {
    const base = memoryStore()
    let fail: (error: Error) => void = () => {}
    let failing = true
    const store = {
      ...base,
      recordKeyUsage: (usage: Parameters<typeof base.recordKeyUsage>[0]) =>
        failing
          ? new Promise<void>((_, reject) => {
              fail = reject
            })
          : base.recordKeyUsage(usage),
    }
    const { keyward, clock, inFlight } = await useAgainWhileFlushing(store)
    fail(new Error('down'))
    await expect(inFlight).rejects.toThrow('down')
    failing = false
    await keyward.flushUsage()
    expect((await keyward.listKeys('alice'))[0]?.lastUsedOn?.getTime()).toBe(clock())
  })
})

/** A key used, the batch with that use sent (the store holds it), then the key used again 5 s later. */
async function useAgainWhileFlushing(store: KeyStore) {
  const { keyward, clock } = setup({ store })
  const { key } = await keyward.issueKey('alice', { name: 'ci' })
  await keyward.verifyKey(key)
  const inFlight = keyward.flushUsage()
  clock.advance(5_000)
  await keyward.verifyKey(key)
  return { keyward, clock, inFlight }
}

describe('usage written at the end', () => {
  it('writes on close, and on a flush, a use made while an earlier batch was in flight', async () => {
    const base = memoryStore()
    const releases: Array<() => void> = []
    const store = {
      ...base,
      recordKeyUsage: async (usage: Parameters<typeof base.recordKeyUsage>[0]) => {
        await new Promise<void>((resolve) => releases.push(resolve))
        return base.recordKeyUsage(usage)
      },
    }
    const lastUsed = async () => (await base.listKeys('alice'))[0]?.lastUsedOn?.getTime()
    const { keyward, clock, inFlight } = await useAgainWhileFlushing(store)
    const settled = Promise.all([inFlight, keyward.flushUsage(), keyward.close()])
    let done = false
    const finish = () => {
      done = true
    }
    settled.then(finish, finish)
    // Each batch is held until released, so the later use arrives while the first is in flight.
    while (!done) {
      releases.shift()?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await settled
    expect(await lastUsed()).toBe(clock())
  })
})

describe('cross-instance events', () => {
  it('keeps trying to subscribe while the store is down, then evicts on events', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    try {
      const base = memoryStore()
      let attempts = 0
      const store = {
        ...base,
        subscribe: (listener: Parameters<NonNullable<typeof base.subscribe>>[0]) =>
          ++attempts < 3 ? Promise.reject(new Error('down')) : base.subscribe!(listener),
      }
      const other = setup({ store: base, cache: { ttl: '1h' } }).keyward
      const { keyward } = setup({ store, cache: { ttl: '1h' } })
      const { key, id } = await other.issueKey('alice', { name: 'ci' })
      expect((await keyward.verifyKey(key)).ok).toBe(true)
      await vi.advanceTimersByTimeAsync(500)
      await vi.advanceTimersByTimeAsync(1000)
      expect(attempts).toBe(3)
      await other.deleteKey('alice', { id })
      expect((await keyward.verifyKey(key)).ok).toBe(false)
      await keyward.close()
    } finally {
      vi.useRealTimers()
    }
  })
})
