/**
 * maxKeysPerUser bounds the unexpired keys one user holds (and so what a listing returns): one
 * more is refused with KEY_LIMIT_REACHED and leaves nothing behind, expired keys free their
 * place, and issues racing at the limit never keep more than the limit.
 */
import { KeywardError, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { instrumentedStore, MINUTE, setup } from './support.js'

const issueMany = (keyward: ReturnType<typeof setup>['keyward'], userId: string, count: number) =>
  Promise.allSettled(Array.from({ length: count }, (_, i) => keyward.issueKey(userId, { name: `k${i}` })))

const kept = (results: PromiseSettledResult<unknown>[]) =>
  results.filter((r) => r.status === 'fulfilled').length

describe('maxKeysPerUser', () => {
  it('allows 100 unexpired keys by default, refuses the 101st and keeps nothing of it', async () => {
    const { keyward, store, events } = setup()
    for (let i = 0; i < 100; i++) await keyward.issueKey('alice', { name: `k${i}` })
    const refusal = await keyward.issueKey('alice', { name: 'one too many' }).catch((error) => error)
    expect(refusal).toBeInstanceOf(KeywardError)
    expect(refusal).toMatchObject({
      code: 'KEY_LIMIT_REACHED',
      message: 'You have reached the limit of 100 active API keys. Delete one to issue another',
    })
    expect(await store.listKeys('alice')).toHaveLength(100)
    expect((await keyward.listKeys('alice')).map((key) => key.name)).not.toContain('one too many')
    expect(events.filter((event) => event.type === 'key.issued')).toHaveLength(100)
    // Another user is not counted against alice, and a deletion frees a place.
    await expect(keyward.issueKey('bob', { name: 'b' })).resolves.toBeDefined()
    const [oldest] = await keyward.listKeys('alice')
    await keyward.deleteKey('alice', { id: oldest!.id })
    await expect(keyward.issueKey('alice', { name: 'in its place' })).resolves.toBeDefined()
    await expect(keyward.issueKey('alice', { name: 'again too many' })).rejects.toMatchObject({
      code: 'KEY_LIMIT_REACHED',
    })
  })

  it('counts only unexpired keys', async () => {
    const { keyward, clock } = setup({ maxKeysPerUser: 2, keyLifetime: '5m' })
    await keyward.issueKey('alice', { name: 'a' })
    clock.advance(MINUTE)
    await keyward.issueKey('alice', { name: 'b' })
    await expect(keyward.issueKey('alice', { name: 'c' })).rejects.toMatchObject({
      code: 'KEY_LIMIT_REACHED',
    })
    clock.advance(4 * MINUTE)
    await expect(keyward.issueKey('alice', { name: 'c' })).resolves.toBeDefined()
  })

  it('keeps no more than the limit of issues racing for the last places', async () => {
    const { keyward, store } = setup({ maxKeysPerUser: 3 })
    await keyward.issueKey('alice', { name: 'first' })
    const results = await issueMany(keyward, 'alice', 20)
    const held = await store.listKeys('alice')
    expect(held.length).toBe(1 + kept(results))
    expect(held.length).toBeLessThanOrEqual(3)
    for (const result of results)
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'KEY_LIMIT_REACHED' })
    // Whatever the race left, the places it left free can be taken.
    while ((await store.listKeys('alice')).length < 3) await keyward.issueKey('alice', { name: 'later' })
    await expect(keyward.issueKey('alice', { name: 'over' })).rejects.toMatchObject({
      code: 'KEY_LIMIT_REACHED',
    })
  })

  it('lets a user at the limit write nothing: one listing, no insert, no deletion', async () => {
    const { store, count, calls } = instrumentedStore()
    const { keyward } = setup({ store, maxKeysPerUser: 2 })
    await keyward.issueKey('alice', { name: 'a' })
    await keyward.issueKey('alice', { name: 'b' })
    calls.length = 0
    await expect(keyward.issueKey('alice', { name: 'c' })).rejects.toMatchObject({
      code: 'KEY_LIMIT_REACHED',
    })
    expect(calls).toEqual(['listKeys'])
    expect(count('insertKey')).toBe(0)
  })

  it('gives the new key up when the count after the insert fails, and answers as the store failed', async () => {
    const base = memoryStore()
    let listings = 0
    const store = {
      ...base,
      listKeys: (userId: string) =>
        ++listings === 2 ? Promise.reject(new Error('connection reset')) : base.listKeys(userId),
    }
    const { keyward, events } = setup({ store })
    await expect(keyward.issueKey('alice', { name: 'lost reply' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    expect(await base.listKeys('alice')).toEqual([])
    expect(events.filter((event) => event.type === 'key.issued')).toEqual([])
    await expect(keyward.issueKey('alice', { name: 'retry' })).resolves.toMatchObject({ name: 'retry' })
  })

  it('answers 503, not 409, when a key one too many cannot be given up: it stays, and is not hidden', async () => {
    const base = memoryStore()
    await setup({ store: base }).keyward.issueKey('alice', { name: 'first' })
    let listings = 0
    const store = {
      ...base,
      // Another issue raced this one: the count before the insert still saw a free place.
      listKeys: async (userId: string) => (++listings === 1 ? [] : base.listKeys(userId)),
      deleteKey: () => Promise.reject(new Error('connection reset')),
    }
    const { keyward } = setup({ store, maxKeysPerUser: 1 })
    await expect(keyward.issueKey('alice', { name: 'second' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    expect(await base.listKeys('alice')).toHaveLength(2)
  })

  it('is unbounded with false', async () => {
    const { keyward } = setup({ maxKeysPerUser: false })
    expect(kept(await issueMany(keyward, 'alice', 150))).toBe(150)
    expect(await keyward.listKeys('alice')).toHaveLength(150)
  })
})
