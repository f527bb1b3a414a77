/**
 * The Nth store call fails: for every route, the guard and every host call, each store call the
 * operation makes is failed in turn (rejected, thrown synchronously, never answered, or done with
 * its reply lost), on a fresh user and a cold instance. The answer must fail closed (a 503 JSON
 * answer or a StoreUnavailableError, an `error` event, no secret anywhere), and once the store
 * answers again the client's retry must succeed and leave nothing behind: no key the client never
 * got, no second live refresh token, no half-enabled TOTP, no deleted key in a cache, no count
 * stuck. store-outage.test.ts cuts a whole store under load; this sweep fails one call at a time.
 */
import { PGlite } from '@electric-sql/pglite'
import {
  createKeyward,
  type KeyStore,
  type Keyward,
  type KeywardEvent,
  type KeywardOptions,
  memoryStore,
  StoreUnavailableError,
} from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FAULT_MODES, type FaultMode, faultyStore } from './support/faulty-store.js'
import { type Ctx, type Fault, OPERATIONS, type Operation } from './support/operations.js'

const JWT_SECRET = 'nth-call-secret-nth-call-secret-nth-call-0'
const START = Date.parse('2027-03-01T00:00:00.000Z')
const UNAVAILABLE = {
  error: 'Service unavailable',
  message: 'Authentication is temporarily unavailable. Please retry shortly',
}

/** A read whose reply is lost is a read that failed: `lost` is swept on writes only. */
const READS = new Set([
  'findKeyByDigest',
  'findKeyById',
  'listKeys',
  'findRefreshToken',
  'getTotp',
  'peekCounter',
])

interface StoreUnderTest {
  readonly name: string
  /** Long enough for any real call of this store, short enough to wait for on every hung one. */
  readonly storeTimeoutMs: number
  /** One store for the whole sweep: each case has a user and an address of its own. */
  open(): Promise<{ store: KeyStore; close(): Promise<void> }>
}

const STORES: readonly StoreUnderTest[] = [
  {
    name: 'the memory store',
    storeTimeoutMs: 20,
    open: async () => ({ store: memoryStore(), close: async () => {} }),
  },
  {
    name: 'PGlite',
    storeTimeoutMs: 100,
    async open() {
      const db = new PGlite()
      await migrate(db)
      return { store: postgresStore({ client: db }), close: () => db.close() }
    },
  },
]

/** Errors as JSON shows them, message, stack and cause included, so that a secret in one is seen. */
const exposed = (value: unknown) =>
  JSON.stringify(value, (_key, item: unknown) =>
    item instanceof Error
      ? { ...item, name: item.name, message: item.message, stack: item.stack, cause: item.cause }
      : item,
  )

type Settled = { readonly value?: unknown; readonly error?: unknown }

const settle = (work: () => Promise<unknown>): Promise<Settled> =>
  work().then(
    (value) => ({ value }),
    (error: unknown) => ({ error: error ?? new Error('rejected with nothing') }),
  )

let sequence = 0
/** Every instance's clock: each case starts at START. */
const clock = { now: START }
const OPTIONS: KeywardOptions = {
  jwtSecret: JWT_SECRET,
  users: { get: (id) => ({ id, permissions: [] }) },
  clock: () => clock.now,
  maxKeysPerUser: 2,
}

interface Shared {
  readonly store: KeyStore
  /** The healthy instance: fixtures and checks, with a cache of its own. */
  readonly host: Keyward
}

/** A fresh user, address and instance (its caches cold) on the faulty store; a healthy host beside it. */
async function withCase(
  { store, host }: Shared,
  storeTimeoutMs: number,
  mode: FaultMode | undefined,
  body: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const seq = ++sequence
  clock.now = START
  const events: KeywardEvent[] = []
  const faulty = faultyStore(store)
  const kw = createKeyward({
    ...OPTIONS,
    store: faulty.store,
    onEvent: (event) => void events.push(event),
    ...(mode === 'hang' && { storeTimeout: `${storeTimeoutMs}ms` }),
  })
  let closed = false
  const ctx: Ctx = {
    raw: store,
    faulty,
    clock,
    user: `nth-user-${seq}`,
    ip: `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`,
    host,
    kw: {
      ...kw,
      close: () => {
        closed = true
        return kw.close()
      },
    },
    events,
    secrets: [],
  }
  try {
    await body(ctx)
  } finally {
    if (!closed) await kw.close()
  }
}

/** The store's error as keyward received it: the proxy's own, or keyward's deadline for a hung call. */
function storeError(mode: FaultMode, fault: Fault, injected: Error | undefined, timeoutMs: number) {
  return mode === 'hang'
    ? expect.objectContaining({
        message: `keyward: the store did not answer ${fault.call.method} within ${timeoutMs} ms`,
      })
    : injected
}

function expectFailedClosed(
  op: Operation,
  ctx: Ctx,
  fixture: unknown,
  settled: Settled,
  fault: Fault,
  cause: unknown,
) {
  const errors = ctx.events.filter((event) => event.type === 'error')
  const reported = (during: string) => [
    expect.objectContaining({ during, code: 'STORE_UNAVAILABLE', error: cause }),
  ]
  if (op.fallsBack?.includes(fault.n)) {
    // Counting a failed attempt falls back to the process: the answer is unchanged, and said.
    expect(settled.error).toBeUndefined()
    op.ok(settled.value, ctx, fixture)
    expect(errors).toEqual(reported('rate-limit'))
    return
  }
  const response = {
    status: 503,
    headers: expect.objectContaining({ 'retry-after': '5' }),
    body: UNAVAILABLE,
  }
  switch (op.closed) {
    case 'response':
      expect(settled).toEqual({ value: expect.objectContaining(response) })
      expect(errors).toEqual(reported('request'))
      break
    case 'guard':
      expect(settled).toEqual({ value: { ok: false, response: expect.objectContaining(response) } })
      expect(errors).toEqual(reported('request'))
      break
    case 'throws':
      expect(settled.error).toBeInstanceOf(StoreUnavailableError)
      expect(settled.error).toMatchObject({ code: 'STORE_UNAVAILABLE', cause })
      expect(errors).toEqual([])
      break
    case 'rejects':
      expect(settled.error).toEqual(cause)
      expect(errors).toEqual([])
      break
    case 'reported':
      expect(settled).toEqual({ value: undefined })
      expect(errors).toEqual(reported('last-used'))
      break
  }
  // An outage is no failed credential.
  expect(ctx.events.filter((event) => event.type === 'auth.failed')).toEqual([])
}

function expectNoSecret(ctx: Ctx, where: string, value: unknown) {
  const text = exposed(value)
  for (const secret of ctx.secrets) {
    if (text.includes(secret)) throw new Error(`a secret reached ${where}: ${text}`)
  }
}

function sweep(target: StoreUnderTest) {
  describe(`the Nth store call fails, on ${target.name}`, () => {
    let opened: Awaited<ReturnType<StoreUnderTest['open']>>
    let shared: Shared
    beforeAll(async () => {
      opened = await target.open()
      shared = { store: opened.store, host: createKeyward({ ...OPTIONS, store: opened.store }) }
    })
    afterAll(async () => {
      await shared?.host.close()
      await opened?.close()
    })

    for (const op of OPERATIONS) {
      describe(op.name, () => {
        it(`makes ${op.calls.length} store calls: ${op.calls.join(', ')}`, async () => {
          await withCase(shared, target.storeTimeoutMs, undefined, async (ctx) => {
            const fixture = await op.setup(ctx)
            ctx.events.length = 0
            ctx.faulty.reset()
            const settled = await settle(() => op.run(ctx, fixture))
            expect(settled.error).toBeUndefined()
            op.ok(settled.value, ctx, fixture)
            expect(ctx.faulty.calls.map((call) => call.method)).toEqual(op.calls)
            expect(ctx.events.filter((event) => event.type === 'error')).toEqual([])
          })
        })

        for (const mode of FAULT_MODES) {
          op.calls.forEach((method, index) => {
            const n = index + 1
            if (mode === 'lost' && READS.has(method)) return
            it(`${mode}: call ${n} (${method}) fails closed, then the retry succeeds and leaves nothing behind`, async () => {
              await withCase(shared, target.storeTimeoutMs, mode, async (ctx) => {
                const fixture = await op.setup(ctx)
                ctx.events.length = 0
                ctx.faulty.arm(n, mode)
                const settled = await settle(() => op.run(ctx, fixture))
                const calls = [...ctx.faulty.calls]
                const call = calls[index]
                expect(call?.method).toBe(method)
                const fault: Fault = { n, mode, call: call as Fault['call'], calls }
                const cause = storeError(mode, fault, ctx.faulty.injected, target.storeTimeoutMs)
                expectNoSecret(ctx, 'the failed answer', settled)
                expectFailedClosed(op, ctx, fixture, settled, fault, cause)
                await op.after(ctx, fixture, fault)
                expectNoSecret(ctx, 'an event', ctx.events)
                expectNoSecret(ctx, 'the store', ctx.faulty.calls)
              })
            })
          })
        }
      })
    }
  })
}

for (const target of STORES) sweep(target)
