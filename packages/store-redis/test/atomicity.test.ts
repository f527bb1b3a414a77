import { randomUUID } from 'node:crypto'
import { sampleKeyRecord } from '@keyward/core/testing'
import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import * as lua from '../src/lua.js'
import type { Script } from '../src/script.js'
import { dumpPrefix, suiteStore } from './support.js'

const DAY = 86_400_000
const INVALID = new Date(Number.NaN)

describeWith('REDIS_URL', 'redis store: no half-applied writes', (url) => {
  const { client, prefix, store } = suiteStore(url)

  const liveToken = async () => {
    const token = {
      digest: randomUUID(),
      familyId: randomUUID(),
      userId: 'alice',
      keyId: null,
      createdOn: new Date(),
      expiresOn: new Date(Date.now() + DAY),
    }
    await store.insertRefreshToken(token)
    return token
  }
  const next = () => ({ digest: randomUUID(), createdOn: new Date(), expiresOn: new Date(Date.now() + DAY) })

  it('refuses an Invalid Date before calling Redis, and leaves the presented token unspent', async () => {
    const token = await liveToken()
    const refusals = [
      await store
        .rotateRefreshToken(token.digest, { ...next(), expiresOn: INVALID }, new Date())
        .catch((e) => e),
      await store.rotateRefreshToken(token.digest, next(), INVALID).catch((e) => e),
    ]
    // Not spent, so this is a rotation and not a reuse.
    expect((await store.rotateRefreshToken(token.digest, next(), new Date())).status).toBe('rotated')
    expect(refusals.map(String)).toEqual([
      'RangeError: keyward: next.expiresOn is an Invalid Date',
      'RangeError: keyward: now is an Invalid Date',
    ])
  })

  it('refuses an Invalid Date or a non-finite number in every write, naming it, storing nothing', async () => {
    const key = sampleKeyRecord('bob')
    const token = await liveToken()
    const before = await dumpPrefix(client, prefix)
    const pending = {
      userId: 'bob',
      sealedSecret: 'v1.x',
      enabled: false,
      lastStep: null,
      createdOn: new Date(),
    }
    const refused = [
      () => store.insertKey({ ...key, createdOn: INVALID }),
      () => store.insertKey({ ...key, expiresOn: INVALID }),
      () => store.insertKey({ ...key, lastUsedOn: INVALID }),
      () => store.recordKeyUsage([{ id: key.id, lastUsedOn: INVALID }]),
      () => store.insertRefreshToken({ ...token, digest: randomUUID(), createdOn: INVALID }),
      () => store.insertRefreshToken({ ...token, digest: randomUUID(), expiresOn: INVALID }),
      () => store.rotateRefreshToken(token.digest, { ...next(), createdOn: INVALID }, new Date()),
      () => store.putPendingTotp({ ...pending, createdOn: INVALID }),
      () => store.putPendingTotp({ ...pending, lastStep: Number.NaN }),
      () => store.acceptTotpStep('bob', 'v1.x', Number.NaN),
      () => store.incrementCounter('bucket', Number.POSITIVE_INFINITY, new Date()),
      () => store.incrementCounter('bucket', 60_000, INVALID),
      () => store.peekCounter('bucket', INVALID),
      () => store.findRefreshToken(token.digest, INVALID),
    ]
    const refusals = []
    for (const call of refused) refusals.push(String(await call().catch((error: unknown) => error)))
    expect(refusals).toEqual([
      'RangeError: keyward: createdOn is an Invalid Date',
      'RangeError: keyward: expiresOn is an Invalid Date',
      'RangeError: keyward: lastUsedOn is an Invalid Date',
      'RangeError: keyward: lastUsedOn is an Invalid Date',
      'RangeError: keyward: createdOn is an Invalid Date',
      'RangeError: keyward: expiresOn is an Invalid Date',
      'RangeError: keyward: next.createdOn is an Invalid Date',
      'RangeError: keyward: createdOn is an Invalid Date',
      'RangeError: keyward: lastStep must be a finite number (got NaN)',
      'RangeError: keyward: step must be a finite number (got NaN)',
      'RangeError: keyward: windowMs must be a finite number (got Infinity)',
      'RangeError: keyward: now is an Invalid Date',
      'RangeError: keyward: now is an Invalid Date',
      'RangeError: keyward: now is an Invalid Date',
    ])
    expect(await dumpPrefix(client, prefix)).toBe(before)
  })

  // Past the store's own checks (another caller of the scripts, a bug): each script checks every
  // number before its first write, since Redis keeps the writes of a script that fails half-way.
  it('has every script refuse a number that is not one, before writing anything', async () => {
    const k = (part: string) => `${prefix}${part}${randomUUID()}`
    const token = await liveToken()
    const tokenKey = `${prefix}refresh:${token.digest}`
    const key = sampleKeyRecord('carol')
    await store.insertKey(key)
    await store.putPendingTotp({
      userId: 'carol',
      sealedSecret: 'v1.x',
      enabled: false,
      lastStep: 5,
      createdOn: new Date(),
    })
    const before = await dumpPrefix(client, prefix)
    const [now, later] = [String(Date.now()), String(Date.now() + DAY)]
    const calls: Array<[Script, string[], string[]]> = [
      [lua.insertKey, [k('key:'), k('digest:'), k('user-keys:')], ['i', 'u', 'n', 'd', 'p', now, 'NaN', '']],
      [
        lua.insertKey,
        [k('key:'), k('digest:'), k('user-keys:')],
        ['i', 'u', 'n', 'd', 'p', now, later, 'inf'],
      ],
      [
        lua.insertKey,
        [k('key:'), k('digest:'), k('user-keys:')],
        ['i', 'u', 'n', 'd', 'p', 'NaN', later, ''],
      ],
      [lua.recordKeyUsage, [], [prefix, key.id, now, key.id, 'NaN']],
      [lua.insertRefreshToken, [k('refresh:'), k('family:')], ['d', 'f', 'u', '', now, 'NaN']],
      [lua.rotateRefreshToken, [tokenKey], [prefix, now, randomUUID(), now, 'NaN']],
      [lua.rotateRefreshToken, [tokenKey], [prefix, now, randomUUID(), 'x', later]],
      [lua.rotateRefreshToken, [tokenKey], [prefix, 'NaN', randomUUID(), now, later]],
      [lua.putPendingTotp, [k('totp:')], ['u', 's', '0', '', 'NaN']],
      [lua.putPendingTotp, [k('totp:')], ['u', 's', '0', 'NaN', now]],
      [lua.putPendingTotp, [k('totp:')], ['u', 's', '0', '1.5', now]],
      [lua.acceptTotpStep, [`${prefix}totp:carol`], ['NaN', 'v1.x']],
      [lua.acceptTotpStep, [`${prefix}totp:carol`], ['10.5', 'v1.x']],
      [lua.incrementCounter, [k('counter:')], [now, 'NaN']],
      [lua.incrementCounter, [k('counter:')], ['-inf', '60000']],
    ]
    for (const [script, keys, args] of calls) {
      await expect(script.run(client, keys, args), args.join(' ')).rejects.toThrow(
        /keyward: .* not a valid number/,
      )
    }
    expect(await dumpPrefix(client, prefix)).toBe(before)
    expect((await store.rotateRefreshToken(token.digest, next(), new Date())).status).toBe('rotated')
  })
})
