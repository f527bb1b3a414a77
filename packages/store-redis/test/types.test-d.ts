import type { KeyStore } from '@keyward/core'
import type { RedisStore, redisStore } from '@keyward/store-redis'
import { describe, expectTypeOf, it } from 'vitest'

describe('redisStore()', () => {
  it('has its subscription for a host to call, not as an optional method', () => {
    expectTypeOf<ReturnType<typeof redisStore>>().toEqualTypeOf<RedisStore>()
    expectTypeOf<RedisStore['subscribe']>().toEqualTypeOf<NonNullable<KeyStore['subscribe']>>()
    expectTypeOf<RedisStore>().toExtend<KeyStore>()
  })
})
