/**
 * The engine against a model of what it promises, on every store: fast-check draws sequences of
 * calls (issue, list, delete, verify, `authenticate`, `guard` and the warm path, the key-for-tokens
 * exchange, refresh and its reuse, TOTP, a user deleted by the host, a restart) with the injected
 * clock moved between them, often to just before, at or just after an expiry, and each answer,
 * and each audit event, must be one the model (support/model.ts) allows. Every run starts with the
 * same prelude (a key for each of three users, and one exchange), which a counterexample does not
 * list. A fresh engine and fresh users and addresses per run, on one store per suite; no run may
 * report an error event. KEYWARD_MODEL_RUNS sets the runs; KEYWARD_MODEL_SEED replays a seed.
 */
import { createKeyward, type KeyStore, type KeywardEvent, type KeywardUser } from '@keyward/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eachStore, type OpenStore } from '../support/stores.js'
import { AdmitFromMemory, type Credential, Guard } from './support/guard-commands.js'
import {
  AdvanceClock,
  AdvanceToEdge,
  DeleteKey,
  IssueKey,
  ListKeys,
  Restart,
  ToggleUser,
  VerifyKey,
} from './support/key-commands.js'
import { LIMITED_OPTIONS, type Model, PERMISSIONS } from './support/model.js'
import {
  GARBAGE_TOKENS,
  type KeyRef,
  MALFORMED_KEYS,
  MALFORMED_REFRESH,
  type RefreshRef,
  type TokenRef,
} from './support/refs.js'
import { Audited, type Real } from './support/run.js'
import {
  ExchangeKey,
  GenerateTotp,
  IssueTokens,
  RefreshTokens,
  ResetTotp,
  TotpEnabled,
  VerifyTotp,
} from './support/session-commands.js'

const RUNS: Record<string, number> = { 'the memory store': 200, PGlite: 100, PostgreSQL: 100, Redis: 100 }
const MAX_COMMANDS = 30
const JWT_SECRET = 'model-test-secret-of-at-least-32-bytes!!'
/** Each run adds an offset of under a second: tokens' expiries are whole seconds. */
const START = Date.UTC(2031, 0, 1)

const user = fc.nat({ max: 2 })
const ip = fc.option(fc.nat({ max: 1 }), { nil: undefined, freq: 2 })
const socket = fc.option(fc.nat({ max: 1 }), { nil: undefined, freq: 3 })
const permissions = fc.constantFrom(undefined, ['read'], ['admin'])

const keyRef: fc.Arbitrary<KeyRef> = fc.oneof(
  { weight: 6, arbitrary: fc.nat().map((pick) => ({ kind: 'live' as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'guarded' as const, pick })) },
  { weight: 3, arbitrary: fc.nat().map((pick) => ({ kind: 'issued' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'unknown' as const, pick })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...MALFORMED_KEYS).map((value) => ({ kind: 'malformed' as const, value })),
  },
)
const tokenRef: fc.Arbitrary<TokenRef> = fc.oneof(
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'latest' as const, pick })) },
  { weight: 3, arbitrary: fc.nat().map((pick) => ({ kind: 'issued' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'forged' as const, pick })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...GARBAGE_TOKENS).map((value) => ({ kind: 'garbage' as const, value })),
  },
)
const refreshRef: fc.Arbitrary<RefreshRef> = fc.oneof(
  { weight: 5, arbitrary: fc.nat().map((pick) => ({ kind: 'latest' as const, pick })) },
  { weight: 4, arbitrary: fc.nat().map((pick) => ({ kind: 'issued' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'unknown' as const, pick })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...MALFORMED_REFRESH).map((value) => ({ kind: 'malformed' as const, value })),
  },
)
const credential: fc.Arbitrary<Credential> = fc.oneof(
  fc.record({
    kind: fc.constant('key' as const),
    ref: keyRef,
    via: fc.constantFrom('x-api-key' as const, 'bearer' as const),
  }),
  fc.record({ kind: fc.constant('token' as const), ref: tokenRef }),
)
/** Around every lifetime configured (LIMITS), and anything up to past the longest. */
const step = fc.oneof(
  fc.constantFrom(0, 1, 999, 1_000, 4_999, 5_000, 9_999, 10_000, 30_000, 59_999, 60_000, 119_999, 120_000),
  fc.integer({ min: 0, max: 200_000 }),
)

/** Each command's weight is the number of times it is listed. */
const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) =>
  Array.from({ length: weight }, () => arbitrary)

const commands = fc.commands<Model, Real, false>(
  [
    ...weighted(
      4,
      fc
        .tuple(user, fc.constantFrom('CI', '  deploy  ', 'ключ', '🔑 laptop', '   ', 'tab\there'))
        .map(([u, name]) => new IssueKey(u, name)),
    ),
    ...weighted(
      2,
      fc.tuple(user, fc.boolean()).map(([u, flush]) => new ListKeys(u, flush)),
    ),
    ...weighted(
      3,
      fc
        .tuple(
          fc.oneof({ weight: 2, arbitrary: fc.constant('owner' as const) }, { weight: 1, arbitrary: user }),
          keyRef,
          fc.constantFrom('id' as const, 'key' as const),
        )
        .map(([u, ref, by]) => new DeleteKey(u, ref, by)),
    ),
    ...weighted(
      3,
      keyRef.map((ref) => new VerifyKey(ref)),
    ),
    ...weighted(
      5,
      fc
        .tuple(
          credential,
          socket,
          ip,
          permissions,
          fc.constantFrom('authenticate' as const, 'guard' as const),
        )
        .map(([c, s, i, p, api]) => new Guard(c, s, i, p, api)),
    ),
    ...weighted(
      2,
      fc
        .tuple(fc.option(credential, { nil: null, freq: 2 }), socket, permissions)
        .map(([c, s, p]) => new AdmitFromMemory(c, s, p)),
    ),
    ...weighted(
      3,
      fc.tuple(keyRef, ip).map(([ref, i]) => new ExchangeKey(ref, i)),
    ),
    ...weighted(
      1,
      user.map((u) => new IssueTokens(u)),
    ),
    ...weighted(
      4,
      fc.tuple(refreshRef, ip).map(([ref, i]) => new RefreshTokens(ref, i)),
    ),
    ...weighted(
      3,
      step.map((ms) => new AdvanceClock(ms)),
    ),
    ...weighted(
      3,
      fc
        .tuple(fc.nat(), fc.constantFrom(-1 as const, 0 as const, 1 as const))
        .map(([pick, delta]) => new AdvanceToEdge(pick, delta)),
    ),
    ...weighted(
      1,
      user.map((u) => new ToggleUser(u)),
    ),
    ...weighted(
      1,
      fc.constant(null).map(() => new Restart()),
    ),
    ...weighted(
      1,
      user.map((u) => new GenerateTotp(u)),
    ),
    ...weighted(
      2,
      fc
        .tuple(user, fc.constantFrom(null, -2, -1, 0, 0, 1, 7))
        .map(([u, offset]) => new VerifyTotp(u, offset)),
    ),
    ...weighted(
      1,
      user.map((u) => new TotpEnabled(u)),
    ),
    ...weighted(
      1,
      user.map((u) => new ResetTotp(u)),
    ),
  ],
  { maxCommands: MAX_COMMANDS, size: 'max' },
)

/** Every run starts with a key for each user and a session, so that most commands find something to act on. */
const PRELUDE = () => [
  new IssueKey(0, 'first'),
  new IssueKey(1, 'first'),
  new IssueKey(2, 'first'),
  new ExchangeKey({ kind: 'live', pick: 0 }, undefined),
]

const scenario = fc.record({
  /** A directory that answers with a promise: the guard then never takes its warm path. */
  asyncUsers: fc.constantFrom(false, false, false, true),
  startOffset: fc.integer({ min: 0, max: 999 }),
  commands,
})

let runCount = 0

/** A fresh engine, users and addresses on the suite's store, so runs never see each other's data. */
function startRun(store: KeyStore, storeName: string, asyncUsers: boolean, startOffset: number) {
  const run = ++runCount
  const tag = `${Date.now().toString(36)}-${run}`
  const users = PERMISSIONS.map((granted, i) => ({
    id: `model-${tag}-user${i}`,
    permissions: granted,
    passkeyEnabled: i === 1,
    exists: true,
  }))
  const directory = new Map<string, KeywardUser>(
    users.map((u) => [u.id, { id: u.id, permissions: [...u.permissions], passkeyEnabled: u.passkeyEnabled }]),
  )
  const clock = { now: START + startOffset }
  const errors: KeywardEvent[] = []
  const events: KeywardEvent[] = []
  const startEngine = () =>
    createKeyward({
      ...LIMITED_OPTIONS,
      jwtSecret: JWT_SECRET,
      store,
      clock: () => clock.now,
      users: {
        get: (id) => {
          const found = directory.get(id) ?? null
          return asyncUsers ? Promise.resolve(found) : found
        },
      },
      onEvent: (event) => {
        events.push(event)
        if (event.type === 'error') errors.push(event)
      },
    })
  const model: Model = {
    now: clock.now,
    dropsExpired: storeName === 'Redis',
    users,
    // Addresses of this run alone: the counters live in the store.
    ips: [1, 2].map((host) => `10.${(run >> 8) & 255}.${run & 255}.${host}`),
    keys: [],
    refreshTokens: [],
    authTokens: [],
    totp: new Map(),
    counters: new Map(),
    blockedUntil: new Map(),
    expectedEvents: [],
    seen: new Map(),
  }
  const real: Real = { engine: startEngine(), startEngine, clock, directory, sockets: [{}, {}], events }
  return { model, real, errors }
}

eachStore((name, open) => {
  describe(`the engine against its model, on ${name}`, () => {
    let opened: OpenStore | undefined
    const seen = new Map<string, number>()

    beforeAll(async () => {
      opened = await open()
    })

    afterAll(async () => {
      await opened?.close()
      const summary = [...seen].sort(([a], [b]) => a.localeCompare(b)).map(([what, n]) => `${what} ${n}`)
      // What the runs exercised, on request: KEYWARD_MODEL_REPORT=1.
      if (process.env.KEYWARD_MODEL_REPORT) console.log(`[model] ${name}: ${summary.join(', ')}`)
    })

    it('answers every sequence of calls as the model does', async () => {
      const store = opened!.store
      const numRuns = Number(process.env.KEYWARD_MODEL_RUNS ?? RUNS[name] ?? 25)
      await fc.assert(
        fc.asyncProperty(scenario, async ({ asyncUsers, startOffset, commands }) => {
          // Each run has addresses of its own, but requests with none share one group: start it again.
          await store.resetCounter('addr:unresolved')
          const { model, real, errors } = startRun(store, name, asyncUsers, startOffset)
          try {
            await fc.asyncModelRun(
              () => ({ model, real }),
              [...PRELUDE(), ...commands].map((command) => new Audited(command)),
            )
            await real.engine.flushUsage()
          } finally {
            await real.engine.close()
            for (const [what, n] of model.seen) seen.set(what, (seen.get(what) ?? 0) + n)
          }
          expect(errors).toEqual([])
        }),
        {
          numRuns,
          ...(process.env.KEYWARD_MODEL_SEED ? { seed: Number(process.env.KEYWARD_MODEL_SEED) } : {}),
        },
      )
    }, 180_000)
  })
})
