/**
 * The guard's warm path (admitFromMemory), which the adapters try before the full guard. It must
 * admit a keep-alive client's known key or token without the full path's work, with the very
 * principal the full path would give, and leave everything else to the full path: it never admits
 * what the full path refuses. The last test runs both on random sequences of requests, deletions,
 * clock moves and directory changes.
 */
import { IncomingMessage } from 'node:http'
import type { AuthenticateOptions, GuardOutcome, KeywardUser, NodeRequest } from '@keyward/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DAY, MINUTE, setup } from './support.js'

const RUNS = Number(process.env.KEYWARD_FUZZ_RUNS ?? 300)
const READ = { permissions: ['agents:read'] }

type Keyward = ReturnType<typeof setup>['keyward']

/**
 * The request as the adapters hand it over: Node's own, its `headers` built from the raw lines by
 * Node's rules (a repeated X-Api-Key joined, a repeated Authorization dropped).
 */
function nodeRequest(rawHeaders: readonly string[], socket: object): NodeRequest {
  const message = new IncomingMessage(null as never) as IncomingMessage & {
    _addHeaderLines(lines: readonly string[], count: number): void
  }
  message._addHeaderLines(rawHeaders, rawHeaders.length)
  return { headers: message.headers, rawHeaders, socket }
}

/** The adapters' sequence: the warm path, then the full guard for what it leaves. */
function bothPaths(keyward: Keyward, rawHeaders: string[], socket: object, options?: AuthenticateOptions) {
  const warm = keyward.admitFromMemory(nodeRequest(rawHeaders, socket), options)
  const full = keyward.guard({ rawHeaders, socket, ip: '192.0.2.7' }, options)
  return { warm, full }
}

const admitted = async (outcome: GuardOutcome | Promise<GuardOutcome>) => {
  const settled = await outcome
  if (!settled.ok) throw new Error(`refused: ${JSON.stringify(settled.response.body)}`)
  return settled.auth
}

describe('the warm path admits a known credential', () => {
  it('an API key its connection verified, in X-Api-Key or as a bearer, with the full path’s principal', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    for (const rawHeaders of [
      ['Host', 'api', 'X-Api-Key', key],
      ['Host', 'api', 'authorization', `Bearer ${key}`],
    ]) {
      const socket = {}
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket), READ)).toBeUndefined()
      const principal = await admitted(keyward.guard({ rawHeaders, socket }, READ))
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket), READ)).toEqual(principal)
      // Only on that connection: another one verifies the key in full first.
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, {}), READ)).toBeUndefined()
    }
    await keyward.close()
  })

  it('an auth token verified before, from a key or from the host’s login, on any connection', async () => {
    const { keyward } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const fromKey = (await keyward.authenticateWithApiKey(key)).auth_token
    const fromLogin = (await keyward.issueTokens('alice')).auth_token
    for (const [token, keyId] of [
      [fromKey, id],
      [fromLogin, null],
    ] as const) {
      const rawHeaders = ['Authorization', `Bearer ${token}`]
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, {}))).toBeUndefined()
      const principal = await admitted(keyward.guard({ rawHeaders, socket: {} }))
      expect(principal).toMatchObject({ userId: 'alice', keyId, credential: 'auth_token' })
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, {}))).toEqual(principal)
    }
    await keyward.close()
  })

  it('a token cached whole: verified from any spelling of Bearer, never another token under its signature', async () => {
    const { keyward } = setup()
    const token = (await keyward.issueTokens('alice')).auth_token
    // Verified from a line the warm path does not read, then known in the plain one.
    await admitted(keyward.guard({ rawHeaders: ['Authorization', `BEARER   ${token}  `], socket: {} }))
    expect(keyward.admitFromMemory(nodeRequest(['Authorization', `Bearer ${token}`], {}))).toMatchObject({
      userId: 'alice',
    })
    // The same signature (so the same cache slot) under another payload, the token cut at its
    // start, or lengthened by what ends the cached line ("r "): none is the cached token.
    const [header, payload, signature] = token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')
    for (const other of [`${header}.${tampered}.${signature}`, token.slice(1), `r ${token}`]) {
      const rawHeaders = ['Authorization', `Bearer ${other}`]
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, {}))).toBeUndefined()
      expect(await keyward.guard({ rawHeaders, socket: {} })).toMatchObject({ ok: false })
    }
    await keyward.close()
  })

  it('a known key or token among other headers named as long as X-Api-Key or Authorization (X-Real-IP, Cache-Control)', async () => {
    const { keyward } = setup()
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const { auth_token: token } = await keyward.authenticateWithApiKey(key)
    const others = ['X-Real-IP', '192.0.2.7', 'Cache-Control', 'no-cache']
    for (const rawHeaders of [
      [...others, 'Authorization', `Bearer ${token}`],
      ['Authorization', `Bearer ${key}`, ...others],
    ]) {
      const socket = {}
      const principal = await admitted(keyward.guard({ rawHeaders, socket }))
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket))).toEqual(principal)
    }
    await keyward.close()
  })

  it('records the use as the full path does: last_used_on and the key.used event', async () => {
    const { keyward, clock, events } = setup()
    const { key, id } = await keyward.issueKey('alice', { name: 'ci' })
    const rawHeaders = ['X-Api-Key', key]
    const socket = {}
    await admitted(keyward.guard({ rawHeaders, socket }))
    // Later, within the cache's freshness (30 s here).
    clock.advance(20_000)
    events.length = 0
    expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket))).toBeDefined()
    expect(events).toEqual([{ type: 'key.used', at: new Date(clock()), userId: 'alice', keyId: id }])
    await keyward.flushUsage()
    const [listed] = await keyward.listKeys('alice')
    expect(listed?.lastUsedOn).toEqual(new Date(clock()))
    await keyward.close()
  })
})

describe('the warm path leaves everything else to the full guard', () => {
  /** A key and a token, each verified once on `socket`, so that the warm path knows both. */
  async function known(overrides: Parameters<typeof setup>[0] = {}) {
    const world = setup(overrides)
    const { key, id } = await world.keyward.issueKey('alice', { name: 'ci' })
    const { auth_token: token } = await world.keyward.authenticateWithApiKey(key)
    const socket = {}
    const byKey = ['X-Api-Key', key]
    const byToken = ['Authorization', `Bearer ${token}`]
    for (const rawHeaders of [byKey, byToken]) await admitted(world.keyward.guard({ rawHeaders, socket }))
    expect(world.keyward.admitFromMemory(nodeRequest(byKey, socket))).toBeDefined()
    expect(world.keyward.admitFromMemory(nodeRequest(byToken, socket))).toBeDefined()
    return { ...world, key, id, token, socket, byKey, byToken }
  }

  /** Neither credential is admitted from memory, and the full guard answers `status`. */
  async function leftToFull(
    { keyward, socket, byKey, byToken }: Awaited<ReturnType<typeof known>>,
    status: number,
    options?: AuthenticateOptions,
  ) {
    for (const rawHeaders of [byKey, byToken]) {
      const { warm, full } = bothPaths(keyward, rawHeaders, socket, options)
      expect(warm).toBeUndefined()
      const outcome = await full
      expect(outcome.ok ? 200 : outcome.response.status).toBe(status)
    }
    await keyward.close()
  }

  it('a deleted key, and the tokens it gave', async () => {
    const world = await known()
    await world.keyward.deleteKey('alice', { id: world.id })
    await leftToFull(world, 401)
  })

  it('an expired key, and an expired token', async () => {
    const world = await known()
    world.clock.advance(92 * DAY)
    await leftToFull(world, 401)
  })

  it('a token at the very millisecond it expires, which the full path refuses', async () => {
    const { keyward, clock } = setup()
    const { auth_token } = await keyward.issueTokens('alice')
    const rawHeaders = ['Authorization', `Bearer ${auth_token}`]
    const socket = {}
    await admitted(keyward.guard({ rawHeaders, socket }))
    clock.advance(15 * MINUTE - 1)
    expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket))).toBeDefined()
    clock.advance(1)
    const { warm, full } = bothPaths(keyward, rawHeaders, socket)
    expect(warm).toBeUndefined()
    expect(await full).toMatchObject({ ok: false, response: { status: 401 } })
    await keyward.close()
  })

  it('a cache entry past the cache’s freshness: the full path reads the store again', async () => {
    const world = await known()
    world.clock.advance(31_000)
    await leftToFull(world, 200)
  })

  it('a user gone from the directory', async () => {
    const world = await known()
    world.users.delete('alice')
    await leftToFull(world, 401)
  })

  it('a user gone, told by a falsy answer (a plain-JS `has(id) && get(id)`)', async () => {
    const users = new Map([['alice', { id: 'alice', permissions: ['agents:read'] }]])
    const world = await known({ users: { get: (id) => (users.has(id) && users.get(id)) as KeywardUser } })
    users.delete('alice')
    await leftToFull(world, 401)
  })

  it('a permission the user lacks', async () => {
    const world = await known()
    await leftToFull(world, 403, { permissions: ['agents:write'] })
  })

  it('a directory that fails: the full path answers 503', async () => {
    let failing = false
    const users = {
      get: (id: string): KeywardUser | null => {
        if (failing) throw new Error('directory down')
        return id === 'alice' ? { id, permissions: [] } : null
      },
    }
    const world = await known({ users })
    failing = true
    await leftToFull(world, 503)
  })

  it('any request while an address is blocked, since only the full path reads the address', async () => {
    const world = await known({ rateLimit: { perAddress: { max: 2, window: '1m' } } })
    const forged = `ms-${'0'.repeat(32)}`
    for (let i = 0; i < 3; i++)
      await world.keyward.guard({ rawHeaders: ['X-Api-Key', forged], ip: '192.0.2.99' })
    // The blocked address is another one: this client's request is admitted, but by the full path.
    await leftToFull(world, 200)
  })

  it('takes requests again once the last block has ended, though the blocked address never came back', async () => {
    const world = await known({ rateLimit: { perAddress: { max: 2, window: '1m' } } })
    const forged = `ms-${'0'.repeat(32)}`
    for (let i = 0; i < 3; i++)
      await world.keyward.guard({ rawHeaders: ['X-Api-Key', forged], ip: '192.0.2.99' })
    expect(world.keyward.admitFromMemory(nodeRequest(world.byKey, world.socket))).toBeUndefined()
    world.clock.advance(61_000)
    // Past the cache's freshness too: the full path reads the key again, then memory answers.
    await admitted(world.keyward.guard({ rawHeaders: world.byKey, socket: world.socket }))
    expect(world.keyward.admitFromMemory(nodeRequest(world.byKey, world.socket))).toBeDefined()
    await world.keyward.close()
  })

  it('headers that are not plain: repeated, empty, another scheme or spacing, a token as X-Api-Key', async () => {
    const { keyward, socket, key, token } = await known()
    for (const rawHeaders of [
      ['X-Api-Key', key, 'x-api-key', key],
      // Node joins these into "<key>, " plus the rest: never the key itself.
      ['X-Api-Key', key, 'X-Api-Key', ''],
      ['X-Api-Key', key.slice(0, 20), 'X-Api-Key', key.slice(22)],
      ['X-Api-Key', ''],
      ['Authorization', `Bearer ${token}`, 'Authorization', `Bearer ${token}`],
      ['Authorization', `bearer ${token}`],
      ['Authorization', `Bearer  ${key}`],
      ['Authorization', `Basic ${key}`],
      ['X-Api-Key', token],
      ['X-Api-Key', `${key}x`],
    ])
      expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket))).toBeUndefined()
    await keyward.close()
  })

  /**
   * A keyward whose directory answers with a promise (alice alone), counting its calls in `asked`
   * and rejecting once `failing` is set, and alice's key, admitted once by the full guard.
   */
  async function promisedDirectory() {
    const directory = { asked: 0, failing: false }
    const users = {
      get: async (id: string): Promise<KeywardUser | null> => {
        directory.asked++
        if (directory.failing) throw new Error('directory down')
        return id === 'alice' ? { id, permissions: [] } : null
      },
    }
    const { keyward } = setup({ users })
    const { key } = await keyward.issueKey('alice', { name: 'ci' })
    const rawHeaders = ['X-Api-Key', key]
    const socket = {}
    await admitted(keyward.guard({ rawHeaders, socket }))
    return { directory, keyward, rawHeaders, socket }
  }

  it('a directory that answers with a promise, after which it is not asked here again', async () => {
    const { directory, keyward, rawHeaders, socket } = await promisedDirectory()
    const before = directory.asked
    for (let i = 0; i < 3; i++) {
      const { warm, full } = bothPaths(keyward, rawHeaders, socket)
      expect(warm).toBeUndefined()
      expect((await full).ok).toBe(true)
    }
    // The full path asked three times; the warm path once, when the directory first answered with a promise.
    expect(directory.asked - before).toBe(4)
    await keyward.close()
  })

  it('a directory whose promise rejects: no rejection is left unhandled, and the full path answers 503', async () => {
    const { directory, keyward, rawHeaders, socket } = await promisedDirectory()
    directory.failing = true
    const { warm, full } = bothPaths(keyward, rawHeaders, socket)
    expect(warm).toBeUndefined()
    const outcome = await full
    expect(outcome.ok ? 200 : outcome.response.status).toBe(503)
    await keyward.close()
  })
})

describe('the warm path against the full guard', () => {
  // Mostly one of the valid credential headers (indexes 0-8 below), sometimes any mix of them all.
  const headerSet = fc.oneof(
    { weight: 4, arbitrary: fc.nat(8).map((choice) => [choice]) },
    fc.array(fc.nat(11), { minLength: 1, maxLength: 3 }),
  )

  it(`admits only what the full guard admits, as it does, on random histories (${RUNS} cases)`, async () => {
    let warmAdmissions = 0
    let requests = 0
    let fullAdmissions = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            {
              weight: 20,
              arbitrary: fc.record({
                kind: fc.constant('request' as const),
                socket: fc.nat(1),
                headers: headerSet,
                permission: fc.constantFrom(undefined, undefined, 'agents:read', 'agents:write'),
                ip: fc.constantFrom('192.0.2.1', '192.0.2.2'),
              }),
            },
            fc.record({ kind: fc.constant('delete' as const), owner: fc.constantFrom('alice', 'bob') }),
            {
              weight: 3,
              arbitrary: fc.record({
                kind: fc.constant('advance' as const),
                ms: fc.constantFrom(1, 1, 1_000, 20_000, 31_000, 16 * 60_000, 2 * DAY, 92 * DAY),
              }),
            },
            fc.record({
              kind: fc.constant('directory' as const),
              change: fc.constantFrom(
                'bob leaves',
                'bob returns',
                'alice loses agents:read',
                'alice regains agents:read',
              ),
            }),
          ),
          { minLength: 10, maxLength: 60 },
        ),
        async (history) => {
          const { keyward, clock, users } = setup({ rateLimit: { perAddress: { max: 5, window: '1m' } } })
          const issued = {
            alice: await keyward.issueKey('alice', { name: 'a' }),
            bob: await keyward.issueKey('bob', { name: 'b' }),
          }
          const aliceToken = (await keyward.authenticateWithApiKey(issued.alice.key)).auth_token
          const bobToken = (await keyward.authenticateWithApiKey(issued.bob.key)).auth_token
          const loginToken = (await keyward.issueTokens('alice')).auth_token
          const forged = `ms-${'0'.repeat(32)}`
          const headerChoices = [
            ['X-Api-Key', issued.alice.key],
            ['x-api-key', issued.bob.key],
            ['Authorization', `Bearer ${issued.alice.key}`],
            ['authorization', `Bearer ${aliceToken}`],
            ['Authorization', `Bearer ${bobToken}`],
            ['Authorization', `Bearer ${loginToken}`],
            ['Authorization', `bearer ${aliceToken}`],
            ['Host', 'api.example'],
            ['X-Api-Key', forged],
            ['X-Api-Key', aliceToken],
            ['X-Api-Key', ''],
            ['Authorization', `Bearer ${forged}`],
          ] as const
          const sockets = [{}, {}]
          const bob = users.get('bob')!
          const alice = users.get('alice')!
          for (const step of history) {
            if (step.kind === 'advance') clock.advance(step.ms)
            else if (step.kind === 'delete')
              await keyward.deleteKey(step.owner, { id: issued[step.owner].id })
            else if (step.kind === 'directory') {
              if (step.change === 'bob leaves') users.delete('bob')
              else if (step.change === 'bob returns') users.set('bob', bob)
              else if (step.change === 'alice loses agents:read')
                users.set('alice', { ...alice, permissions: [] })
              else users.set('alice', alice)
            } else {
              const rawHeaders = step.headers.flatMap((choice) => [...headerChoices[choice]!])
              const options = step.permission === undefined ? undefined : { permissions: [step.permission] }
              const socket = sockets[step.socket]!
              const warm = keyward.admitFromMemory(nodeRequest(rawHeaders, socket), options)
              const full = await keyward.guard({ rawHeaders, socket, ip: step.ip }, options)
              requests++
              if (full.ok) fullAdmissions++
              if (warm !== undefined) {
                warmAdmissions++
                expect(full).toEqual({ ok: true, auth: warm })
              }
            }
          }
          await keyward.close()
        },
      ),
      { numRuns: RUNS },
    )
    // The property holds vacuously if the warm path never admits: it must have done real work.
    expect(warmAdmissions).toBeGreaterThan(fullAdmissions / 8)
    console.log(
      `[fuzz] warm path: ${requests} requests, ${fullAdmissions} admitted, ${warmAdmissions} of them from memory, each as the full guard did`,
    )
  })
})

describe('the warm path without a per-address limit', () => {
  it('admits a known key and a known token when the per-address limit is switched off', async () => {
    for (const rateLimit of [false, { perAddress: false }] as const) {
      const { keyward } = setup({ rateLimit })
      const { key } = await keyward.issueKey('alice', { name: 'ci' })
      const { auth_token } = await keyward.issueTokens('alice')
      for (const rawHeaders of [
        ['X-Api-Key', key],
        ['Authorization', `Bearer ${auth_token}`],
      ]) {
        const socket = {}
        const outcome = await keyward.guard({ rawHeaders, socket })
        if (!outcome.ok) throw new Error(`refused: ${JSON.stringify(outcome.response.body)}`)
        expect(keyward.admitFromMemory(nodeRequest(rawHeaders, socket))).toEqual(outcome.auth)
      }
      await keyward.close()
    }
  })
})
