/**
 * A store's channel (PostgreSQL's NOTIFY, Redis's PUBLISH) carries events as text. Anything else
 * on it, from whoever can write to the channel, is no event: it evicts nothing and throws nothing.
 */
import { decodeStoreEvent, encodeStoreEvent, type StoreEvent } from '@keyward/core'
import { describe, expect, it } from 'vitest'

const deleted: StoreEvent = {
  type: 'key.deleted',
  keyId: '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
  digest: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
}
const text = (value: unknown) => JSON.stringify(value)

describe('store events as text', () => {
  it('reads back the event written', () => {
    expect(decodeStoreEvent(encodeStoreEvent(deleted))).toEqual(deleted)
  })

  it.each([
    ['text that is no JSON', 'key.deleted'],
    ['an empty message', ''],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', text('key.deleted')],
    ['an array', text([deleted])],
    ['another type', text({ ...deleted, type: 'key.created' })],
    ['no type', text({ keyId: deleted.keyId, digest: deleted.digest })],
    ['no key id', text({ type: deleted.type, digest: deleted.digest })],
    ['a key id that is no string', text({ ...deleted, keyId: 42 })],
    ['no digest', text({ type: deleted.type, keyId: deleted.keyId })],
    ['a digest that is no string', text({ ...deleted, digest: null })],
  ])('ignores %s', (_what, message) => {
    expect(decodeStoreEvent(message)).toBeUndefined()
  })
})
