import { type KeyStore, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { SharedReads } from '../src/keys/shared-reads.js'
import { setup } from './support.js'

const CONCURRENT = 20

/**
 * A memory store that counts its key reads and, once `close` is called, holds their answers (each
 * read from the store at once) until `open`, or fails them at `fail`.
 */
function gatedKeyReads(base: KeyStore = memoryStore()) {
  let gate = Promise.resolve()
  let settle = { open: () => {}, fail: (_error: Error) => {} }
  const reads = { byDigest: 0, byId: 0 }
  let made = () => {}
  const held = async <T>(read: Promise<T>) => {
    const closed = gate
    made()
    const answer = await read
    await closed
    return answer
  }
  const store: KeyStore = {
    ...base,
    findKeyByDigest(digest) {
      reads.byDigest++
      return held(base.findKeyByDigest(digest))
    },
    findKeyById(id) {
      reads.byId++
      return held(base.findKeyById(id))
    },
  }
  /** Resolves when the first read held is made. */
  const close = () => {
    gate = new Promise<void>((resolve, reject) => {
      settle = { open: resolve, fail: reject }
    })
    gate.catch(() => {})
    return new Promise<void>((resolve) => {
      made = resolve
    })
  }
  // Reads made after the gate opens or fails go through.
  const open = () => {
    settle.open()
    gate = Promise.resolve()
  }
  const fail = (error: Error) => {
    settle.fail(error)
    gate = Promise.resolve()
  }
  return { store, reads, close, open, fail }
}

const times = <T>(count: number, make: () => Promise<T>) => Promise.all(Array.from({ length: count }, make))

describe('concurrent misses of one key (a cold cache, or one dropped when the store is back)', () => {
  it('share one store read, and each request gets its answer', async () => {
    const gated = gatedKeyReads()
    const { keyward } = setup({ store: gated.store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const other = await keyward.issueKey('bob', { name: 'ci' })
    gated.close()
    const answers = Promise.all([
      times(CONCURRENT, () => keyward.verifyKey(key)),
      times(CONCURRENT, () => keyward.verifyKey(other.key)),
    ])
    gated.open()
    const [alice, bob] = await answers
    expect(alice.map((answer) => answer.ok && answer.principal.userId)).toEqual(
      Array(CONCURRENT).fill('alice'),
    )
    expect(bob.map((answer) => answer.ok && answer.principal.userId)).toEqual(Array(CONCURRENT).fill('bob'))
    expect(gated.reads.byDigest).toBe(2)
  })

  it('share one read of an unknown key too (a client retrying a wrong key)', async () => {
    const gated = gatedKeyReads()
    const { keyward } = setup({ store: gated.store })
    gated.close()
    const answers = times(CONCURRENT, () => keyward.verifyKey(`ms-${'0'.repeat(32)}`))
    gated.open()
    expect(new Set((await answers).map((answer) => answer.ok || answer.code))).toEqual(new Set(['NOT_FOUND']))
    expect(gated.reads.byDigest).toBe(1)
  })

  it("share one read by id of the key behind auth tokens (each session's own token)", async () => {
    const gated = gatedKeyReads()
    const { key } = await setup({ store: gated.store }).keyward.issueKey('alice', { name: 'ci' })
    const exchange = setup({ store: gated.store }).keyward
    const tokens = await times(
      CONCURRENT,
      async () => (await exchange.authenticateWithApiKey(key)).auth_token,
    )
    expect(new Set(tokens).size).toBe(CONCURRENT)
    const { keyward, clock } = setup({ store: gated.store, cache: { ttl: '30s' } })
    const authenticateAll = () =>
      Promise.all(
        tokens.map((token) => keyward.authenticate({ headers: { authorization: `Bearer ${token}` } })),
      )
    expect((await authenticateAll()).every((answer) => answer.ok)).toBe(true)
    // The tokens stay verified in memory; the key behind them is read again once stale, by all at once.
    clock.advance(30_000)
    gated.reads.byId = 0
    gated.close()
    const answers = authenticateAll()
    gated.open()
    expect((await answers).every((answer) => answer.ok)).toBe(true)
    expect(gated.reads.byId).toBe(1)
  })

  it('fail together when the shared read fails, and the next request reads again', async () => {
    const gated = gatedKeyReads()
    const { keyward } = setup({ store: gated.store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const readMade = gated.close()
    const answers = times(CONCURRENT, () =>
      keyward.verifyKey(key).then(
        () => 'answered',
        (error: { code?: string }) => error.code,
      ),
    )
    await readMade
    gated.fail(new Error('connection reset'))
    expect(new Set(await answers)).toEqual(new Set(['STORE_UNAVAILABLE']))
    expect(gated.reads.byDigest).toBe(1)
    gated.open()
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    expect(gated.reads.byDigest).toBe(2)
  })

  it('refuse to every request that shared the read a key deleted on this instance while it was in flight', async () => {
    const gated = gatedKeyReads()
    const { keyward } = setup({ store: gated.store })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    gated.close()
    const answers = times(CONCURRENT, () => keyward.verifyKey(key))
    await keyward.deleteKey('alice', { id })
    gated.open()
    expect(new Set((await answers).map((answer) => answer.ok || answer.code))).toEqual(new Set(['NOT_FOUND']))
  })

  it('answer a request made after a deletion with the store, not with a shared read the cache forgot the deletion during', async () => {
    const gated = gatedKeyReads()
    // The cache remembers two deletions: two more push the first out.
    const { keyward } = setup({ store: gated.store, cache: { max: 2, ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const others = await Promise.all(['a', 'b'].map((name) => keyward.issueKey('alice', { name })))
    const readMade = gated.close()
    // The read fetches the key before the deletion, and its answer waits at the gate.
    const before = keyward.verifyKey(key)
    await readMade
    await keyward.deleteKey('alice', { id })
    const after = keyward.verifyKey(key)
    for (const other of others) await keyward.deleteKey('alice', { id: other.id })
    gated.open()
    expect((await before).ok).toBe(true)
    expect(await after).toEqual({ ok: false, code: 'NOT_FOUND' })
  })

  it('do not share a read that began before a deletion whose answer was lost: it may hold the key', async () => {
    const gated = gatedKeyReads()
    const base = gated.store
    const { keyward } = setup({
      store: {
        ...base,
        subscribe: undefined,
        async deleteKey(userId, selector) {
          await base.deleteKey(userId, selector)
          throw new Error('connection reset')
        },
      },
    })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    gated.close()
    // The read fetches the key before the deletion, and its answer waits at the gate.
    const before = keyward.verifyKey(key)
    await expect(keyward.deleteKey('alice', { id })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    const after = keyward.verifyKey(key)
    gated.open()
    expect((await after).ok).toBe(false)
    expect(gated.reads.byDigest).toBe(2)
    await before
  })
})

describe('SharedReads', () => {
  it('keeps sharing a newer read of a key when an older one of the same key, under another mark, lands first', async () => {
    const reads = new SharedReads<string>(() => true)
    const answers: Array<(answer: string) => void> = []
    let started = 0
    const start = () => {
      started++
      return new Promise<string>((resolve) => answers.push(resolve))
    }
    const older = reads.read('key', 0, start)
    const newer = reads.read('key', 1, start)
    answers[0]?.('older')
    expect(await older).toBe('older')
    const joined = reads.read('key', 1, start)
    expect(started).toBe(2)
    answers[1]?.('newer')
    expect(await Promise.all([newer, joined])).toEqual(['newer', 'newer'])
  })
})
