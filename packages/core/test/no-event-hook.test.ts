/**
 * onEvent is optional: a host that passes none hears of nothing, and its clients lose nothing for
 * it. A store outage is still their 503, never a guard that rejects.
 */
import { type KeywardOptions, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

const unreachable = () => Promise.reject(new Error('ECONNREFUSED 10.0.0.7:5432'))

describe('a keyward with no onEvent', () => {
  it('answers a store outage with a 503, as one with a hook does', async () => {
    const hooks: KeywardOptions['onEvent'][] = [undefined, () => {}]
    for (const onEvent of hooks) {
      const { keyward } = setup({ onEvent, store: { ...memoryStore(), findKeyByDigest: unreachable } })
      const outcome = await keyward.guard({ headers: { 'x-api-key': `ms-${'a'.repeat(32)}` } })
      expect(outcome).toMatchObject({ ok: false, response: { status: 503 } })
      await keyward.close()
    }
  })
})
