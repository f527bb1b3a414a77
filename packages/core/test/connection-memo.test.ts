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
import { constantTimeStringEqual } from '../src/lib/secrets.js'
import { UsageRecorder } from '../src/usage/usage-recorder.js'
import { DAY, manualClock, setup } from './support.js'

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
  const usage = new UsageRecorder(store, clock, 60_000)
  const keys = new KeyService(
    store,
    format,
    new KeyCache(100, 30_000),
    usage,
    clock,
    { months: 3, milliseconds: 0 },
    undefined,
  )
  return { keys, clock, digests: () => digests, close: () => usage.close() }
}

describe('constantTimeStringEqual', () => {
  it.each([
    ['ms-0123', 'ms-0123', true],
    ['ms-0123', 'xs-0123', false],
    ['ms-0123', 'ms-0124', false],
    ['ms-0123', 'ms-012', false],
    ['', '', true],
  ])('%s vs %s', (a, b, equal) => {
    expect(constantTimeStringEqual(a, b)).toBe(equal)
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
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const request = { headers: { 'x-api-key': key }, socket: {} }
    expect(await keyward.authenticate(request)).toMatchObject({ ok: true })
    clock.advance(92 * DAY)
    expect(await keyward.authenticate(request)).toEqual({ ok: false, failure: { code: 'EXPIRED' } })
    await keyward.close()
  })
})
