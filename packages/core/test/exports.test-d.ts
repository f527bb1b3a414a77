import type {
  AuthResult,
  EventChannelState,
  FailureDetails,
  failureResponse,
  KeyStore,
  Keyward,
  KeywardHealth,
  Limited,
  MemoryStore,
  memoryStore,
} from '@keyward/core'
import { describe, expectTypeOf, it } from 'vitest'

describe('the types a host names', () => {
  it("are exported where a public signature uses them, so that a host's declarations can name them", () => {
    expectTypeOf<Extract<AuthResult, { ok: false }>['failure']['limited']>().toEqualTypeOf<
      Limited | undefined
    >()
    expectTypeOf<Parameters<typeof failureResponse>[1]>().toEqualTypeOf<FailureDetails | undefined>()
    expectTypeOf<ReturnType<Keyward['health']>>().toEqualTypeOf<Promise<KeywardHealth>>()
    expectTypeOf<KeywardHealth['events']>().toEqualTypeOf<EventChannelState>()
  })

  it("give memoryStore()'s prune and subscription, not optional methods", () => {
    expectTypeOf<ReturnType<typeof memoryStore>>().toEqualTypeOf<MemoryStore>()
    expectTypeOf<MemoryStore['pruneExpired']>().toEqualTypeOf<NonNullable<KeyStore['pruneExpired']>>()
    expectTypeOf<MemoryStore>().toExtend<KeyStore>()
  })
})
