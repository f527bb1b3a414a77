/**
 * keyward as a host installs it: the six packages packed as `pnpm publish` would, installed with
 * npm into an empty project beside the frameworks and drivers, then run from that project's own
 * node_modules (no workspace, no vitest aliases), from ESM and from CommonJS. On each framework a
 * real listening server admits an issued key, refuses a request without one, exchanges the key for
 * an auth token through the spec's route and admits the token, on the memory store, on PGlite,
 * and on PostgreSQL and Redis when they are configured. The conformance suite at
 * @keyward/core/testing runs from the tarball under the host's own vitest, as a store author runs it.
 *
 * What only this catches: a file the `files` list leaves out, a `workspace:` range left in a
 * published manifest, a peer range npm refuses (npm 7+ fails an install on one), an optional peer
 * (pg, PGlite) that does not resolve from the host's node_modules, a package that would bring its
 * own copy of @keyward/core. npm, because most hosts use it.
 * keyward's own dependencies, the frameworks and the drivers are pinned to the versions the
 * workspace's lockfile installed, so the run is repeatable; npm fetches from its cache when it can.
 */
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWith } from '../support/services.js'
import { PACKAGES, pack, root } from './support/pack.js'

const run = promisify(execFile)
/** What a host installs beside keyward: the frameworks, the stores' drivers, and vitest for core's conformance suite. */
const HOST_DEPENDENCIES = {
  core: 'vitest',
  express: 'express',
  fastify: 'fastify',
  koa: 'koa',
  'store-postgres': 'pg',
  'store-redis': 'ioredis',
} as const
const PGLITE = '@electric-sql/pglite'

type Manifest = {
  name: string
  version: string
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/** The package.json in the folder the segments name. */
const readManifest = (...folder: string[]): Manifest =>
  JSON.parse(readFileSync(join(...folder, 'package.json'), 'utf8'))

const manifestOf = (name: string) => readManifest(root, 'packages', name)

/** The version the workspace installed of `dependency` for packages/<from> (pnpm links each package's own). */
const installedVersion = (from: string, dependency: string) =>
  readManifest(root, 'packages', from, 'node_modules', dependency).version

/**
 * The host project's manifest: keyward from its tarballs; the frameworks, the drivers and keyward's
 * own dependencies at the versions the workspace installed. Each package's pins are scoped to it
 * (a framework may want another major of lru-cache), and every @keyward/core range in the tarballs
 * resolves to the tarball, never to the registry.
 */
function hostManifest(tarballs: Record<string, string>): object {
  const dependencies: Record<string, string> = {}
  const overrides: Record<string, Record<string, string>> = {}
  for (const name of PACKAGES) {
    const { name: published, dependencies: own = {} } = manifestOf(name)
    dependencies[published] = `file:${tarballs[name]}`
    const pins: Record<string, string> = { '.': `$${published}` }
    for (const dependency of Object.keys(own)) {
      if (!dependency.startsWith('@keyward/')) pins[dependency] = installedVersion(name, dependency)
    }
    overrides[published] = pins
  }
  for (const [from, dependency] of Object.entries(HOST_DEPENDENCIES)) {
    dependencies[dependency] = installedVersion(from, dependency)
  }
  dependencies[PGLITE] = installedVersion('store-postgres', PGLITE)
  return { name: 'keyward-host', private: true, dependencies, overrides }
}

const hostDir = mkdtempSync(join(tmpdir(), 'keyward-host-'))
afterAll(() => rmSync(hostDir, { recursive: true, force: true }))

beforeAll(async () => {
  const tarballs: Record<string, string> = {}
  for (const name of PACKAGES) tarballs[name] = await pack(name, join(hostDir, 'tarballs'))
  writeFileSync(join(hostDir, 'package.json'), JSON.stringify(hostManifest(tarballs), null, 2))
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: hostDir,
    env: { ...process.env, npm_config_package_lock: 'false' },
  })
}, 300_000)

type Framework = 'express' | 'fastify' | 'koa'
type Store = 'memory' | 'pglite' | 'postgres' | 'redis'
type ModuleSystem = 'esm' | 'cjs'

/**
 * Each framework's server: keyward's routes, and /v1/agents guarded, answering the caller's user
 * id. `adapter` is keyward's adapter package (its named exports), `host` the framework's default export.
 */
const SERVERS: Record<Framework, { adapter: string; host: string; listen: string }> = {
  express: {
    adapter: '@keyward/express',
    host: 'express',
    listen: `
      const auth = adapter.keywardExpress(keyward)
      const app = host()
      app.use(auth.routes)
      app.get('/v1/agents', auth.requireAuth({ permissions: ['agents:read'] }), (req, res) => {
        res.json({ user: req.auth.userId })
      })
      const server = await new Promise((listening) => {
        const started = app.listen(0, '127.0.0.1', () => listening(started))
      })
      return { port: server.address().port, close: () => new Promise((done) => server.close(done)) }`,
  },
  fastify: {
    adapter: '@keyward/fastify',
    host: 'fastify',
    listen: `
      const app = host()
      await app.register(adapter.keyward, { keyward })
      app.get('/v1/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) => ({
        user: request.auth.userId,
      }))
      await app.listen({ port: 0, host: '127.0.0.1' })
      return { port: app.server.address().port, close: () => app.close() }`,
  },
  koa: {
    adapter: '@keyward/koa',
    host: 'koa',
    listen: `
      const auth = adapter.keywardKoa(keyward)
      const app = new host()
      app.use(auth.routes)
      app.use(auth.protect({ permissions: ['agents:read'] }, (ctx) => {
        ctx.body = { user: ctx.state.auth.userId }
      }))
      const server = await new Promise((listening) => {
        const started = app.listen(0, '127.0.0.1', () => listening(started))
      })
      return { port: server.address().port, close: () => new Promise((done) => server.close(done)) }`,
  },
}

/** Each store as its package's README sets it up, and how the run leaves nothing behind. */
const STORES: Record<Store, { modules: Record<string, string>; open: string }> = {
  memory: { modules: {}, open: 'return { store: undefined, close: async () => {} }' },
  pglite: {
    modules: { storePostgres: '@keyward/store-postgres', pglite: '@electric-sql/pglite' },
    open: `
      const db = await pglite.PGlite.create()
      const migrated = await storePostgres.migrate(db)
      return { store: storePostgres.postgresStore({ client: db }), migrated, close: () => db.close() }`,
  },
  postgres: {
    modules: { storePostgres: '@keyward/store-postgres', pg: 'pg' },
    open: `
      const schema = 'host_' + process.env.RUN_ID
      const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
      pool.on('error', () => {})
      const migrated = await storePostgres.migrate(pool, { schema })
      return {
        store: storePostgres.postgresStore({ client: pool, schema }),
        migrated,
        close: async () => {
          await pool.query('DROP SCHEMA ' + schema + ' CASCADE')
          await pool.end()
        },
      }`,
  },
  redis: {
    modules: { storeRedis: '@keyward/store-redis', ioredis: 'ioredis' },
    open: `
      const prefix = 'host:' + process.env.RUN_ID + ':'
      const client = new ioredis.Redis(process.env.REDIS_URL, { lazyConnect: true })
      client.on('error', () => {})
      await client.connect()
      return {
        store: storeRedis.redisStore({ client, prefix }),
        close: async () => {
          const left = await client.keys(prefix + '*')
          if (left.length > 0) await client.del(...left)
          client.disconnect()
        },
      }`,
  },
}

/**
 * The host's script: one server on one store, exercised over HTTP; prints what it saw as JSON.
 * keyward's packages and the drivers are loaded as namespaces (`import * as` or `require`), so
 * that both module systems read them alike; the framework as its default export.
 */
function hostScript(framework: Framework, store: Store, modules: ModuleSystem): string {
  const { adapter, host, listen } = SERVERS[framework]
  const namespaces = { core: '@keyward/core', adapter, ...STORES[store].modules }
  const load = [
    ...Object.entries(namespaces).map(([binding, specifier]) =>
      modules === 'esm'
        ? `import * as ${binding} from '${specifier}'`
        : `const ${binding} = require('${specifier}')`,
    ),
    modules === 'esm' ? `import host from '${host}'` : `const host = require('${host}')`,
  ]
  return `${load.join('\n')}
const openStore = async () => { ${STORES[store].open} }
const listen = async (keyward) => { ${listen} }

async function main() {
  const users = new Map([['alice', { id: 'alice', permissions: ['agents:read'] }]])
  const opened = await openStore()
  const keyward = core.createKeyward({
    jwtSecret: 'a host secret of at least thirty-two bytes',
    users: { get: (id) => users.get(id) ?? null },
    ...(opened.store === undefined ? {} : { store: opened.store }),
  })
  const server = await listen(keyward)
  const base = 'http://127.0.0.1:' + server.port
  const agents = async (headers) => {
    const response = await fetch(base + '/v1/agents', { headers })
    return { status: response.status, body: await response.json() }
  }
  const { key } = await keyward.issueKey('alice', { name: 'host' })
  const exchange = await fetch(base + '/accounts/auth-with-api-key', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: key }),
  })
  const exchanged = await exchange.json()
  const seen = {
    byKey: await agents({ 'x-api-key': key }),
    withoutKey: (await agents({})).status,
    exchange: exchange.status,
    byToken: await agents({ authorization: 'Bearer ' + exchanged.data.auth_token }),
    totpEnabled: await keyward.totpEnabled('alice'),
    migrated: opened.migrated,
  }
  await server.close()
  await keyward.close()
  await opened.close()
  console.log(JSON.stringify(seen))
}
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
`
}

/** Runs the host's script in the host project; `env` names the service it reaches, if any. */
async function runHost(framework: Framework, store: Store, modules: ModuleSystem, env: object = {}) {
  const file = join(hostDir, `${framework}-${store}.${modules === 'esm' ? 'mjs' : 'cjs'}`)
  writeFileSync(file, hostScript(framework, store, modules))
  const { stdout } = await run(process.execPath, [file], {
    cwd: hostDir,
    env: { PATH: process.env.PATH, RUN_ID: randomUUID().replaceAll('-', ''), ...env },
  })
  return JSON.parse(stdout)
}

const ADMITTED = {
  byKey: { status: 200, body: { user: 'alice' } },
  withoutKey: 401,
  exchange: 200,
  byToken: { status: 200, body: { user: 'alice' } },
  totpEnabled: false,
}
/** What the host saw on `store`: a PostgreSQL store's migrate() ran every migration on a fresh schema. */
const admittedOn = (store: Store) =>
  store === 'pglite' || store === 'postgres'
    ? { ...ADMITTED, migrated: { applied: [1, 2, 3, 4, 5], version: 5 } }
    : ADMITTED

/** A package's manifest as npm installed it into the host: the published one. */
const publishedManifest = (name: string) => readManifest(hostDir, 'node_modules', name)

// The host builds the engine with its own @keyward/core and hands it to an adapter or a store, so
// both must run on that copy: as a peer, a mismatched core is an install error, not a nested copy.
it.each(PACKAGES.filter((name) => name !== 'core'))(
  "@keyward/%s takes the host's @keyward/core as a peer of its release line, and has no copy of its own",
  (name) => {
    const published = publishedManifest(`@keyward/${name}`)
    const core = publishedManifest('@keyward/core')
    expect(published.peerDependencies?.['@keyward/core']).toBe(`^${core.version}`)
    expect(published.dependencies?.['@keyward/core']).toBeUndefined()
    const nested = join(hostDir, 'node_modules', '@keyward', name, 'node_modules', '@keyward')
    expect(existsSync(nested)).toBe(false)
  },
)

describe.each(['esm', 'cjs'] as const)('a host installed with npm, loading keyward by %s', (modules) => {
  it.each([
    ['express', 'pglite'],
    ['fastify', 'memory'],
    ['koa', 'memory'],
  ] as const)(
    'serves %s on the %s store: a key, no key, the exchange, the token',
    async (framework, store) => {
      expect(await runHost(framework, store, modules)).toEqual(admittedOn(store))
    },
  )
})

describeWith('DATABASE_URL', 'a host installed with npm, on PostgreSQL through pg', (url) => {
  it('serves fastify on it: a key, no key, the exchange, the token', async () => {
    expect(await runHost('fastify', 'postgres', 'esm', { DATABASE_URL: url })).toEqual(admittedOn('postgres'))
  })
})

describeWith('REDIS_URL', 'a host installed with npm, on Redis through ioredis', (url) => {
  it('serves koa on it: a key, no key, the exchange, the token', async () => {
    expect(await runHost('koa', 'redis', 'cjs', { REDIS_URL: url })).toEqual(ADMITTED)
  })
})

describe('the conformance suite, @keyward/core/testing, in a host installed with npm', () => {
  it("runs under the host's own vitest against the memory store, every test passing", {
    timeout: 180_000,
  }, async () => {
    const project = join(hostDir, 'conformance')
    mkdirSync(project)
    writeFileSync(
      join(project, 'memory.test.mjs'),
      `import { memoryStore } from '@keyward/core'
import { runStoreConformance } from '@keyward/core/testing'

runStoreConformance({ name: 'memory', setup: async () => ({ store: memoryStore() }) })
`,
    )
    // Its own config, so that the run collects only this file and nothing of the repository's.
    const config = join(project, 'vitest.config.mjs')
    writeFileSync(config, "export default { test: { include: ['memory.test.mjs'] } }\n")
    const report = join(project, 'report.json')
    const vitest = join(hostDir, 'node_modules', 'vitest', 'vitest.mjs')
    const args = ['run', '--root', project, '--config', config, '--reporter=json', '--outputFile', report]
    // vitest exits non-zero on a failing test; the report says which, so read it either way.
    const exit = await run(process.execPath, [vitest, ...args], {
      cwd: project,
      env: { PATH: process.env.PATH },
    }).then(
      () => null,
      (error: { stderr?: string; message: string }) => error.stderr || error.message,
    )
    expect(existsSync(report), exit ?? 'vitest wrote no report').toBe(true)
    const { numTotalTests, numPassedTests, numPendingTests, numFailedTests, testResults } = JSON.parse(
      readFileSync(report, 'utf8'),
    )
    expect({ numFailedTests, exit }).toEqual({ numFailedTests: 0, exit: null })
    expect(numPassedTests).toBeGreaterThan(0)
    // The memory store can give no dump of its storage, so the suite skips the reads at rest.
    expect(numPassedTests + numPendingTests).toBe(numTotalTests)
    expect(testResults[0].assertionResults[0].ancestorTitles[0]).toBe('KeyStore conformance: memory')
  })

  // The suite is vitest's by nature, so it ships as ESM only (vitest refuses require()). A CommonJS
  // host still reaches it: Node >= 20.19 (process.features.require_module) loads ESM through
  // require(); on an older Node the refusal is Node's own ERR_REQUIRE_ESM, never vitest's message.
  it('loads from CommonJS through require(esm), or is refused with ERR_REQUIRE_ESM where Node cannot', async () => {
    const file = join(hostDir, 'require-testing.cjs')
    writeFileSync(
      file,
      `let seen
try {
  seen = { exports: Object.keys(require('@keyward/core/testing')).sort() }
} catch (error) {
  seen = { code: error.code, message: error.message }
}
console.log(JSON.stringify(seen))
`,
    )
    const { stdout } = await run(process.execPath, [file], { cwd: hostDir, env: { PATH: process.env.PATH } })
    expect(JSON.parse(stdout)).toEqual(
      process.features.require_module
        ? { exports: ['runStoreConformance', 'sampleKeyRecord'] }
        : { code: 'ERR_REQUIRE_ESM', message: expect.any(String) },
    )
  })
})
