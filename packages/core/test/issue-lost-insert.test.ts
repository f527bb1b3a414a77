import { type ApiKeyRecord, memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { setup } from './support.js'

describe('issuing a key when the insert fails', () => {
  it('answers 503 and gives up a key whose insert was written with its answer lost: it is never shown nor listed', async () => {
    const base = memoryStore()
    const store = {
      ...base,
      insertKey: async (record: ApiKeyRecord) => {
        await base.insertKey(record)
        throw new Error('connection reset')
      },
    }
    const { keyward, events } = setup({ store })
    await expect(keyward.issueKey('alice', { name: 'lost reply' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    })
    expect(await base.listKeys('alice')).toEqual([])
    expect(events.filter((event) => event.type === 'key.issued')).toEqual([])
    await keyward.close()
  })
})
