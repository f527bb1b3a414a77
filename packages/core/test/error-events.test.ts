/**
 * What a client is never told (why a request got a 503 or a 500, a failed write in the
 * background) reaches the host as an `error` event with what was thrown.
 */
import type { HttpRequest, KeyStore, KeywardErrorEvent, KeywardEvent } from '@keyward/core'
import { memoryStore } from '@keyward/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ISSUED_AT, MINUTE, setup } from './support.js'

const UNAVAILABLE = {
  error: 'Service unavailable',
  message: 'Authentication is temporarily unavailable. Please retry shortly',
}
const refused = (message: string) => () => Promise.reject(new Error(message))
const errorsIn = (events: KeywardEvent[]) =>
  events.filter((event): event is KeywardErrorEvent => event.type === 'error')

const post = (path: string, body: unknown, headers: Record<string, string> = {}): HttpRequest => ({
  method: 'POST',
  path,
  query: {},
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(JSON.stringify(body)),
})

afterEach(() => {
  vi.useRealTimers()
})

describe('a request that fails on our side', () => {
  it("reports the store's own error behind a guard's 503, and tells the client nothing of it", async () => {
    const { keyward, events } = setup({
      store: { ...memoryStore(), findKeyByDigest: refused('ECONNREFUSED 10.0.0.7:5432') },
    })
    const outcome = await keyward.guard({ headers: { 'x-api-key': `ms-${'a'.repeat(32)}` } })
    expect(outcome).toMatchObject({ ok: false, response: { status: 503, body: UNAVAILABLE } })
    expect(JSON.stringify(outcome)).not.toContain('10.0.0.7')
    expect(errorsIn(events)).toEqual([
      {
        type: 'error',
        at: new Date(ISSUED_AT),
        during: 'request',
        code: 'STORE_UNAVAILABLE',
        error: new Error('ECONNREFUSED 10.0.0.7:5432'),
      },
    ])
  })

  it("reports a route's 503, and the user directory's own error, but no 4xx", async () => {
    const store = memoryStore()
    const healthy = setup({ store })
    const { key } = await healthy.keyward.issueKey('alice', { name: 'ci' })
    const unknown = await healthy.keyward.handle(
      post('/accounts/auth-with-api-key', { api_key: `ms-${'a'.repeat(32)}` }),
    )
    expect(unknown?.status).toBe(401)
    expect(errorsIn(healthy.events)).toEqual([])

    const { keyward, events } = setup({
      store,
      users: {
        get: () => {
          throw new Error('directory down')
        },
      },
    })
    const reply = await keyward.handle(post('/accounts/auth-with-api-key', { api_key: key }))
    // The client is told it may retry, not which part failed: a directory is no key store.
    expect(reply).toMatchObject({ status: 503, body: UNAVAILABLE })
    expect(errorsIn(events)).toMatchObject([
      { during: 'request', code: 'STORE_UNAVAILABLE', error: new Error('directory down') },
    ])
  })

  it('answers a TOTP key sealed under another encryption key with a bare 500, and says why in the event', async () => {
    const store = memoryStore()
    const before = setup({ store, totp: { encryptionKey: 'a'.repeat(32) } })
    const { key } = await before.keyward.issueKey('alice', { name: 'ci' })
    await before.keyward.generateTotpKey('alice')

    const { keyward, events } = setup({ store, totp: { encryptionKey: 'b'.repeat(32) } })
    const reply = await keyward.handle(
      post('/accounts/verify-totp', { code: '123456' }, { 'x-api-key': key }),
    )
    expect(reply).toMatchObject({
      status: 500,
      body: { error: 'Internal error', message: 'Something went wrong on our side' },
    })
    const [event, ...others] = errorsIn(events)
    expect(others).toEqual([])
    expect(event).toMatchObject({ during: 'request', code: 'INTERNAL' })
    expect(String(event?.error)).toMatch(/stored TOTP key of user alice opens with no configured key/)
  })
})

describe('work in the background that fails', () => {
  it('reports a failed write of last-used times, when it is due and when keyward closes', async () => {
    const { keyward, clock, events } = setup({
      store: { ...memoryStore(), recordKeyUsage: refused('read-only transaction') },
    })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    await keyward.guard({ headers: { 'x-api-key': key } })
    clock.advance(MINUTE)
    await keyward.guard({ headers: { 'x-api-key': key } })
    await vi.waitFor(() => expect(errorsIn(events)).toHaveLength(1))
    await keyward.close()
    expect(errorsIn(events)).toMatchObject([
      { during: 'last-used', code: 'STORE_UNAVAILABLE', error: new Error('read-only transaction') },
      { during: 'last-used', code: 'STORE_UNAVAILABLE', error: new Error('read-only transaction') },
    ])
  })

  it('answers 503 when a store call has not settled within storeTimeout (5 s by default), and says which', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    const silent = () => new Promise<never>(() => {})
    const { keyward, events } = setup({ store: { ...memoryStore(), findKeyByDigest: silent } })
    let outcome: unknown
    void Promise.resolve(keyward.guard({ headers: { 'x-api-key': `ms-${'a'.repeat(32)}` } })).then((o) => {
      outcome = o
    })
    await vi.advanceTimersByTimeAsync(4_999)
    expect(outcome).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(outcome).toMatchObject({ ok: false, response: { status: 503, body: UNAVAILABLE } })
    expect(errorsIn(events)).toMatchObject([
      {
        during: 'request',
        error: new Error('keyward: the store did not answer findKeyByDigest within 5000 ms'),
      },
    ])
    await keyward.close()
  })

  it('waits on a store call for as long as it takes with storeTimeout: false', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    let answer: (value: null) => void = () => {}
    const slow = () => new Promise<null>((resolve) => (answer = resolve))
    const { keyward } = setup({ store: { ...memoryStore(), findKeyByDigest: slow }, storeTimeout: false })
    const outcome = Promise.resolve(keyward.guard({ headers: { 'x-api-key': `ms-${'a'.repeat(32)}` } }))
    await vi.advanceTimersByTimeAsync(60_000)
    answer(null)
    expect(await outcome).toMatchObject({ ok: false, response: { status: 401 } })
    await keyward.close()
  })

  it("reports each failed attempt to subscribe to other instances' deletions", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] })
    const store: KeyStore = { ...memoryStore(), subscribe: refused('NOAUTH') }
    const { keyward, events } = setup({ store })
    await vi.advanceTimersByTimeAsync(0)
    expect(errorsIn(events)).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(500)
    expect(errorsIn(events)).toMatchObject([
      { during: 'subscribe', error: new Error('NOAUTH') },
      { during: 'subscribe', error: new Error('NOAUTH') },
    ])
    await keyward.close()
  })

  it('retries a subscribe that throws instead of rejecting, reporting each attempt: no crash', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] })
    const store: KeyStore = {
      ...memoryStore(),
      subscribe: () => {
        throw new Error('client is reconnecting')
      },
    }
    const { keyward, events } = setup({ store })
    await vi.advanceTimersByTimeAsync(500 + 1_000)
    expect(errorsIn(events)).toMatchObject([
      { during: 'subscribe', error: new Error('client is reconnecting') },
      { during: 'subscribe', error: new Error('client is reconnecting') },
      { during: 'subscribe', error: new Error('client is reconnecting') },
    ])
    await keyward.close()
  })

  it('drops every cached key when the store listens again after a break, so that a deletion it missed takes effect', async () => {
    const base = memoryStore()
    let resume: (() => void) | undefined
    // A channel that hears nothing: the break in which another instance's deletion is lost.
    const store: KeyStore = {
      ...base,
      subscribe: async (_listener, _onError, onResumed) => {
        resume = onResumed
        return async () => {}
      },
    }
    const { keyward } = setup({ store, cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    await base.deleteKey('alice', { id })
    expect((await keyward.verifyKey(key)).ok).toBe(true) // cached, the deletion unheard
    if (resume === undefined) throw new Error('keyward gave the store no onResumed')
    resume()
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
    await keyward.close()
  })

  it('drops every cached key once the first subscription is made: deletions until then were unheard', async () => {
    const base = memoryStore()
    let subscribed: ((stop: () => Promise<void>) => void) | undefined
    const store: KeyStore = {
      ...base,
      subscribe: () => new Promise((resolve) => (subscribed = resolve)),
    }
    const { keyward } = setup({ store, cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    await base.deleteKey('alice', { id })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    subscribed?.(async () => {})
    await new Promise((resolve) => setImmediate(resolve))
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
    await keyward.close()
  })

  it('drops every cached key when a subscription that failed at first succeeds: deletions until then were unheard', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] })
    const base = memoryStore()
    let attempts = 0
    const store: KeyStore = {
      ...base,
      subscribe: async () => {
        attempts++
        if (attempts === 1) throw new Error('NOAUTH')
        return async () => {}
      },
    }
    const { keyward } = setup({ store, cache: { ttl: '1h' } })
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    await base.deleteKey('alice', { id })
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    await vi.advanceTimersByTimeAsync(500)
    expect(attempts).toBe(2)
    expect(await keyward.verifyKey(key)).toEqual({ ok: false, code: 'NOT_FOUND' })
    await keyward.close()
  })

  it('reports what the store tells of once subscribed, until closed', async () => {
    let tell: ((error: unknown) => void) | undefined
    const store: KeyStore = {
      ...memoryStore(),
      subscribe: async (_listener, onError) => {
        tell = onError
        return async () => {}
      },
    }
    const { keyward, events } = setup({ store })
    if (tell === undefined) throw new Error('keyward gave the store no onError')
    tell(new Error('Connection terminated unexpectedly'))
    expect(errorsIn(events)).toMatchObject([
      {
        during: 'subscribe',
        code: 'STORE_UNAVAILABLE',
        error: new Error('Connection terminated unexpectedly'),
      },
    ])
    await keyward.close()
    tell(new Error('told after close'))
    expect(errorsIn(events)).toHaveLength(1)
  })

  it('closes only once a subscription still being made is made and stopped', async () => {
    let subscribed: (stop: () => Promise<void>) => void = () => {}
    const stopped = vi.fn(async () => {})
    const store: KeyStore = {
      ...memoryStore(),
      subscribe: () => new Promise((resolve) => (subscribed = resolve)),
    }
    const { keyward } = setup({ store })
    let closed = false
    const closing = keyward.close().then(() => (closed = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(false)
    subscribed(stopped)
    await closing
    expect(stopped).toHaveBeenCalledOnce()
  })

  it('neither reports nor retries an attempt to subscribe that fails once keyward is closing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval'] })
    let refuse: (error: Error) => void = () => {}
    let attempts = 0
    const store: KeyStore = {
      ...memoryStore(),
      subscribe: () => {
        attempts++
        return new Promise((_, reject) => (refuse = reject))
      },
    }
    const { keyward, events } = setup({ store })
    const closing = keyward.close()
    refuse(new Error('NOAUTH'))
    await closing
    await vi.advanceTimersByTimeAsync(MINUTE)
    expect(attempts).toBe(1)
    expect(errorsIn(events)).toEqual([])
  })

  it("stops the store's subscription once when closed twice, at once or one after the other", async () => {
    const stopped = vi.fn(async () => {})
    const store: KeyStore = { ...memoryStore(), subscribe: async () => stopped }
    const { keyward } = setup({ store })
    await new Promise((resolve) => setImmediate(resolve)) // subscribed
    await Promise.all([keyward.close(), keyward.close()])
    await keyward.close()
    expect(stopped).toHaveBeenCalledOnce()
  })

  it('reports a failed prune', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    const { keyward, events } = setup({
      store: { ...memoryStore(), pruneExpired: refused('statement timeout') },
    })
    await vi.advanceTimersByTimeAsync(MINUTE)
    expect(errorsIn(events)).toMatchObject([
      { during: 'prune', code: 'STORE_UNAVAILABLE', error: new Error('statement timeout') },
    ])
    await keyward.close()
  })
})
