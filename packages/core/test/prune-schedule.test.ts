/**
 * When keyward asks the store to delete what is past its end: soon after start, so that a
 * process that lives less than an hour still prunes, and never twice at once.
 */
import type { KeyStore, KeywardErrorEvent, KeywardEvent } from '@keyward/core'
import { memoryStore } from '@keyward/core'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ISSUED_AT, MINUTE, setup } from './support.js'

const HOUR = 60 * MINUTE
const errorsIn = (events: KeywardEvent[]) =>
  events.filter((event): event is KeywardErrorEvent => event.type === 'error')

/** A store whose prunes are recorded and each held open until the test finishes it. */
function heldPrunes() {
  const prunes: { now: Date; signal: AbortSignal | undefined; finish: () => void }[] = []
  const store: KeyStore = {
    ...memoryStore(),
    pruneExpired: (now, signal) =>
      new Promise((finish) => prunes.push({ now, signal, finish: () => finish() })),
  }
  return { store, prunes }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('the prune', () => {
  it('runs a minute after start, at the clock’s time, then an hour after each prune ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { store, prunes } = heldPrunes()
    const { keyward, clock } = setup({ store })
    await vi.advanceTimersByTimeAsync(MINUTE - 1)
    expect(prunes).toHaveLength(0)
    clock.advance(5 * MINUTE)
    await vi.advanceTimersByTimeAsync(1)
    expect(prunes.map((prune) => prune.now.getTime())).toEqual([ISSUED_AT + 5 * MINUTE])

    prunes[0]?.finish()
    await vi.advanceTimersByTimeAsync(HOUR - 1)
    expect(prunes).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(prunes).toHaveLength(2)
    prunes[1]?.finish()
    await keyward.close()
  })

  it('is never joined by a second while it runs, however long it takes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { store, prunes } = heldPrunes()
    const { keyward } = setup({ store })
    await vi.advanceTimersByTimeAsync(MINUTE + 5 * HOUR)
    expect(prunes).toHaveLength(1)
    prunes[0]?.finish()
    await vi.advanceTimersByTimeAsync(HOUR)
    expect(prunes).toHaveLength(2)
    prunes[1]?.finish()
    await keyward.close()
  })

  it('goes on after a store that throws instead of rejecting, which is reported', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let calls = 0
    const store: KeyStore = {
      ...memoryStore(),
      pruneExpired: () => {
        calls++
        throw new Error('not connected')
      },
    }
    const { keyward, events } = setup({ store })
    await vi.advanceTimersByTimeAsync(MINUTE + HOUR)
    expect(calls).toBe(2)
    expect(errorsIn(events)).toMatchObject([
      { during: 'prune', error: new Error('not connected') },
      { during: 'prune', error: new Error('not connected') },
    ])
    await keyward.close()
  })

  it('stops a prune in flight at close and waits for it, so the store is not used once closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { store, prunes } = heldPrunes()
    const { keyward, events } = setup({ store })
    await vi.advanceTimersByTimeAsync(MINUTE)
    expect(prunes[0]?.signal?.aborted).toBe(false)
    let closed = false
    const closing = keyward.close().then(() => (closed = true))
    expect(prunes[0]?.signal?.aborted).toBe(true)
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(false)
    prunes[0]?.finish()
    await closing
    await vi.advanceTimersByTimeAsync(2 * HOUR)
    expect(prunes).toHaveLength(1)
    expect(errorsIn(events)).toEqual([])
  })

  it('is never asked of a store that does not prune (its records expire by themselves), which keyward runs on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { pruneExpired: _none, ...store } = memoryStore()
    const { keyward, events } = setup({ store })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    await vi.advanceTimersByTimeAsync(MINUTE + 2 * HOUR)
    expect((await keyward.verifyKey(key)).ok).toBe(true)
    expect(errorsIn(events)).toEqual([])
    await keyward.close()
  })

  it('is not started by a keyward closed before its first minute', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { store, prunes } = heldPrunes()
    const { keyward } = setup({ store })
    await keyward.close()
    await vi.advanceTimersByTimeAsync(2 * HOUR)
    expect(prunes).toHaveLength(0)
  })
})
