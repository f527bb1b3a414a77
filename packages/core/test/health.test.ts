import { type KeyStore, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { subscribeWithRetry } from '../src/store/event-subscription.js'
import { instrumentedStore, setup } from './support.js'

/** A memory store whose subscription the test drives: it answers when `subscribed` is called. */
function drivenChannel() {
  let subscribed: (stop: () => Promise<void>) => void = () => {}
  let refused: (error: Error) => void = () => {}
  const callbacks = { onError: (_error: unknown) => {}, onResumed: () => {} }
  const store: KeyStore = {
    ...memoryStore(),
    subscribe: (_listener, onError, onResumed) => {
      callbacks.onError = onError ?? (() => {})
      callbacks.onResumed = onResumed ?? (() => {})
      return new Promise((resolve, reject) => {
        subscribed = resolve
        refused = reject
      })
    },
  }
  return {
    store,
    callbacks,
    subscribe: () => subscribed(async () => {}),
    refuse: (error: Error) => refused(error),
  }
}

describe('health, for a readiness probe', () => {
  it('is ok with the store up and its channel listening, and reads one key by id, writing nothing', async () => {
    const { store, calls } = instrumentedStore()
    const { keyward } = setup({ store })
    calls.length = 0
    expect(await keyward.health()).toEqual({ ok: true, store: 'up', events: 'listening' })
    expect(calls).toEqual(['findKeyById'])
    await keyward.close()
  })

  it('is not ok while the store fails, and sends no error event (a probe every few seconds)', async () => {
    const { keyward, events } = setup({
      store: { ...memoryStore(), findKeyById: () => Promise.reject(new Error('ECONNREFUSED')) },
    })
    expect(await keyward.health()).toEqual({ ok: false, store: 'unavailable', events: 'listening' })
    expect(events).toEqual([])
    await keyward.close()
  })

  it('is not ok when the store does not answer within storeTimeout', async () => {
    const { keyward } = setup({
      store: { ...memoryStore(), findKeyById: () => new Promise(() => {}) },
      storeTimeout: '50ms',
    })
    expect(await keyward.health()).toMatchObject({ ok: false, store: 'unavailable' })
    await keyward.close()
  })

  it('tells of a store without a channel', async () => {
    const { subscribe: _none, ...store } = memoryStore()
    const { keyward } = setup({ store })
    expect(await keyward.health()).toEqual({ ok: true, store: 'up', events: 'none' })
  })

  it("follows the channel: starting until subscribed, interrupted by the store's trouble, listening again on its return", async () => {
    const channel = drivenChannel()
    const { keyward } = setup({ store: channel.store })
    const events = async () => (await keyward.health()).events
    channel.refuse(new Error('NOAUTH'))
    expect(await events()).toBe('starting')
    expect((await keyward.health()).ok).toBe(true)
    await keyward.close()

    const next = drivenChannel()
    const { keyward: other } = setup({ store: next.store })
    expect((await other.health()).events).toBe('starting')
    next.subscribe()
    expect((await other.health()).events).toBe('listening')
    next.callbacks.onError(new Error('connection reset'))
    // The cache bounds a missed revocation meanwhile: the instance stays in service.
    expect(await other.health()).toEqual({ ok: true, store: 'up', events: 'interrupted' })
    next.callbacks.onError(new Error('reconnect failed'))
    expect((await other.health()).events).toBe('interrupted')
    next.callbacks.onResumed()
    expect((await other.health()).events).toBe('listening')
    await other.close()
  })

  it('hears nothing of the channel once closed: a subscription made, or resumed, after close leaves it as it was', async () => {
    const late = drivenChannel()
    const { keyward } = setup({ store: late.store })
    const closing = keyward.close()
    late.subscribe()
    await closing
    expect((await keyward.health()).events).toBe('starting')

    const resumed = drivenChannel()
    const { keyward: other } = setup({ store: resumed.store })
    resumed.subscribe()
    expect((await other.health()).events).toBe('listening')
    resumed.callbacks.onError(new Error('connection reset'))
    await other.close()
    resumed.callbacks.onResumed()
    expect((await other.health()).events).toBe('interrupted')
  })
})

// Tested directly: keyward.close settles the subscription's close with its other parts and would
// not show it rejecting.
describe('closing the subscription to the channel', () => {
  const ignored = () => {}
  const subscription = (store: KeyStore) => subscribeWithRetry(store, ignored, ignored, ignored)

  it('resolves when no subscription was made: the store refused, or answered only once closed', async () => {
    const refusing = drivenChannel()
    const close = subscription(refusing.store)
    refusing.refuse(new Error('NOAUTH'))
    await expect(close()).resolves.toBeUndefined()

    const late = drivenChannel()
    const closing = subscription(late.store)()
    late.subscribe()
    await expect(closing).resolves.toBeUndefined()
  })
})
